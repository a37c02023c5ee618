"""`mmb convert` on NVIDIA Nemotron-H checkpoints (NemotronHForCausalLM, safetensors),
against a float64 forward of the family's own math. Usage: test_convert_nemotron_h.py
PATH_TO_MMB (tolerance: convert_common.py).

The forward is written from the modeling_nemotron_h.py / configuration_nemotron_h.py
that the checkpoints ship (transformers' nemotron_h port computes the same): one block
per character of hybrid_override_pattern, r = r + mixer(rmsnorm(r)) (the residual kept
as it is: residual_in_fp32 only casts), then norm_f and lm_head.
  M: NemotronHMamba2Mixer, Mamba-2 as test_convert_mamba2.py's forward: in_proj rows
     [z | x | B | C | dt], d_inner = mamba_num_heads * mamba_head_dim, dt clamped to
     time_step_limit, the gated RMSNorm per group of d_inner / n_groups channels.
  *: NemotronHAttention: GQA via repeat_kv, head_dim from the config, no position
     encoding, scale head_dim ** -0.5.
  -: NemotronHMLP: down_proj(relu(up_proj x) ** 2), not gated.
  E: NemotronHMOE: p = sigmoid(gate x); keys = p + e_score_correction_bias; the experts
     form n_group groups scored by the sum of their two best keys; the topk_group best
     groups stay eligible, the other keys become 0; top num_experts_per_tok by key; gates
     = p (no bias), divided by their sum when norm_topk_prob, times
     routed_scaling_factor; plus one shared ReLU^2 expert.
Each pitfall test also checks that getting it wrong moves the logits far beyond the
tolerance (convert_common.py's, attention blocks included: `mmb logits --kv f32`, see
hybrid_reference.py).
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
import test_convert_mamba2 as m2  # noqa: E402  (the Mamba-2 mixer's forward)

VOCAB = 300
ABSENT = object()  # a config key left out of config.json
BLOCKS = {"M": "mamba", "*": "attention", "-": "mlp", "E": "moe"}


def build(d_model=32, pattern="ME*M-E", m_heads=4, m_head_dim=16, d_state=8, groups=2, d_conv=4, heads=4,
          kv_heads=2, head_dim=12, d_ff=48, n_experts=8, top_k=2, moe_ff=16, shared_ff=24, n_group=2,
          topk_group=1, routed_scale=2.5, use_bias=False, conv_bias=True, attention_bias=False, mlp_bias=False,
          seed=0):
    """Random weights under their checkpoint names, for every mixer a block could have
    (checkpoint_tensors() keeps those the pattern implies), and the math options of the forward."""
    rng = np.random.default_rng(seed)
    d_inner = m_heads * m_head_dim
    conv_dim = d_inner + 2 * groups * d_state
    in_rows = 2 * d_inner + 2 * groups * d_state + m_heads
    w = {"backbone.embeddings.weight": cc.np_random((VOCAB, d_model), rng, 1.0),
         "backbone.norm_f.weight": 1 + cc.np_random((d_model,), rng, 0.3),
         "lm_head.weight": cc.np_random((VOCAB, d_model), rng)}

    def linear(name, rows, cols, bias, scale=None):
        w[name + ".weight"] = cc.np_random((rows, cols), rng, scale)
        if bias:
            w[name + ".bias"] = cc.np_random((rows,), rng, 0.2)

    for i in range(len(pattern)):
        p = f"backbone.layers.{i}."
        m = p + "mixer."
        w[p + "norm.weight"] = 1 + cc.np_random((d_model,), rng, 0.3)
        # Mamba-2
        linear(m + "in_proj", in_rows, d_model, use_bias)
        w[m + "conv1d.weight"] = cc.np_random((conv_dim, 1, d_conv), rng, 0.6)
        if conv_bias:
            w[m + "conv1d.bias"] = cc.np_random((conv_dim,), rng, 0.2)
        # softplus(dt + dt_bias) spread over ~0.01 .. 1: the clamp tests cut both ends.
        w[m + "dt_bias"] = rng.uniform(-4.5, 0.5, m_heads).astype(np.float32).astype(np.float64)
        w[m + "A_log"] = np.log(rng.uniform(1, 16, m_heads)).astype(np.float32).astype(np.float64)
        w[m + "D"] = 1 + cc.np_random((m_heads,), rng, 0.5)
        w[m + "norm.weight"] = 1 + cc.np_random((d_inner,), rng, 0.3)
        linear(m + "out_proj", d_model, d_inner, use_bias)
        # attention: large queries and keys make it sharp, so which positions it sees matters
        for name, rows in (("q_proj", heads * head_dim), ("k_proj", kv_heads * head_dim), ("v_proj", kv_heads * head_dim)):
            linear(m + name, rows, d_model, attention_bias, 2.0 / math.sqrt(d_model))
        linear(m + "o_proj", d_model, heads * head_dim, attention_bias)
        # MLP
        linear(m + "up_proj", d_ff, d_model, mlp_bias)
        linear(m + "down_proj", d_model, d_ff, mlp_bias)
        # MoE: a wide router (sigmoids spread over ~0.05 .. 0.95) and positive correction
        # biases big enough to change which experts win (positive: no key falls below the
        # 0 that masked groups get, which would make the choice among those a tie).
        w[m + "gate.weight"] = cc.np_random((n_experts, d_model), rng, 2.5 / math.sqrt(d_model))
        w[m + "gate.e_score_correction_bias"] = rng.uniform(0.0, 0.4, n_experts).astype(np.float32).astype(np.float64)
        for j in range(n_experts):
            linear(f"{m}experts.{j}.up_proj", moe_ff, d_model, mlp_bias)
            linear(f"{m}experts.{j}.down_proj", d_model, moe_ff, mlp_bias)
        linear(m + "shared_experts.up_proj", shared_ff, d_model, mlp_bias)
        linear(m + "shared_experts.down_proj", d_model, shared_ff, mlp_bias)
    spec = dict(d_model=d_model, pattern=pattern, blocks=[BLOCKS[c] for c in pattern], n_layer=len(pattern),
                m_heads=m_heads, m_head_dim=m_head_dim, d_inner=d_inner, d_state=d_state, groups=groups, d_conv=d_conv,
                heads=heads, kv_heads=kv_heads, head_dim=head_dim, d_ff=d_ff, n_experts=n_experts, top_k=top_k,
                moe_ff=moe_ff, shared_ff=shared_ff, n_group=n_group, topk_group=topk_group, routed_scale=routed_scale,
                renorm=True, use_bias=use_bias, conv_bias=conv_bias, attention_bias=attention_bias, mlp_bias=mlp_bias,
                eps=1e-5, tied=False, dt_limit=(0.0, math.inf), norm_group=d_inner // groups, kv_head_of=None,
                rotary_dim=0, bias_in_gates=False, group_score="top2", shared=True, mlp_power=2)
    return w, spec


def mamba2_settings(s):
    """test_convert_mamba2.mixer's settings for this model's Mamba-2 mixers."""
    return dict(d_inner=s["d_inner"], heads=s["m_heads"], d_state=s["d_state"], groups=s["groups"],
                dt_limit=s["dt_limit"], gated=True, gated_eps=s["eps"], norm_group=s["norm_group"],
                group_of=lambda h: h // (s["m_heads"] // s["groups"]))


def relu2_mlp(h, w, s, m):
    up = h @ w[m + "up_proj.weight"].T + w.get(m + "up_proj.bias", 0.0)
    return np.maximum(up, 0.0) ** s["mlp_power"] @ w[m + "down_proj.weight"].T + w.get(m + "down_proj.bias", 0.0)


def chosen_experts(keys, s):
    """NemotronHTopkRouter.get_topk_indices for one token's selection keys."""
    keys = keys.copy()
    if s["n_group"] > 1:
        by_group = keys.reshape(s["n_group"], -1)
        if s["group_score"] == "top2":
            scores = np.sort(by_group, axis=1)[:, -2:].sum(axis=1)
        else:
            scores = by_group.max(axis=1)
        kept = np.zeros(s["n_group"], dtype=bool)
        kept[np.argsort(-scores)[:s["topk_group"]]] = True
        keys = np.where(np.repeat(kept, by_group.shape[1]), keys, 0.0)
    return np.argsort(-keys)[:s["top_k"]]


