"""`mmb convert` on Hugging Face JambaForCausalLM checkpoints (safetensors), against a
float64 forward of the family's own math. Usage: test_convert_jamba.py PATH_TO_MMB
(tolerance: convert_common.py).

The forward is written from transformers models/jamba/modeling_jamba.py and
configuration_jamba.py: decoder layer i is attention when i % attn_layer_period ==
attn_layer_offset, else a Mamba mixer; its feed-forward is a sparse MoE when
i % expert_layer_period == expert_layer_offset and num_experts > 1, else a dense MLP;
each part is r = r + part(rmsnorm(r)) (input_layernorm, pre_ff_layernorm), then
final_layernorm and lm_head. JambaMambaMixer.slow_forward: Mamba-1 whose time_step, B
and C go through weighted RMS norms (dt_layernorm, b_layernorm, c_layernorm, eps
rms_norm_eps) right after x_proj. JambaAttention: GQA via repeat_kv, no position
encoding, scale 1/sqrt(head_dim), head_dim = hidden_size / num_attention_heads.
JambaSparseMoeBlock: softmax over all experts, top-k of those probabilities, used as
gates as they are (no renormalization); experts and the dense MLP are
down_proj(silu(gate_proj x) * up_proj x). Each pitfall test also checks that getting it
wrong moves the logits far beyond the tolerance (convert_common.py's, attention layers
included: `mmb logits --kv f32`, see hybrid_reference.py).
"""
import math
import os
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, __file__.rsplit("/tests/", 1)[0])
import convert_common as cc  # noqa: E402
import hybrid_reference as hr  # noqa: E402

VOCAB = 300
ABSENT = object()  # a config key left out of config.json


def build(d_model=32, n_layers=4, attn=(2, 1), experts=(2, 1), n_experts=4, top_k=2, d_ff=24, heads=4, kv_heads=2,
          expand=2, d_state=8, d_conv=4, dt_rank=4, proj_bias=False, conv_bias=True, seed=0):
    """Random weights under their checkpoint names, for every part a layer could have
    (checkpoint_tensors() keeps those the schedule implies), and the math options of the forward."""
    rng = np.random.default_rng(seed)
    d_inner, head_dim = expand * d_model, d_model // heads
    w = {"model.embed_tokens.weight": cc.np_random((VOCAB, d_model), rng, 1.0),
         "model.final_layernorm.weight": 1 + cc.np_random((d_model,), rng, 0.3),
         "lm_head.weight": cc.np_random((VOCAB, d_model), rng)}
    for i in range(n_layers):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = 1 + cc.np_random((d_model,), rng, 0.3)
        w[p + "pre_ff_layernorm.weight"] = 1 + cc.np_random((d_model,), rng, 0.3)
        m = p + "mamba."
        w[m + "in_proj.weight"] = cc.np_random((2 * d_inner, d_model), rng)
        w[m + "conv1d.weight"] = cc.np_random((d_inner, 1, d_conv), rng, 0.6)
        w[m + "x_proj.weight"] = cc.np_random((dt_rank + 2 * d_state, d_inner), rng)
        w[m + "dt_layernorm.weight"] = 1 + cc.np_random((dt_rank,), rng, 0.3)
        w[m + "b_layernorm.weight"] = 1 + cc.np_random((d_state,), rng, 0.3)
        w[m + "c_layernorm.weight"] = 1 + cc.np_random((d_state,), rng, 0.3)
        # time_step is RMS-normalized, so dt_proj sees O(1) inputs: keep dt in ~[0.01, 1].
        w[m + "dt_proj.weight"] = cc.np_random((d_inner, dt_rank), rng, 0.5 / math.sqrt(dt_rank))
        w[m + "dt_proj.bias"] = rng.uniform(-4, 0, d_inner).astype(np.float32).astype(np.float64)
        w[m + "A_log"] = rng.uniform(-0.5, 2.0, (d_inner, d_state)).astype(np.float32).astype(np.float64)
        w[m + "D"] = 1 + cc.np_random((d_inner,), rng, 0.5)
        w[m + "out_proj.weight"] = cc.np_random((d_model, d_inner), rng)
        if conv_bias:
            w[m + "conv1d.bias"] = cc.np_random((d_inner,), rng, 0.2)
        if proj_bias:
            w[m + "in_proj.bias"] = cc.np_random((2 * d_inner,), rng, 0.2)
            w[m + "out_proj.bias"] = cc.np_random((d_model,), rng, 0.2)
        a = p + "self_attn."
        for name, rows in (("q_proj", heads * head_dim), ("k_proj", kv_heads * head_dim), ("v_proj", kv_heads * head_dim)):
            # Large queries and keys: sharp attention, so which positions it sees matters.
            w[a + name + ".weight"] = cc.np_random((rows, d_model), rng, 2.0 / math.sqrt(d_model))
        w[a + "o_proj.weight"] = cc.np_random((d_model, heads * head_dim), rng)
        f = p + "feed_forward."
        for name in ("gate_proj", "up_proj"):
            w[f + name + ".weight"] = cc.np_random((d_ff, d_model), rng)
        w[f + "down_proj.weight"] = cc.np_random((d_model, d_ff), rng)
        # A wide router: well-separated probabilities, and gates far from summing to 1.
        w[f + "router.weight"] = cc.np_random((n_experts, d_model), rng, 3.0 / math.sqrt(d_model))
        for j in range(n_experts):
            e = f"{f}experts.{j}."
            for name in ("gate_proj", "up_proj"):
                w[e + name + ".weight"] = cc.np_random((d_ff, d_model), rng)
            w[e + "down_proj.weight"] = cc.np_random((d_model, d_ff), rng)
    spec = dict(n_layers=n_layers, d_model=d_model, d_inner=d_inner, d_state=d_state, dt_rank=dt_rank, d_conv=d_conv,
                heads=heads, kv_heads=kv_heads, head_dim=head_dim, n_experts=n_experts, top_k=top_k, d_ff=d_ff,
                attn=attn, experts=experts, eps=1e-6, inner_eps=None, tied=False, proj_bias=proj_bias,
                conv_bias=conv_bias, dt_bc_norm="weighted", renorm=False, swap_gate_up=False, rotary_dim=0,
                kv_head_of=None)
    return w, spec


