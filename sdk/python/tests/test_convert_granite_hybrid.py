"""`mmb convert` on Hugging Face GraniteMoeHybridForCausalLM checkpoints (IBM Granite 4.0
H, safetensors) against a float64 forward of the family's own math. Usage:
test_convert_granite_hybrid.py PATH_TO_MMB (tolerance: convert_common.py's).

The forward is written from transformers models/granitemoehybrid/modeling_granitemoehybrid.py
and the granitemoeshared / granitemoe / bamba pieces it reuses:
  r = embed_tokens[token] * embedding_multiplier
  per decoder layer (layer_types: "mamba" or "attention"):
    r = r + residual_multiplier * mixer(rmsnorm(r, input_layernorm))
    h = rmsnorm(r, post_attention_layernorm)
    r = r + residual_multiplier * (moe(h) + shared_mlp(h))    (num_local_experts = 0: shared_mlp(h))
  logits = lm_head(rmsnorm(r, norm)) / logits_scaling
The mixer is Mamba-2 (the same math as test_convert_mamba2.mixer: in_proj rows [z | xBC | dt],
head h reads group h // (H / G), D and dt_bias per head, time_step_limit clamp, gated norm
per group of d_inner / G as the family's training kernel takes it) or attention (GQA via
repeat_kv, softmax scale attention_multiplier, rotate-half RoPE over the whole head when
position_embedding_type is "rope"; hybrid_reference's pieces). moe: logits =
router.layer(h); the top k logits, softmax over those k; expert e: input_linear[e] h
chunked in two, silu(first) * second, output_linear[e]. shared_mlp: the same with one
[2 shared_ff, d] input_linear. Each pitfall test also checks that getting it wrong moves
the logits far beyond the tolerance.

The library's logits come from sessions with an f32 KV cache (`mmb logits --kv f32`, see
hybrid_reference.py), so models with attention are held to the same tolerance.
"""
import math
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, __file__.rsplit("/tests/", 1)[0])
import convert_common as cc  # noqa: E402
import hybrid_reference as hr  # noqa: E402
from test_convert_mamba2 import mixer as mamba2_mixer  # noqa: E402

VOCAB = 300
N_TOKENS = 16
DROP = object()  # hf_config(key=DROP): the key left out of config.json