def moe(h, w, s, m):
    probs = 1.0 / (1.0 + np.exp(-(h @ w[m + "gate.weight"].T)))
    keys = probs + w[m + "gate.e_score_correction_bias"]
    out = np.zeros_like(h)
    for t in range(h.shape[0]):
        chosen = chosen_experts(keys[t], s)
        gates = (keys if s["bias_in_gates"] else probs)[t, chosen]
        if s["renorm"]:
            gates = gates / (gates.sum() + 1e-20)
        for j, g in zip(chosen, gates * s["routed_scale"]):
            out[t] += g * relu2_mlp(h[t:t + 1], w, s, f"{m}experts.{j}.")[0]
    return out + (relu2_mlp(h, w, s, m + "shared_experts.") if s["shared"] else 0.0)


def mixer(h, w, s, m):
    block = s["blocks"][int(m.split(".")[2])]  # m: backbone.layers.i.mixer.
    if block == "mamba":
        return m2.mixer(h, w, mamba2_settings(s), m)
    if block == "attention":
        return hr.np_attention(h, w, m, s["heads"], s["kv_heads"], s["head_dim"], rotary_dim=s["rotary_dim"],
                               kv_head_of=s["kv_head_of"])
    if block == "mlp":
        return relu2_mlp(h, w, s, m)
    return moe(h, w, s, m)