def is_attention(s, i):
    period, offset = s["attn"]
    return i % period == offset


def is_moe(s, i):
    period, offset = s["experts"]
    return i % period == offset and s["n_experts"] > 1


def mamba(h, w, s, m):
    eps = s["eps"] if s["inner_eps"] is None else s["inner_eps"]

    def normed(time_step, B, C):
        if s["dt_bc_norm"] == "weighted":
            return (cc.np_rms(time_step, eps, w[m + "dt_layernorm.weight"]), cc.np_rms(B, eps, w[m + "b_layernorm.weight"]),
                    cc.np_rms(C, eps, w[m + "c_layernorm.weight"]))
        if s["dt_bc_norm"] == "plain":
            return cc.np_rms(time_step, eps), cc.np_rms(B, eps), cc.np_rms(C, eps)
        return time_step, B, C
    return cc.np_mamba1_mixer(h, w, m, s["d_inner"], s["d_state"], s["dt_rank"], normed)


def swiglu(h, w, s, e):
    gate, up = (h @ w[e + "gate_proj.weight"].T, h @ w[e + "up_proj.weight"].T)
    if s["swap_gate_up"]:
        gate, up = up, gate
    return (cc.np_silu(gate) * up) @ w[e + "down_proj.weight"].T


def sparse_moe(h, w, s, f):
    probs = hr.np_softmax(h @ w[f + "router.weight"].T)
    out = np.zeros_like(h)
    for t in range(h.shape[0]):
        chosen = np.argsort(-probs[t])[:s["top_k"]]
        gates = probs[t, chosen] / (probs[t, chosen].sum() if s["renorm"] else 1.0)
        for j, g in zip(chosen, gates):
            out[t] += g * swiglu(h[t:t + 1], w, s, f"{f}experts.{j}.")[0]
    return out