def build(layer_types=("mamba", "attention", "mamba"), d_model=32, heads=4, kv_heads=2, head_dim=None, mamba_heads=4,
          d_state=8, groups=2, d_conv=4, experts=4, top_k=2, ff=24, shared_ff=20, attention_bias=False, conv_bias=True,
          proj_bias=False, seed=0):
    """Random weights under GraniteMoeHybridForCausalLM's names, and the math options of
    the forward (the settings a correct converter reproduces)."""
    rng = np.random.default_rng(seed)
    d_inner = 2 * d_model
    head_dim = head_dim or d_model // heads
    conv_dim = d_inner + 2 * groups * d_state
    in_rows = 2 * d_inner + 2 * groups * d_state + mamba_heads
    w = {"model.embed_tokens.weight": cc.np_random((VOCAB, d_model), rng, 1.0),
         "model.norm.weight": 1 + cc.np_random((d_model,), rng, 0.3),
         "lm_head.weight": cc.np_random((VOCAB, d_model), rng)}
    for i, kind in enumerate(layer_types):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = 1 + cc.np_random((d_model,), rng, 0.3)
        w[p + "post_attention_layernorm.weight"] = 1 + cc.np_random((d_model,), rng, 0.3)
        if kind == "mamba":
            m = p + "mamba."
            w[m + "in_proj.weight"] = cc.np_random((in_rows, d_model), rng)
            w[m + "conv1d.weight"] = cc.np_random((conv_dim, 1, d_conv), rng, 0.6)
            # softplus(dt + dt_bias) spread over ~0.01 .. 1: a clamp cuts both ends.
            w[m + "dt_bias"] = rng.uniform(-4.5, 0.5, mamba_heads).astype(np.float32).astype(np.float64)
            w[m + "A_log"] = np.log(rng.uniform(1, 16, mamba_heads)).astype(np.float32).astype(np.float64)
            w[m + "D"] = 1 + cc.np_random((mamba_heads,), rng, 0.5)
            w[m + "norm.weight"] = 1 + cc.np_random((d_inner,), rng, 0.3)
            w[m + "out_proj.weight"] = cc.np_random((d_model, d_inner), rng)
            if conv_bias:
                w[m + "conv1d.bias"] = cc.np_random((conv_dim,), rng, 0.2)
            if proj_bias:
                w[m + "in_proj.bias"] = cc.np_random((in_rows,), rng, 0.2)
                w[m + "out_proj.bias"] = cc.np_random((d_model,), rng, 0.2)
        else:
            a = p + "self_attn."
            for name, rows in (("q_proj", heads * head_dim), ("k_proj", kv_heads * head_dim),
                               ("v_proj", kv_heads * head_dim)):
                w[a + name + ".weight"] = cc.np_random((rows, d_model), rng)
                if attention_bias:
                    w[a + name + ".bias"] = cc.np_random((rows,), rng, 0.2)
            w[a + "o_proj.weight"] = cc.np_random((d_model, heads * head_dim), rng)
            if attention_bias:
                w[a + "o_proj.bias"] = cc.np_random((d_model,), rng, 0.2)
        if experts:
            e = p + "block_sparse_moe."
            # Router logits O(3): the softmax over the chosen k is far from uniform.
            w[e + "router.layer.weight"] = cc.np_random((experts, d_model), rng, 3.0 / math.sqrt(d_model))
            w[e + "input_linear.weight"] = cc.np_random((experts, 2 * ff, d_model), rng)
            w[e + "output_linear.weight"] = cc.np_random((experts, d_model, ff), rng)
        w[p + "shared_mlp.input_linear.weight"] = cc.np_random((2 * shared_ff, d_model), rng)
        w[p + "shared_mlp.output_linear.weight"] = cc.np_random((d_model, shared_ff), rng)
    s = dict(layer_types=list(layer_types), d_model=d_model, heads=heads, kv_heads=kv_heads, head_dim=head_dim,
             mamba_heads=mamba_heads, d_state=d_state, groups=groups, d_conv=d_conv, experts=experts, top_k=top_k,
             ff=ff, shared_ff=shared_ff, attention_bias=attention_bias, conv_bias=conv_bias, proj_bias=proj_bias,
             eps=1e-6, embedding_multiplier=1.0, residual_multiplier=1.0, logits_scaling=1.0, attention_multiplier=1.0,
             rotary_dim=0, rope_theta=10000.0, tied=False, router="granite", halves="granite", shared=True,
             kv_head_of=None,
             # test_convert_mamba2.mixer's settings (gated_eps None: eps):
             d_inner=d_inner, dt_limit=(0.0, math.inf), gated=True, gated_eps=None, norm_group=d_inner // groups,
             group_of=lambda h: h // (mamba_heads // groups))
    return w, s


def mamba_settings(s):
    """The keys test_convert_mamba2.mixer reads."""
    return dict(s, heads=s["mamba_heads"], gated_eps=s["eps"] if s["gated_eps"] is None else s["gated_eps"])


def swiglu(h, w_in, w_out, halves):
    """input_linear h chunked in two: silu(first) * second ("granite"), or the halves
    swapped (a wrong reading), then output_linear."""
    up = h @ w_in.T
    a, b = np.split(up, 2, axis=-1)
    if halves == "swapped":
        a, b = b, a
    return (cc.np_silu(a) * b) @ w_out.T


def moe(h, w, p, s):
    """GraniteMoeHybridMoE: top-k of the router logits, softmax over the k ("granite");
    "jamba" is softmax over all experts then top-k without renormalizing (a wrong reading)."""
    logits = h @ w[p + "router.layer.weight"].T
    w_in, w_out = w[p + "input_linear.weight"], w[p + "output_linear.weight"]
    out = np.zeros_like(h)
    for t in range(h.shape[0]):
        if s["router"] == "granite":
            chosen = np.argsort(-logits[t])[:s["top_k"]]
            gates = hr.np_softmax(logits[t, chosen])
        else:
            probs = hr.np_softmax(logits[t])
            chosen = np.argsort(-probs)[:s["top_k"]]
            gates = probs[chosen]
        for e, g in zip(chosen, gates):
            out[t] += g * swiglu(h[t], w_in[e], w_out[e], s["halves"])
    return out


def attention(h, w, p, s):
    """Causal GQA self-attention as the family computes it, keys and values kept in f16."""
    L, hd = h.shape[0], s["head_dim"]

    def proj(name, heads):
        return (h @ w[p + name + ".weight"].T + w.get(p + name + ".bias", 0.0)).reshape(L, heads, hd)

    q, k, v = proj("q_proj", s["heads"]), proj("k_proj", s["kv_heads"]), proj("v_proj", s["kv_heads"])
    if s["rotary_dim"]:
        q, k = hr.np_rope(q, s["rotary_dim"], s["rope_theta"]), hr.np_rope(k, s["rotary_dim"], s["rope_theta"])
    kv_of = s["kv_head_of"] or hr.kv_head_of_repeat_kv(s["heads"], s["kv_heads"])
    scale = hd ** -0.5 if s["attention_multiplier"] is None else s["attention_multiplier"]
    causal = np.tril(np.ones((L, L), dtype=bool))
    out = np.zeros((L, s["heads"], hd))
    for head in range(s["heads"]):
        j = kv_of(head)
        out[:, head] = hr.np_softmax(np.where(causal, q[:, head] @ k[:, j].T * scale, -np.inf)) @ v[:, j]
    return out.reshape(L, -1) @ w[p + "o_proj.weight"].T + w.get(p + "o_proj.bias", 0.0)


def reference(w, s, tokens):
    r = w["model.embed_tokens.weight"][tokens.numpy()] * s["embedding_multiplier"]
    for i, kind in enumerate(s["layer_types"]):
        p = f"model.layers.{i}."
        h = cc.np_rms(r, s["eps"], w[p + "input_layernorm.weight"])
        if kind == "mamba":
            mixed = mamba2_mixer(h, w, mamba_settings(s), p + "mamba.")
        else:
            mixed = attention(h, w, p + "self_attn.", s)
        r = r + s["residual_multiplier"] * mixed
        h = cc.np_rms(r, s["eps"], w[p + "post_attention_layernorm.weight"])
        ffn = 0.0
        if s["shared"]:
            ffn = swiglu(h, w[p + "shared_mlp.input_linear.weight"], w[p + "shared_mlp.output_linear.weight"], s["halves"])
        if s["experts"]:
            ffn = ffn + moe(h, w, p + "block_sparse_moe.", s)
        r = r + s["residual_multiplier"] * ffn
    r = cc.np_rms(r, s["eps"], w["model.norm.weight"])
    head = w["model.embed_tokens.weight"] if s["tied"] else w["lm_head.weight"]
    return r @ head.T / s["logits_scaling"]


def hf_config(s, **changes):
    """config.json as GraniteMoeHybridConfig.save_pretrained writes it (transformers 4.56),
    with the settings' values; changes override keys, DROP leaves one out."""
    c = {"architectures": ["GraniteMoeHybridForCausalLM"], "attention_bias": s["attention_bias"],
         "attention_dropout": 0.0, "attention_multiplier": s["attention_multiplier"], "bos_token_id": 100257,
         "embedding_multiplier": s["embedding_multiplier"], "eos_token_id": 100257, "hidden_act": "silu",
         "hidden_size": s["d_model"], "initializer_range": 0.1, "intermediate_size": s["ff"],
         "layer_types": s["layer_types"], "logits_scaling": s["logits_scaling"], "mamba_chunk_size": 256,
         "mamba_conv_bias": s["conv_bias"], "mamba_d_conv": s["d_conv"], "mamba_d_head": s["d_inner"] // s["mamba_heads"],
         "mamba_d_state": s["d_state"], "mamba_expand": 2, "mamba_n_groups": s["groups"],
         "mamba_n_heads": s["mamba_heads"], "mamba_proj_bias": s["proj_bias"], "max_position_embeddings": 131072,
         "model_type": "granitemoehybrid", "normalization_function": "rmsnorm", "num_attention_heads": s["heads"],
         "num_experts_per_tok": s["top_k"] if s["experts"] else 0, "num_hidden_layers": len(s["layer_types"]),
         "num_key_value_heads": s["kv_heads"], "num_local_experts": s["experts"], "output_router_logits": False,
         "pad_token_id": 100256, "position_embedding_type": "rope" if s["rotary_dim"] else "nope",
         "residual_multiplier": s["residual_multiplier"], "rms_norm_eps": s["eps"], "rope_scaling": None,
         "rope_theta": s["rope_theta"], "router_aux_loss_coef": 0.0, "shared_intermediate_size": s["shared_ff"],
         "tie_word_embeddings": s["tied"], "torch_dtype": "float32", "transformers_version": "4.56.0",
         "use_cache": True, "vocab_size": VOCAB}
    c.update(changes)
    return {k: v for k, v in c.items() if v is not DROP}


def inspect_layers(test, directory):
    """The layer lines of `mmb inspect` on the converted bundle: ["attn ...", "moe ...", ...]."""
    bundle = os.path.join(directory, "m.mmb")
    r = cc.mmb_convert(directory, bundle)
    test.assertEqual(r.returncode, 0, r.stderr)
    out = subprocess.run([cc.MMB, "inspect", bundle], capture_output=True, text=True, check=True).stdout
    lines = out.split("\nlayers")[1].splitlines()[1:]
    layers = []
    for line in lines:
        parts = line.split(None, 1)
        if len(parts) != 2 or not parts[0].isdigit():
            break
        layers.append(parts[1])
    return layers


def permute_rope_pairs(w, s):
    """Weights on which rotate-half RoPE computes what interleaved (GPT-J) RoPE computes on
    `w`: each q/k head's rows reordered so that pairs (2i, 2i+1) become (i, i + half)."""
    out = dict(w)
    hd = s["head_dim"]
    order = np.concatenate([np.arange(0, hd, 2), np.arange(1, hd, 2)])
    for i, kind in enumerate(s["layer_types"]):
        if kind != "attention":
            continue
        for name, heads in (("q_proj", s["heads"]), ("k_proj", s["kv_heads"])):
            key = f"model.layers.{i}.self_attn.{name}.weight"
            out[key] = w[key].reshape(heads, hd, -1)[:, order].reshape(heads * hd, -1)
    return out


class GraniteMoeHybrid(unittest.TestCase):
    def check(self, w, s, config, name, tokens=None, sharded=False, tied=False):
        """Converts (config, w) and compares the library's logits with reference(w, s)."""
        tokens = self.tokens(len(name)) if tokens is None else tokens
        with tempfile.TemporaryDirectory() as d:
            cc.save_hf(d, w, config, tied=tied, shards=2 if sharded else 1)
            got = cc.convert_and_run(self, d, tokens)
        cc.assert_matches(self, got, reference(w, s, tokens), name)

    def sensitive(self, w, s, tokens, what, wrong_w=None, **wrong):
        """Reading the checkpoint as `wrong_w` / `wrong` settings would move the logits far
        beyond the tolerance: a converter making that mistake fails check()."""
        wrong_logits = reference(w if wrong_w is None else wrong_w, cc.with_changes(s, **wrong), tokens)
        cc.assert_sensitive(self, reference(w, s, tokens), wrong_logits, what)

    def tokens(self, seed):
        return cc.tokens_for(VOCAB, n=N_TOKENS, seed=seed)

    # --- the layer plan -----------------------------------------------------------------

    def test_layer_types_place_mamba_and_attention(self):
        """Decoder layer N is native layers 2N (its mixer: mamba2 or attention, as layer_types
        says) and 2N + 1 (its feed-forward), each with its own pre-norm."""
        w, s = build(layer_types=("attention", "mamba", "mamba", "attention"), seed=1)
        with tempfile.TemporaryDirectory() as d:
            cc.save_hf(d, w, hf_config(s))
            kinds = [line.split()[0] for line in inspect_layers(self, d)]
        self.assertEqual(kinds, ["attn", "moe", "mamba2", "moe", "mamba2", "moe", "attn", "moe"])
        self.check(w, s, hf_config(s), "granite layer_types")

    def test_layer_types_default_every_layer_mamba(self):
        """layer_types absent or null: every layer is a Mamba-2 mixer."""
        w, s = build(layer_types=("mamba", "mamba"), seed=2)
        for spelling in (DROP, None):
            with tempfile.TemporaryDirectory() as d:
                cc.save_hf(d, w, hf_config(s, layer_types=spelling))
                kinds = [line.split()[0] for line in inspect_layers(self, d)]
            self.assertEqual(kinds, ["mamba2", "moe", "mamba2", "moe"])
        self.check(w, s, hf_config(s, layer_types=DROP), "granite default layer_types")

    # --- the Mamba-2 mixer --------------------------------------------------------------

    def test_mamba_head_reads_group_of_its_heads(self):
        """mamba_n_heads 4, mamba_n_groups 2: heads 0, 1 read B/C group 0, heads 2, 3 group 1."""
        w, s = build(layer_types=("mamba", "mamba"), seed=3)
        tokens = self.tokens(3)
        self.sensitive(w, s, tokens, "head h reads group h % G", group_of=lambda h: h % 2)
        self.check(w, s, hf_config(s), "granite mamba groups", tokens)

    def test_mamba_gated_norm_per_group(self):
        """The gated RMSNorm is taken per d_inner / mamba_n_groups channels."""
        w, s = build(layer_types=("mamba", "mamba"), seed=4)
        tokens = self.tokens(4)
        self.sensitive(w, s, tokens, "gated norm over all d_inner", norm_group=s["d_inner"])
        self.check(w, s, hf_config(s), "granite gated norm group", tokens)

    def test_mamba_time_step_limit(self):
        """transformers 5's time_step_limit clamps softplus(dt + dt_bias); without the key
        (every published config) there is no clamp, whatever time_step_min says."""
        w, s = build(layer_types=("mamba", "mamba"), seed=5)
        tokens = self.tokens(5)
        clamped = cc.with_changes(s, dt_limit=(0.05, 0.4))
        self.sensitive(w, clamped, tokens, "time_step_limit ignored", dt_limit=(0.0, math.inf))
        self.check(w, clamped, hf_config(s, time_step_limit=[0.05, 0.4]), "granite time_step_limit", tokens)
        self.check(w, s, hf_config(s, time_step_min=0.3), "granite no time_step_limit", tokens)

    def test_mamba_D_one_per_head(self):
        """D [mamba_n_heads]: head h's channels all skip with D[h]."""
        w, s = build(layer_types=("mamba", "mamba"), seed=6)
        tokens = self.tokens(6)
        reversed_d = dict(w)
        for i in range(2):
            key = f"model.layers.{i}.mamba.D"
            reversed_d[key] = w[key][::-1].copy()
        self.sensitive(w, s, tokens, "D heads reordered", wrong_w=reversed_d)
        self.check(w, s, hf_config(s), "granite D per head", tokens)

    def test_mamba_conv_and_projection_biases(self):
        """mamba_conv_bias false (no conv1d.bias), mamba_proj_bias true (in_proj and out_proj)."""
        w, s = build(layer_types=("mamba", "mamba"), conv_bias=False, proj_bias=True, seed=7)
        tokens = self.tokens(7)
        dropped = {k: v for k, v in w.items() if not k.endswith("in_proj.bias")}
        self.sensitive(w, s, tokens, "in_proj bias dropped", wrong_w=dropped)
        self.check(w, s, hf_config(s), "granite mamba biases", tokens)

    def test_mamba_chunk_size_changes_nothing(self):
        """mamba_chunk_size only tiles the prefill: 3 (several chunks in 16 tokens) and 256
        give the same model."""
        w, s = build(layer_types=("mamba", "mamba"), seed=8)
        tokens = self.tokens(8)
        for chunk in (3, 256):
            self.check(w, s, hf_config(s, mamba_chunk_size=chunk), f"granite mamba_chunk_size {chunk}", tokens)

    # --- the multipliers ----------------------------------------------------------------

    def test_embedding_multiplier(self):
        w, s = build(seed=9)
        s = cc.with_changes(s, embedding_multiplier=12.0)
        tokens = self.tokens(9)
        self.sensitive(w, s, tokens, "embedding_multiplier ignored", embedding_multiplier=1.0)
        self.check(w, s, hf_config(s), "granite embedding_multiplier", tokens)

    def test_residual_multiplier_scales_each_sub_block(self):
        """residual_multiplier scales the mixer's and the feed-forward's outputs before each
        residual add (not the residual itself)."""
        w, s = build(seed=10)
        s = cc.with_changes(s, residual_multiplier=0.22)
        tokens = self.tokens(10)
        self.sensitive(w, s, tokens, "residual_multiplier ignored", residual_multiplier=1.0)
        self.check(w, s, hf_config(s), "granite residual_multiplier", tokens)

    def test_logits_scaling_divides(self):
        w, s = build(seed=11)
        s = cc.with_changes(s, logits_scaling=6.0)
        tokens = self.tokens(11)
        self.sensitive(w, s, tokens, "logits multiplied by logits_scaling", logits_scaling=1 / 6.0)
        self.check(w, s, hf_config(s), "granite logits_scaling", tokens)

    # --- attention ----------------------------------------------------------------------

    def test_attention_multiplier_is_the_softmax_scale(self):
        """Granite's softmax scale is attention_multiplier itself (0.25 here), not
        1/sqrt(head_dim)."""
        w, s = build(layer_types=("attention", "mamba"), seed=12)
        s = cc.with_changes(s, attention_multiplier=0.25)
        tokens = self.tokens(12)
        self.sensitive(w, s, tokens, "1/sqrt(head_dim) instead of attention_multiplier", attention_multiplier=None)
        self.check(w, s, hf_config(s), "granite attention_multiplier", tokens)

    def test_attention_multiplier_default_is_one(self):
        """GraniteMoeHybridConfig's attention_multiplier defaults to 1.0."""
        w, s = build(layer_types=("attention", "mamba"), seed=13)
        tokens = self.tokens(13)
        self.sensitive(w, s, tokens, "1/sqrt(head_dim) for the default attention_multiplier", attention_multiplier=None)
        self.check(w, s, hf_config(s, attention_multiplier=DROP), "granite attention_multiplier default", tokens)

    def test_nope_has_no_positions(self):
        """position_embedding_type "nope" (every published config), null or absent: no RoPE,
        whatever rope_theta says."""
        w, s = build(layer_types=("attention", "mamba"), seed=14)
        tokens = self.tokens(14)
        self.sensitive(w, s, tokens, "RoPE applied to a nope model", rotary_dim=s["head_dim"], rope_theta=100.0)
        for spelling, label in (("nope", "nope"), (None, "null"), (DROP, "absent")):
            self.check(w, s, hf_config(s, position_embedding_type=spelling, rope_theta=100.0),
                       f"granite position_embedding_type {label}", tokens)

    def test_rope_rotate_half_with_rope_theta(self):
        """position_embedding_type "rope": rotate-half RoPE over the whole head (rotary_dim =
        head_dim) with rope_theta (transformers 4) or rope_parameters.rope_theta (5)."""
        w, s = build(layer_types=("attention", "mamba"), seed=15)
        s = cc.with_changes(s, rotary_dim=s["head_dim"], rope_theta=100.0)
        tokens = self.tokens(15)
        self.sensitive(w, s, tokens, "interleaved (GPT-J) RoPE pairs", wrong_w=permute_rope_pairs(w, s))
        self.sensitive(w, s, tokens, "rope_theta ignored", rope_theta=10000.0)
        self.check(w, s, hf_config(s), "granite rope", tokens)
        self.check(w, s, hf_config(s, rope_theta=DROP, rope_scaling=DROP,
                                   rope_parameters={"rope_type": "default", "rope_theta": 100.0}),
                   "granite rope_parameters", tokens)

    def test_gqa_kv_head_serves_consecutive_query_heads(self):
        """num_attention_heads 4, num_key_value_heads 2 (repeat_kv): kv head 0 serves query
        heads 0, 1 and kv head 1 heads 2, 3."""
        w, s = build(layer_types=("attention", "mamba"), seed=16)
        tokens = self.tokens(16)
        self.sensitive(w, s, tokens, "query head h reads kv head h % Hkv", kv_head_of=lambda h: h % 2)
        self.check(w, s, hf_config(s), "granite gqa", tokens)

    def test_head_dim_key(self):
        """A "head_dim" key (transformers reads it when present) overrides hidden_size /
        num_attention_heads, RoPE's width with it."""
        w, s = build(layer_types=("attention", "mamba"), head_dim=12, seed=29)
        s = cc.with_changes(s, rotary_dim=12, rope_theta=100.0)
        self.check(w, s, hf_config(s, head_dim=12), "granite head_dim")

    def test_num_key_value_heads_null_is_multi_head(self):
        """num_key_value_heads null: one kv head per query head; attention_bias puts biases
        on q, k, v and o."""
        w, s = build(layer_types=("attention", "mamba"), kv_heads=4, attention_bias=True, seed=17)
        tokens = self.tokens(17)
        no_o_bias = {k: v for k, v in w.items() if not k.endswith("o_proj.bias")}
        self.sensitive(w, s, tokens, "o_proj bias dropped", wrong_w=no_o_bias)
        self.check(w, s, hf_config(s, num_key_value_heads=None), "granite kv heads null, attention_bias", tokens)

    # --- the feed-forward ---------------------------------------------------------------

    def test_router_softmax_over_the_top_k_logits(self):
        """Top-k of the router logits, then softmax over those k (gates sum to 1) -- not
        Jamba's softmax over every expert kept unnormalized for the chosen k."""
        w, s = build(layer_types=("mamba", "mamba"), seed=18)
        tokens = self.tokens(18)
        self.sensitive(w, s, tokens, "softmax over all experts, top-k without renormalizing", router="jamba")
        self.check(w, s, hf_config(s), "granite router", tokens)

    def test_expert_input_linear_first_half_through_silu(self):
        """input_linear [E, 2 ff, d]: expert e's first ff rows go through silu (native w1),
        times the second ff rows (w3)."""
        w, s = build(layer_types=("mamba", "mamba"), seed=19)
        tokens = self.tokens(19)
        self.sensitive(w, s, tokens, "input_linear halves swapped", halves="swapped")
        self.check(w, s, hf_config(s), "granite expert halves", tokens)

    def test_expert_output_linear_is_each_experts_w2(self):
        """output_linear [E, d, ff]: slice e is expert e's down projection."""
        w, s = build(layer_types=("mamba", "mamba"), seed=20)
        tokens = self.tokens(20)
        rolled = dict(w)
        for i in range(2):
            key = f"model.layers.{i}.block_sparse_moe.output_linear.weight"
            rolled[key] = np.roll(w[key], 1, axis=0)
        self.sensitive(w, s, tokens, "output_linear slices misassigned", wrong_w=rolled)
        self.check(w, s, hf_config(s), "granite expert w2", tokens)

    def test_shared_mlp_added_to_the_routed_output(self):
        """The shared MLP (its own [2 shared_ff, d] input_linear, chunked the same way) is
        added to the routed experts' output: the native shared expert."""
        w, s = build(layer_types=("mamba", "mamba"), seed=21)
        tokens = self.tokens(21)
        self.sensitive(w, s, tokens, "shared MLP left out", shared=False)
        with tempfile.TemporaryDirectory() as d:
            cc.save_hf(d, w, hf_config(s))
            moe_lines = [line for line in inspect_layers(self, d) if line.startswith("moe")]
        self.assertTrue(moe_lines and all("1 shared" in line for line in moe_lines), moe_lines)
        self.check(w, s, hf_config(s), "granite shared MLP", tokens)

    def test_dense_variant_is_an_mlp_layer(self):
        """num_local_experts 0 (Granite 4.0 H Micro / 1B): no block_sparse_moe tensors; the
        feed-forward is the shared MLP alone (a native MLP layer)."""
        w, s = build(layer_types=("mamba", "attention"), experts=0, seed=22)
        self.assertFalse(any("block_sparse_moe" in k for k in w))
        tokens = self.tokens(22)
        self.sensitive(w, s, tokens, "shared MLP halves swapped", halves="swapped")
        with tempfile.TemporaryDirectory() as d:
            cc.save_hf(d, w, hf_config(s))
            kinds = [line.split()[0] for line in inspect_layers(self, d)]
        self.assertEqual(kinds, ["mamba2", "mlp", "attn", "mlp"])
        self.check(w, s, hf_config(s), "granite dense", tokens)

    # --- embeddings, norms, files -------------------------------------------------------

    def test_untied_by_default(self):
        """GraniteMoeHybridConfig's tie_word_embeddings defaults to false."""
        w, s = build(layer_types=("mamba", "mamba"), seed=23)
        tokens = self.tokens(23)
        self.sensitive(w, s, tokens, "untied head replaced by the embedding", tied=True)
        self.check(w, s, hf_config(s, tie_word_embeddings=DROP), "granite untied default", tokens)

    def test_tied_head_absent_from_file(self):
        """Published Granite 4.0 H configs tie the head; save_pretrained leaves lm_head out."""
        w, s = build(layer_types=("mamba", "attention"), seed=24)
        s = cc.with_changes(s, tied=True)
        self.check(w, s, hf_config(s), "granite tied", tied=True)

    def test_rms_norm_eps_everywhere(self):
        """rms_norm_eps (default 1e-6) is the eps of the block norms, the final norm and the
        mixer's gated norm."""
        w, s = build(layer_types=("mamba", "mamba"), seed=25)
        tokens = self.tokens(25)
        big = cc.with_changes(s, eps=0.05)
        self.sensitive(w, big, tokens, "gated norm eps not rms_norm_eps", gated_eps=1e-6)
        self.check(w, big, hf_config(big), "granite rms_norm_eps", tokens)
        self.check(w, s, hf_config(s, rms_norm_eps=DROP), "granite rms_norm_eps default", tokens)

    def test_sharded_safetensors(self):
        """model.safetensors.index.json over two shards; the packed expert tensors are cut
        from whichever shard holds them."""
        w, s = build(layer_types=("mamba", "attention", "mamba"), seed=26)
        self.check(w, s, hf_config(s), "granite sharded", sharded=True)

    # --- what the native model cannot take ----------------------------------------------

    def test_refused_configs(self):
        """Each refusal names the field."""
        w, s = build(layer_types=("mamba", "attention"), seed=27)
        cases = [({"hidden_act": "gelu"}, "hidden_act"),
                 ({"position_embedding_type": "alibi"}, "position_embedding_type"),
                 ({"position_embedding_type": "rope", "rope_scaling": {"rope_type": "linear", "factor": 2.0}},
                  "rope_scaling"),
                 ({"attention_multiplier": 0.0}, "attention_multiplier"),
                 ({"layer_types": ["mamba"]}, "layer_types"),
                 ({"layer_types": ["mamba", "mlp"]}, "layer_types"),
                 ({"num_experts_per_tok": 5}, "num_experts_per_tok"),
                 ({"mamba_d_head": 8}, "mamba_d_head"),
                 ({"mamba_n_heads": 5}, "mamba_n_heads"),
                 ({"logits_scaling": 0}, "logits_scaling")]
        for change, word in cases:
            with tempfile.TemporaryDirectory() as d:
                cc.save_hf(d, w, hf_config(s, **change))
                r = cc.mmb_convert(d, os.path.join(d, "m.mmb"))
                self.assertNotEqual(r.returncode, 0, change)
                self.assertIn(word, r.stderr, change)

    def test_packed_experts_must_be_read_whole(self):
        """Every row of a packed tensor belongs to some native tensor: an input_linear with
        rows beyond 2 x intermediate_size is refused, naming it; a wrong intermediate_size
        is refused by output_linear's shape."""
        w, s = build(layer_types=("mamba", "mamba"), seed=28)
        key = "model.layers.1.block_sparse_moe.input_linear.weight"
        extra = dict(w, **{key: np.concatenate([w[key], w[key][:, :4]], axis=1)})
        for weights, config, words in ((extra, hf_config(s), (key, "not all read")),
                                       (w, hf_config(s, intermediate_size=s["ff"] - 4), ("output_linear", "shape"))):
            with tempfile.TemporaryDirectory() as d:
                cc.save_hf(d, weights, config)
                r = cc.mmb_convert(d, os.path.join(d, "m.mmb"))
            self.assertNotEqual(r.returncode, 0)
            for word in words:
                self.assertIn(word, r.stderr)


if __name__ == "__main__":
    cc.setup_mmb(sys.argv)
    unittest.main()