def reference(w, s, tokens):
    return cc.np_backbone_forward(w, s, tokens, mixer)


def with_pattern(s, pattern):
    return cc.with_changes(s, pattern=pattern, blocks=[BLOCKS[c] for c in pattern])


def nemotron_config(s, **changes):
    """config.json as NVIDIA's Nemotron-H checkpoints ship it (NemotronHConfig's attributes,
    as save_pretrained writes them: n_groups, conv_kernel, time_step_limit, ...)."""
    c = {"architectures": ["NemotronHForCausalLM"], "attention_bias": s["attention_bias"], "attention_dropout": 0.0,
         "auto_map": {"AutoConfig": "configuration_nemotron_h.NemotronHConfig",
                      "AutoModelForCausalLM": "modeling_nemotron_h.NemotronHForCausalLM"},
         "bos_token_id": 1, "chunk_size": 128, "conv_kernel": s["d_conv"], "eos_token_id": 2, "expand": 2,
         "head_dim": s["head_dim"], "hidden_dropout": 0.0, "hidden_size": s["d_model"],
         "hybrid_override_pattern": s["pattern"], "initializer_range": 0.02, "intermediate_size": s["d_ff"],
         "layer_norm_epsilon": s["eps"], "mamba_head_dim": s["m_head_dim"], "mamba_hidden_act": "silu",
         "mamba_num_heads": s["m_heads"], "mamba_proj_bias": False, "max_position_embeddings": 8192,
         "mlp_bias": s["mlp_bias"], "mlp_hidden_act": "relu2", "model_type": "nemotron_h",
         "moe_intermediate_size": s["moe_ff"], "moe_shared_expert_intermediate_size": s["shared_ff"],
         "n_group": s["n_group"], "n_groups": s["groups"], "n_routed_experts": s["n_experts"], "n_shared_experts": 1,
         "norm_topk_prob": s["renorm"], "num_attention_heads": s["heads"], "num_experts_per_tok": s["top_k"],
         "num_hidden_layers": s["n_layer"], "num_key_value_heads": s["kv_heads"], "num_logits_to_keep": 1,
         "pad_token_id": 0, "rescale_prenorm_residual": True, "residual_in_fp32": False,
         "routed_scaling_factor": s["routed_scale"], "sliding_window": None, "ssm_state_size": s["d_state"],
         "tie_word_embeddings": s["tied"], "time_step_floor": 0.0001, "time_step_limit": list(s["dt_limit"]),
         "time_step_max": 0.1, "time_step_min": 0.001, "topk_group": s["topk_group"], "torch_dtype": "float32",
         "transformers_version": "4.48.0.dev0", "use_bias": s["use_bias"], "use_cache": True,
         "use_conv_bias": s["conv_bias"], "use_mamba_kernels": True, "vocab_size": VOCAB}
    c.update(changes)
    return {k: v for k, v in c.items() if v is not ABSENT}