def reference(w, s, tokens):
    emb = w["model.embed_tokens.weight"]
    r = emb[tokens.numpy()]
    for i in range(s["n_layers"]):
        p = f"model.layers.{i}."
        h = cc.np_rms(r, s["eps"], w[p + "input_layernorm.weight"])
        if is_attention(s, i):
            r = r + hr.np_attention(h, w, p + "self_attn.", s["heads"], s["kv_heads"], s["head_dim"],
                                    rotary_dim=s["rotary_dim"], kv_head_of=s["kv_head_of"])
        else:
            r = r + mamba(h, w, s, p + "mamba.")
        h = cc.np_rms(r, s["eps"], w[p + "pre_ff_layernorm.weight"])
        f = p + "feed_forward."
        r = r + (sparse_moe(h, w, s, f) if is_moe(s, i) else swiglu(h, w, s, f))
    r = cc.np_rms(r, s["eps"], w["model.final_layernorm.weight"])
    return r @ (emb if s["tied"] else w["lm_head.weight"]).T


def jamba_config(s, **changes):
    """config.json as JambaConfig.save_pretrained writes it (ai21labs/Jamba-v0.1's keys)."""
    c = {"architectures": ["JambaForCausalLM"], "attention_dropout": 0.0, "attn_layer_offset": s["attn"][1],
         "attn_layer_period": s["attn"][0], "bos_token_id": 1, "eos_token_id": 2,
         "expert_layer_offset": s["experts"][1], "expert_layer_period": s["experts"][0], "hidden_act": "silu",
         "hidden_size": s["d_model"], "initializer_range": 0.02, "intermediate_size": s["d_ff"],
         "mamba_conv_bias": s["conv_bias"], "mamba_d_conv": s["d_conv"], "mamba_d_state": s["d_state"],
         "mamba_dt_rank": s["dt_rank"], "mamba_expand": s["d_inner"] // s["d_model"],
         "mamba_proj_bias": s["proj_bias"], "max_position_embeddings": 262144, "model_type": "jamba",
         "num_attention_heads": s["heads"], "num_experts": s["n_experts"], "num_experts_per_tok": s["top_k"],
         "num_hidden_layers": s["n_layers"], "num_key_value_heads": s["kv_heads"], "num_logits_to_keep": 1,
         "output_router_logits": False, "pad_token_id": 0, "rms_norm_eps": s["eps"], "router_aux_loss_coef": 0.001,
         "sliding_window": None, "tie_word_embeddings": s["tied"], "torch_dtype": "float32",
         "transformers_version": "4.40.0.dev0", "use_cache": True, "use_mamba_kernels": True, "vocab_size": VOCAB}
    c.update(changes)
    return {k: v for k, v in c.items() if v is not ABSENT}


def checkpoint_tensors(w, s):
    """The tensors JambaForCausalLM.state_dict() holds: each layer's parts by the schedule
    (transformers leaves a tied head out of the file)."""
    def kept(name):
        if name == "lm_head.weight":
            return not s["tied"]
        if not name.startswith("model.layers."):
            return True
        i, part = int(name.split(".")[2]), name.split(".", 3)[3]
        if part.startswith("mamba."):
            return not is_attention(s, i)
        if part.startswith("self_attn."):
            return is_attention(s, i)
        if part.startswith(("feed_forward.router.", "feed_forward.experts.")):
            return is_moe(s, i)
        if part.startswith("feed_forward."):
            return not is_moe(s, i)
        return True
    return {k: v for k, v in w.items() if kept(k)}


class Jamba(unittest.TestCase):
    def convert_and_check(self, w, s, config, tokens, name, sharded=False):
        with tempfile.TemporaryDirectory() as d:
            cc.save_hf(d, checkpoint_tensors(w, s), config, shards=3 if sharded else 1)
            got = cc.convert_and_run(self, d, tokens)
        cc.assert_matches(self, got, reference(w, s, tokens), name)

    def assert_mistake_moves(self, right, w, s, tokens, what, **changes):
        """Reading the checkpoint with `changes` (a converter's mistake) moves the logits
        far beyond the tolerance."""
        cc.assert_sensitive(self, right, reference(w, cc.with_changes(s, **changes), tokens), what)

    def test_layer_schedule_periods_and_offsets(self):
        """6 layers, attention at i % 3 == 2 (layers 2, 5), experts at i % 3 == 0 (0, 3):
        neither JambaConfig's defaults nor an offset counted from 1."""
        w, s = build(n_layers=6, attn=(3, 2), experts=(3, 0), seed=1)
        tokens = cc.tokens_for(VOCAB, n=20, seed=1)
        right = reference(w, s, tokens)
        self.assert_mistake_moves(right, w, s, tokens, "schedule read as JambaConfig's defaults", attn=(8, 4),
                                  experts=(2, 1))
        self.assert_mistake_moves(right, w, s, tokens, "attention offset off by one", attn=(3, 1))
        self.assert_mistake_moves(right, w, s, tokens, "expert offset off by one", experts=(3, 1))
        self.convert_and_check(w, s, jamba_config(s), tokens, "jamba schedule")

    def test_default_schedule(self):
        """A config.json without the schedule keys: attention at i % 8 == 4, experts at
        i % 2 == 1 (6 layers: attention at 4, MoE at 1, 3, 5, dense MLP at 0, 2, 4)."""
        w, s = build(n_layers=6, attn=(8, 4), experts=(2, 1), seed=2)
        tokens = cc.tokens_for(VOCAB, n=20, seed=2)
        right = reference(w, s, tokens)
        self.assert_mistake_moves(right, w, s, tokens, "attention at layer 0", attn=(8, 0))
        config = jamba_config(s, attn_layer_period=ABSENT, attn_layer_offset=ABSENT, expert_layer_period=ABSENT,
                              expert_layer_offset=ABSENT)
        self.convert_and_check(w, s, config, tokens, "jamba default schedule")

    def test_dt_b_c_norms_are_weighted_with_rms_norm_eps(self):
        """dt_layernorm / b_layernorm / c_layernorm carry weights and use rms_norm_eps
        (here 0.05, so that the eps matters) like every other norm."""
        w, s = build(seed=3)
        s = cc.with_changes(s, eps=0.05)
        tokens = cc.tokens_for(VOCAB, n=20, seed=3)
        right = reference(w, s, tokens)
        self.assert_mistake_moves(right, w, s, tokens, "norm weights dropped", dt_bc_norm="plain")
        self.assert_mistake_moves(right, w, s, tokens, "dt/B/C norms left out", dt_bc_norm=None)
        self.assert_mistake_moves(right, w, s, tokens, "inner norms' eps not rms_norm_eps", inner_eps=1e-6)
        self.convert_and_check(w, s, jamba_config(s), tokens, "jamba dt/B/C norms")

    def test_router_softmax_over_all_experts_then_top_k_unnormalized(self):
        """Top-2 of a softmax over 4 experts, gates as they are: renormalizing them (the
        same as a softmax over the top-2 logits) is wrong."""
        w, s = build(seed=4)
        tokens = cc.tokens_for(VOCAB, n=20, seed=4)
        right = reference(w, s, tokens)
        self.assert_mistake_moves(right, w, s, tokens, "top-k gates renormalized", renorm=True)
        self.assert_mistake_moves(right, w, s, tokens, "num_experts_per_tok ignored", top_k=1)
        self.convert_and_check(w, s, jamba_config(s), tokens, "jamba softmax router")

    def test_swiglu_gate_proj_goes_through_silu(self):
        """Experts and dense MLPs: down_proj(silu(gate_proj x) * up_proj x)."""
        w, s = build(seed=5)
        tokens = cc.tokens_for(VOCAB, n=20, seed=5)
        right = reference(w, s, tokens)
        self.assert_mistake_moves(right, w, s, tokens, "gate_proj and up_proj swapped", swap_gate_up=True)
        self.convert_and_check(w, s, jamba_config(s), tokens, "jamba SwiGLU")

    def test_dense_mlp_when_one_expert(self):
        """num_experts 1: every feed-forward is a dense JambaMLP (feed_forward.gate_proj,
        no router), whatever the expert schedule says."""
        w, s = build(n_experts=1, top_k=1, seed=6)
        tokens = cc.tokens_for(VOCAB, n=20, seed=6)
        self.convert_and_check(w, s, jamba_config(s), tokens, "jamba all dense")

    def test_attention_has_no_position_encoding(self):
        w, s = build(seed=7)
        tokens = cc.tokens_for(VOCAB, n=20, seed=7)
        right = reference(w, s, tokens)
        self.assert_mistake_moves(right, w, s, tokens, "RoPE applied", rotary_dim=s["head_dim"])
        self.convert_and_check(w, s, jamba_config(s), tokens, "jamba attention without RoPE")

    def test_kv_head_serves_consecutive_query_heads(self):
        """4 query heads, 2 key/value heads: heads 0, 1 read kv head 0 (repeat_kv), not h % 2."""
        w, s = build(seed=8)
        tokens = cc.tokens_for(VOCAB, n=20, seed=8)
        right = reference(w, s, tokens)
        self.assert_mistake_moves(right, w, s, tokens, "kv head h % n_kv_heads", kv_head_of=lambda h: h % 2)
        self.convert_and_check(w, s, jamba_config(s), tokens, "jamba GQA")

    def test_multi_query_attention_null_kv_heads_and_sharded(self):
        """num_key_value_heads null means one per query head (JambaConfig); a sharded
        checkpoint with a tied head (not saved)."""
        w, s = build(kv_heads=4, seed=9)
        s = cc.with_changes(s, tied=True)
        tokens = cc.tokens_for(VOCAB, n=20, seed=9)
        self.convert_and_check(w, s, jamba_config(s, num_key_value_heads=None), tokens, "jamba MHA, tied, sharded",
                               sharded=True)

    def test_mamba_proj_bias_and_no_conv_bias(self):
        w, s = build(proj_bias=True, conv_bias=False, seed=10)
        tokens = cc.tokens_for(VOCAB, n=20, seed=10)
        self.convert_and_check(w, s, jamba_config(s), tokens, "jamba mamba biases")

    def test_auto_dt_rank_and_defaults(self):
        """mamba_dt_rank "auto" is ceil(hidden_size / 16); tie_word_embeddings and
        rms_norm_eps absent are false and 1e-6."""
        w, s = build(dt_rank=2, seed=11)
        tokens = cc.tokens_for(VOCAB, n=20, seed=11)
        config = jamba_config(s, mamba_dt_rank="auto", tie_word_embeddings=ABSENT, rms_norm_eps=ABSENT)
        self.convert_and_check(w, s, config, tokens, "jamba auto dt_rank, defaults")

    def test_refused_configs(self):
        w, s = build(seed=12)
        cases = [({"hidden_act": "gelu"}, "hidden_act", "MMB_ERR_UNSUPPORTED"),
                 ({"sliding_window": 4096}, "sliding_window", "MMB_ERR_UNSUPPORTED"),
                 ({"attn_layer_offset": 2}, "attn_layer_offset", "MMB_ERR_FORMAT"),
                 ({"expert_layer_offset": 5}, "expert_layer_offset", "MMB_ERR_FORMAT"),
                 ({"num_attention_heads": 5}, "num_attention_heads", "MMB_ERR_FORMAT"),
                 ({"num_key_value_heads": 3}, "num_key_value_heads", "MMB_ERR_FORMAT"),
                 ({"num_experts_per_tok": 5}, "num_experts_per_tok", "MMB_ERR_FORMAT")]
        for change, word, status in cases:
            with tempfile.TemporaryDirectory() as d:
                cc.save_hf(d, checkpoint_tensors(w, s), jamba_config(s, **change))
                r = cc.mmb_convert(d, os.path.join(d, "m.mmb"))
                self.assertNotEqual(r.returncode, 0, change)
                self.assertIn(word, r.stderr)
                self.assertIn(status, r.stderr)


if __name__ == "__main__":
    cc.setup_mmb(sys.argv)
    unittest.main()