MIXER_TENSORS = {"mamba": ("in_proj.", "conv1d.", "dt_bias", "A_log", "D", "norm.", "out_proj."),
                 "attention": ("q_proj.", "k_proj.", "v_proj.", "o_proj."),
                 "mlp": ("up_proj.", "down_proj."),
                 "moe": ("gate.", "experts.", "shared_experts.")}


def checkpoint_tensors(w, s):
    """The tensors NemotronHForCausalLM.state_dict() holds: each block's mixer by the
    pattern (transformers leaves a tied head out of the file)."""
    def kept(name):
        if name == "lm_head.weight":
            return not s["tied"]
        if ".mixer." not in name:
            return True
        i, part = int(name.split(".")[2]), name.split(".mixer.", 1)[1]
        return part.startswith(MIXER_TENSORS[s["blocks"][i]])
    return {k: v for k, v in w.items() if kept(k)}


class NemotronH(unittest.TestCase):
    def convert_and_check(self, w, s, config, tokens, name, sharded=False):
        with tempfile.TemporaryDirectory() as d:
            cc.save_hf(d, checkpoint_tensors(w, s), config, shards=3 if sharded else 1)
            got = cc.convert_and_run(self, d, tokens)
        cc.assert_matches(self, got, reference(w, s, tokens), name)

    def assert_mistake_moves(self, right, w, s, tokens, what, **changes):
        """Reading the checkpoint with `changes` (a converter's mistake) moves the logits
        far beyond the tolerance."""
        cc.assert_sensitive(self, right, reference(w, cc.with_changes(s, **changes), tokens), what)

    def test_pattern_characters(self):
        """M mamba, * attention, - MLP, E MoE, one native layer each, in order."""
        w, s = build(pattern="M-*EM-E*", seed=1)
        tokens = cc.tokens_for(VOCAB, n=20, seed=1)
        right = reference(w, s, tokens)
        for wrong, what in (("MEE-ME-*", "'-' and 'E' swapped"), ("*-MEM-E*", "'M' and '*' swapped at the ends")):
            cc.assert_sensitive(self, right, reference(w, with_pattern(s, wrong), tokens), what)
        self.convert_and_check(w, s, nemotron_config(s), tokens, "nemotron-h pattern", sharded=True)

    def test_layers_block_type_list(self):
        """transformers 5's spelling of the pattern: a layers_block_type list."""
        w, s = build(pattern="M*-E", seed=2)
        tokens = cc.tokens_for(VOCAB, n=20, seed=2)
        config = nemotron_config(s, hybrid_override_pattern=ABSENT, num_hidden_layers=ABSENT,
                                 layers_block_type=list(s["blocks"]))
        self.convert_and_check(w, s, config, tokens, "nemotron-h layers_block_type")

    def test_mlp_is_relu_squared_not_gated(self):
        """down_proj(relu(up_proj x) ** 2): up_proj is the only input projection."""
        w, s = build(pattern="M-M-", seed=3)
        tokens = cc.tokens_for(VOCAB, n=20, seed=3)
        right = reference(w, s, tokens)
        self.assert_mistake_moves(right, w, s, tokens, "relu, not squared", mlp_power=1)
        self.convert_and_check(w, s, nemotron_config(s), tokens, "nemotron-h ReLU^2 MLP")

    def test_correction_bias_selects_but_does_not_gate(self):
        """sigmoid + e_score_correction_bias picks the experts; the gates are the plain
        sigmoids (renormalized, times routed_scaling_factor)."""
        w, s = build(pattern="ME", n_group=1, topk_group=1, seed=4)
        tokens = cc.tokens_for(VOCAB, n=20, seed=4)
        right = reference(w, s, tokens)
        unbiased = dict(w)
        for k in [k for k in w if k.endswith("e_score_correction_bias")]:
            unbiased[k] = np.zeros_like(w[k])
        cc.assert_sensitive(self, right, reference(unbiased, s, tokens), "correction bias ignored in selection")
        self.assert_mistake_moves(right, w, s, tokens, "correction bias in the gates", bias_in_gates=True)
        self.convert_and_check(w, s, nemotron_config(s), tokens, "nemotron-h correction bias")

    def test_group_limited_top_k(self):
        """8 experts in 2 groups of 4, 1 group eligible, chosen by the sum of its two best
        keys (not its best key, not no limit at all)."""
        w, s = build(pattern="EME", n_group=2, topk_group=1, seed=5)
        tokens = cc.tokens_for(VOCAB, n=20, seed=5)
        right = reference(w, s, tokens)
        self.assert_mistake_moves(right, w, s, tokens, "groups ignored", n_group=1)
        self.assert_mistake_moves(right, w, s, tokens, "group scored by its best key", group_score="max")
        self.convert_and_check(w, s, nemotron_config(s), tokens, "nemotron-h group-limited top-k")

    def test_norm_topk_prob_and_routed_scaling_factor(self):
        w, s = build(pattern="ME", n_group=1, topk_group=1, seed=6)
        s = cc.with_changes(s, renorm=False)
        tokens = cc.tokens_for(VOCAB, n=20, seed=6)
        right = reference(w, s, tokens)
        self.assert_mistake_moves(right, w, s, tokens, "gates renormalized", renorm=True)
        self.assert_mistake_moves(right, w, s, tokens, "routed_scaling_factor ignored", routed_scale=1.0)
        self.convert_and_check(w, s, nemotron_config(s), tokens, "nemotron-h norm_topk_prob false")
        s = cc.with_changes(s, renorm=True)
        self.convert_and_check(w, s, nemotron_config(s, norm_topk_prob=ABSENT), tokens, "nemotron-h norm_topk_prob default")

    def test_shared_expert(self):
        w, s = build(pattern="EM", n_group=1, topk_group=1, seed=7)
        tokens = cc.tokens_for(VOCAB, n=20, seed=7)
        right = reference(w, s, tokens)
        self.assert_mistake_moves(right, w, s, tokens, "shared expert left out", shared=False)
        self.convert_and_check(w, s, nemotron_config(s), tokens, "nemotron-h shared expert")

    def test_attention_head_dim_from_config_no_rope(self):
        """head_dim 12 while hidden_size / heads is 8; no position encoding."""
        w, s = build(pattern="*M*", seed=8)
        tokens = cc.tokens_for(VOCAB, n=20, seed=8)
        right = reference(w, s, tokens)
        self.assert_mistake_moves(right, w, s, tokens, "RoPE applied", rotary_dim=s["head_dim"])
        self.convert_and_check(w, s, nemotron_config(s), tokens, "nemotron-h attention")

    def test_head_dim_default_is_128(self):
        """NemotronHConfig's head_dim defaults to 128, not hidden_size / heads."""
        w, s = build(pattern="M*", head_dim=128, seed=9)
        tokens = cc.tokens_for(VOCAB, n=20, seed=9)
        self.convert_and_check(w, s, nemotron_config(s, head_dim=ABSENT), tokens, "nemotron-h default head_dim")

    def test_kv_head_serves_consecutive_query_heads(self):
        w, s = build(pattern="*M", seed=10)
        tokens = cc.tokens_for(VOCAB, n=20, seed=10)
        right = reference(w, s, tokens)
        self.assert_mistake_moves(right, w, s, tokens, "kv head h % n_kv_heads", kv_head_of=lambda h: h % 2)
        self.convert_and_check(w, s, nemotron_config(s), tokens, "nemotron-h GQA")

    def test_mamba2_gated_norm_per_group(self):
        """The gated RMSNorm normalizes d_inner / n_groups channels at a time."""
        w, s = build(pattern="MM", seed=11)
        tokens = cc.tokens_for(VOCAB, n=20, seed=11)
        right = reference(w, s, tokens)
        self.assert_mistake_moves(right, w, s, tokens, "norm over all d_inner", norm_group=s["d_inner"])
        self.convert_and_check(w, s, nemotron_config(s), tokens, "nemotron-h gated norm groups")

    def test_time_step_limit_clamps_time_step_min_does_not(self):
        w, s = build(pattern="M-M", seed=12)
        s = cc.with_changes(s, dt_limit=(0.05, 0.4))
        tokens = cc.tokens_for(VOCAB, n=20, seed=12)
        right = reference(w, s, tokens)
        self.assert_mistake_moves(right, w, s, tokens, "limit ignored", dt_limit=(0.0, math.inf))
        self.assert_mistake_moves(right, w, s, tokens, "clamped at time_step_min", dt_limit=(0.3, 0.4))
        self.convert_and_check(w, s, nemotron_config(s, time_step_min=0.3), tokens, "nemotron-h time_step_limit")
        # The constructor's spellings, when a config.json has no attribute names.
        config = nemotron_config(s, time_step_limit=ABSENT, mamba_dt_limit=[0.05, 0.4], n_groups=ABSENT,
                                 mamba_n_groups=s["groups"], conv_kernel=ABSENT, mamba_d_conv=s["d_conv"])
        self.convert_and_check(w, s, config, tokens, "nemotron-h constructor key names")

    def test_biases_tied_head_and_ignored_keys(self):
        """use_bias (Mamba-2 in/out_proj), attention_bias (q, k, v, o), mlp_bias (MLPs and
        experts), use_conv_bias false, a tied head; residual_in_fp32 and
        rescale_prenorm_residual change nothing."""
        w, s = build(pattern="M*-E", use_bias=True, conv_bias=False, attention_bias=True, mlp_bias=True, seed=13)
        s = cc.with_changes(s, tied=True)
        tokens = cc.tokens_for(VOCAB, n=20, seed=13)
        config = nemotron_config(s, residual_in_fp32=True, rescale_prenorm_residual=False)
        self.convert_and_check(w, s, config, tokens, "nemotron-h biases, tied", sharded=True)

    def test_refused_configs(self):
        w, s = build(pattern="M*-E", seed=14)
        cases = [({"mlp_hidden_act": "silu"}, "mlp_hidden_act", "MMB_ERR_UNSUPPORTED"),
                 ({"mamba_hidden_act": "gelu"}, "mamba_hidden_act", "MMB_ERR_UNSUPPORTED"),
                 ({"moe_latent_size": 16}, "moe_latent_size", "MMB_ERR_UNSUPPORTED"),
                 ({"sliding_window": 1024}, "sliding_window", "MMB_ERR_UNSUPPORTED"),
                 ({"hybrid_override_pattern": "M*-X"}, "hybrid_override_pattern", "MMB_ERR_FORMAT"),
                 ({"num_hidden_layers": 5}, "hybrid_override_pattern", "MMB_ERR_FORMAT"),
                 ({"time_step_limit": [0.5, 0.1]}, "time_step_limit", "MMB_ERR_FORMAT"),
                 ({"num_key_value_heads": 3}, "num_key_value_heads", "MMB_ERR_FORMAT"),
                 ({"n_group": 3}, "n_group", "MMB_ERR_FORMAT"),
                 ({"topk_group": 3}, "topk_group", "MMB_ERR_FORMAT")]
        for change, word, status in cases:
            with tempfile.TemporaryDirectory() as d:
                cc.save_hf(d, checkpoint_tensors(w, s), nemotron_config(s, **change))
                r = cc.mmb_convert(d, os.path.join(d, "m.mmb"))
                self.assertNotEqual(r.returncode, 0, change)
                self.assertIn(word, r.stderr)
                self.assertIn(status, r.stderr)


if __name__ == "__main__":
    cc.setup_mmb(sys.argv)
    unittest.main()
