"""`mmb convert` on Hugging Face Mamba2ForCausalLM (safetensors) and mamba_ssm
MambaLMHeadModel with Mamba2 mixers (pytorch_model.bin) checkpoints, against a float64
forward of the family's own math. Usage: test_convert_mamba2.py PATH_TO_MMB
(tolerance: convert_common.py).

The forward is written from transformers models/mamba2/modeling_mamba2.py (the
single-token path of torch_forward) and mamba_ssm modules/mamba2.py (Mamba2.step and
the Triton kernels it calls): in_proj rows [z | x | B | C | dt]; causal depthwise conv
+ SiLU over xBC; dt = clamp(softplus(dt + dt_bias), *time_step_limit); head h reads
group h // (H / G) of B and C (mamba_ssm's nheads_ngroups_ratio); s = s exp(dt A) +
dt x B, y = s C + D x; then y * silu(z) RMS-normalized per group of d_inner / G
channels (mamba_ssm's RMSNormGated(group_size=d_ssm // ngroups): how every checkpoint
was trained) times the weight; out_proj. Each pitfall test also checks that getting it
wrong moves the logits far beyond the tolerance.
"""
import json
import math
import os
import sys
import tempfile
import unittest

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, __file__.rsplit("/tests/", 1)[0])
import convert_common as cc  # noqa: E402


def build(d_model=32, n_layer=2, vocab=300, rows=None, heads=4, head_dim=16, d_state=8, groups=2, d_conv=4,
          bias=False, conv_bias=True, d_per_channel=False, gated=True, embedding="backbone.embeddings.weight", seed=0):
    """Random weights under their checkpoint names, and the math options of the forward."""
    rng = np.random.default_rng(seed)
    d_inner = heads * head_dim
    conv_dim = d_inner + 2 * groups * d_state
    w = {embedding: cc.np_random((rows or vocab, d_model), rng, 1.0),
         "backbone.norm_f.weight": 1 + cc.np_random((d_model,), rng, 0.3),
         "lm_head.weight": cc.np_random((rows or vocab, d_model), rng)}
    for i in range(n_layer):
        p = f"backbone.layers.{i}."
        m = p + "mixer."
        w[p + "norm.weight"] = 1 + cc.np_random((d_model,), rng, 0.3)
        w[m + "in_proj.weight"] = cc.np_random((2 * d_inner + 2 * groups * d_state + heads, d_model), rng)
        w[m + "conv1d.weight"] = cc.np_random((conv_dim, 1, d_conv), rng, 0.6)
        # softplus(dt + dt_bias) spread over ~0.01 .. 1: the clamp tests cut both ends.
        w[m + "dt_bias"] = rng.uniform(-4.5, 0.5, heads).astype(np.float32).astype(np.float64)
        w[m + "A_log"] = np.log(rng.uniform(1, 16, heads)).astype(np.float32).astype(np.float64)
        w[m + "D"] = 1 + cc.np_random((d_inner if d_per_channel else heads,), rng, 0.5)
        w[m + "out_proj.weight"] = cc.np_random((d_model, d_inner), rng)
        if conv_bias:
            w[m + "conv1d.bias"] = cc.np_random((conv_dim,), rng, 0.2)
        if bias:
            w[m + "in_proj.bias"] = cc.np_random((2 * d_inner + 2 * groups * d_state + heads,), rng, 0.2)
            w[m + "out_proj.bias"] = cc.np_random((d_model,), rng, 0.2)
        if gated:
            w[m + "norm.weight"] = 1 + cc.np_random((d_inner,), rng, 0.3)
    spec = dict(n_layer=n_layer, d_model=d_model, d_inner=d_inner, heads=heads, head_dim=head_dim, d_state=d_state,
                groups=groups, d_conv=d_conv, embedding=embedding, tied=False, eps=1e-5, gated_eps=1e-5,
                norm_group=d_inner // groups, dt_limit=(0.0, math.inf), gated=gated,
                group_of=lambda h: h // (heads // groups))
    return w, spec


def mixer(h, w, s, m):
    L, di, H, N, G = h.shape[0], s["d_inner"], s["heads"], s["d_state"], s["groups"]
    P = di // H
    zxbcdt = h @ w[m + "in_proj.weight"].T + w.get(m + "in_proj.bias", 0.0)
    z, xBC, dt = zxbcdt[:, :di], zxbcdt[:, di:2 * di + 2 * G * N], zxbcdt[:, 2 * di + 2 * G * N:]
    xBC = cc.np_silu(cc.np_causal_conv(xBC, w[m + "conv1d.weight"], w.get(m + "conv1d.bias")))
    x = xBC[:, :di].reshape(L, H, P)
    B = xBC[:, di:di + G * N].reshape(L, G, N)
    C = xBC[:, di + G * N:].reshape(L, G, N)
    dt = np.clip(cc.np_softplus(dt + w[m + "dt_bias"]), *s["dt_limit"])
    A = -np.exp(w[m + "A_log"])
    D = w[m + "D"].reshape(H, P) if w[m + "D"].size == di else w[m + "D"][:, None]
    group = [s["group_of"](head) for head in range(H)]
    state = np.zeros((H, P, N))
    ys = []
    for t in range(L):
        state = state * np.exp(dt[t] * A)[:, None, None] + (dt[t][:, None] * x[t])[:, :, None] * B[t][group][:, None, :]
        ys.append(np.einsum("hpn,hn->hp", state, C[t][group]) + D * x[t])
    y = np.stack(ys).reshape(L, di) * cc.np_silu(z)
    if s["gated"]:
        g = s["norm_group"]
        y = cc.np_rms(y.reshape(L, di // g, g), s["gated_eps"]).reshape(L, di) * w[m + "norm.weight"]
    return y @ w[m + "out_proj.weight"].T + w.get(m + "out_proj.bias", 0.0)


def reference(w, s, tokens):
    return cc.np_backbone_forward(w, s, tokens, mixer, s["embedding"])


def hf_config(s, vocab, **changes):
    """config.json as transformers' Mamba2Config.save_pretrained writes it (json.dump:
    time_step_limit's infinity becomes the bare token Infinity)."""
    c = {"architectures": ["Mamba2ForCausalLM"], "bos_token_id": 0, "chunk_size": 256, "conv_kernel": s["d_conv"],
         "eos_token_id": 0, "expand": s["d_inner"] // s["d_model"], "head_dim": s["head_dim"], "hidden_act": "silu",
         "hidden_size": s["d_model"], "initializer_range": 0.1, "layer_norm_epsilon": 1e-5, "model_type": "mamba2",
         "n_groups": s["groups"], "num_heads": s["heads"], "num_hidden_layers": s["n_layer"], "pad_token_id": 0,
         "rescale_prenorm_residual": False, "residual_in_fp32": True, "rms_norm": True, "state_size": s["d_state"],
         "tie_word_embeddings": False, "time_step_floor": 0.0001, "time_step_limit": [0.0, float("inf")],
         "time_step_max": 0.1, "time_step_min": 0.001, "time_step_rank": math.ceil(s["d_model"] / 16),
         "torch_dtype": "float32", "transformers_version": "4.46.0", "use_bias": False, "use_cache": True,
         "use_conv_bias": True, "vocab_size": vocab}
    c.update(changes)
    return {k: v for k, v in c.items() if v is not None}


def swap_z_and_x(w, s):
    """The weights a converter would use if it read in_proj as [x | z | ...]."""
    out = dict(w)
    di = s["d_inner"]
    for i in range(s["n_layer"]):
        name = f"backbone.layers.{i}.mixer.in_proj.weight"
        rows = w[name].copy()
        rows[:di], rows[di:2 * di] = w[name][di:2 * di], w[name][:di]
        out[name] = rows
    return out


class HuggingFaceMamba2(unittest.TestCase):
    def convert_and_check(self, d, w, s, tokens, name):
        got = cc.convert_and_run(self, d, tokens)
        cc.assert_matches(self, got, reference(w, s, tokens), name)

    def test_in_proj_rows_are_z_xbc_dt(self):
        w, s = build(seed=1)
        tokens = cc.tokens_for(300, seed=1)
        right = reference(w, s, tokens)
        cc.assert_sensitive(self, right, reference(swap_z_and_x(w, s), s, tokens), "in_proj read as [x | z | B | C | dt]")
        with tempfile.TemporaryDirectory() as d:
            cc.save_hf(d, w, hf_config(s, 300))
            self.convert_and_check(d, w, s, tokens, "hf-mamba2 in_proj order")

    def test_head_reads_group_h_over_heads_per_group(self):
        """H = 4, G = 2: heads 0, 1 read group 0 and heads 2, 3 group 1 (not h % G)."""
        w, s = build(seed=2)
        tokens = cc.tokens_for(300, seed=2)
        right = reference(w, s, tokens)
        cc.assert_sensitive(self, right, reference(w, cc.with_changes(s, group_of=lambda h: h % 2), tokens), "head h reads group h % G")
        with tempfile.TemporaryDirectory() as d:
            cc.save_hf(d, w, hf_config(s, 300))
            self.convert_and_check(d, w, s, tokens, "hf-mamba2 group to head")

    def test_gated_norm_is_per_group(self):
        """mamba_ssm normalizes d_inner / G channels at a time; transformers' whole-d_inner
        norm (its bug for G > 1) is not what the checkpoints were trained with."""
        w, s = build(seed=3)
        tokens = cc.tokens_for(300, seed=3)
        right = reference(w, s, tokens)
        cc.assert_sensitive(self, right, reference(w, cc.with_changes(s, norm_group=s["d_inner"]), tokens), "norm over all d_inner")
        with tempfile.TemporaryDirectory() as d:
            cc.save_hf(d, w, hf_config(s, 300))
            self.convert_and_check(d, w, s, tokens, "hf-mamba2 per-group gated norm")

    def test_dt_clamped_to_time_step_limit(self):
        w, s = build(seed=4)
        s = cc.with_changes(s, dt_limit=(0.05, 0.4))
        tokens = cc.tokens_for(300, seed=4)
        right = reference(w, s, tokens)
        cc.assert_sensitive(self, right, reference(w, cc.with_changes(s, dt_limit=(0.0, math.inf)), tokens), "time_step_limit ignored")
        with tempfile.TemporaryDirectory() as d:
            cc.save_hf(d, w, hf_config(s, 300, time_step_limit=[0.05, 0.4]))
            self.convert_and_check(d, w, s, tokens, "hf-mamba2 time_step_limit")

    def test_time_step_min_does_not_clamp(self):
        """time_step_min only sets dt_bias's initialization (transformers 4.44-4.47 clamped
        dt at it: a bug). The upper limit is Infinity, spelled as Python's json writes it
        and as transformers 5 does."""
        w, s = build(seed=5)
        tokens = cc.tokens_for(300, seed=5)
        right = reference(w, s, tokens)
        cc.assert_sensitive(self, right, reference(w, cc.with_changes(s, dt_limit=(0.3, math.inf)), tokens), "dt clamped at time_step_min")
        for spelling in ([0.0, float("inf")], [0.0, {"__float__": "Infinity"}]):
            with tempfile.TemporaryDirectory() as d:
                cc.save_hf(d, w, hf_config(s, 300, time_step_min=0.3, time_step_limit=spelling))
                if isinstance(spelling[1], float):
                    with open(os.path.join(d, "config.json")) as f:
                        self.assertIn("Infinity", f.read())
                self.convert_and_check(d, w, s, tokens, f"hf-mamba2 time_step_min {spelling}")

    def test_layer_norm_epsilon_is_every_norms_eps(self):
        """Block norms, final norm and the gated norm all use layer_norm_epsilon."""
        w, s = build(seed=6)
        s = cc.with_changes(s, eps=0.05, gated_eps=0.05)
        tokens = cc.tokens_for(300, seed=6)
        right = reference(w, s, tokens)
        cc.assert_sensitive(self, right, reference(w, cc.with_changes(s, gated_eps=1e-5), tokens), "gated norm eps not layer_norm_epsilon")
        with tempfile.TemporaryDirectory() as d:
            cc.save_hf(d, w, hf_config(s, 300, layer_norm_epsilon=0.05))
            self.convert_and_check(d, w, s, tokens, "hf-mamba2 layer_norm_epsilon")

    def test_use_bias_and_use_conv_bias(self):
        w, s = build(seed=7, bias=True, conv_bias=False)
        tokens = cc.tokens_for(300, seed=7)
        right = reference(w, s, tokens)
        dropped = {k: v for k, v in w.items() if not k.endswith("in_proj.bias")}
        cc.assert_sensitive(self, right, reference(dropped, s, tokens), "in_proj bias dropped")
        with tempfile.TemporaryDirectory() as d:
            cc.save_hf(d, w, hf_config(s, 300, use_bias=True, use_conv_bias=False))
            self.convert_and_check(d, w, s, tokens, "hf-mamba2 biases")

    def test_untied_by_default(self):
        """Mamba2Config's tie_word_embeddings defaults to false: a config.json without the
        key has its own lm_head."""
        w, s = build(seed=8)
        tokens = cc.tokens_for(300, seed=8)
        right = reference(w, s, tokens)
        cc.assert_sensitive(self, right, reference(w, cc.with_changes(s, tied=True), tokens), "untied head replaced by the embedding")
        with tempfile.TemporaryDirectory() as d:
            cc.save_hf(d, w, hf_config(s, 300, tie_word_embeddings=None))
            self.convert_and_check(d, w, s, tokens, "hf-mamba2 untied default")

    def test_tied_head_absent_from_file(self):
        w, s = build(seed=9)
        s = cc.with_changes(s, tied=True)
        tokens = cc.tokens_for(300, seed=9)
        with tempfile.TemporaryDirectory() as d:
            cc.save_hf(d, w, hf_config(s, 300, tie_word_embeddings=True), tied=True)
            self.convert_and_check(d, w, s, tokens, "hf-mamba2 tied head")

    def test_sharded_safetensors(self):
        w, s = build(seed=10, n_layer=3)
        tokens = cc.tokens_for(300, seed=10)
        with tempfile.TemporaryDirectory() as d:
            cc.save_hf(d, w, hf_config(s, 300), shards=2)
            self.convert_and_check(d, w, s, tokens, "hf-mamba2 sharded safetensors")

    def test_padded_vocabulary_rows(self):
        """A config whose vocab_size is the real 300 with 304 embedding/head rows: the
        padding is kept, 300 logits come back."""
        w, s = build(seed=11, rows=304)
        tokens = cc.tokens_for(300, seed=11)
        with tempfile.TemporaryDirectory() as d:
            cc.save_hf(d, w, hf_config(s, 300))
            got = cc.convert_and_run(self, d, tokens)
        cc.assert_matches(self, got, reference(w, s, tokens)[:, :300], "hf-mamba2 padded rows")

    def test_refused_configs(self):
        w, s = build(seed=12)
        cases = [({"num_heads": 8}, "num_heads"), ({"hidden_act": "gelu"}, "hidden_act"),
                 ({"time_step_limit": [0.5, 0.1]}, "time_step_limit")]
        for change, word in cases:
            with tempfile.TemporaryDirectory() as d:
                cc.save_hf(d, w, hf_config(s, 300, **change))
                r = cc.mmb_convert(d, os.path.join(d, "m.mmb"))
                self.assertNotEqual(r.returncode, 0, change)
                self.assertIn(word, r.stderr)


def mamba_ssm_config(s, vocab, pad, **ssm):
    """config.json as mamba_ssm's MambaLMHeadModel.save_pretrained writes it."""
    cfg = {"layer": "Mamba2", "d_state": s["d_state"], "headdim": s["head_dim"], "ngroups": s["groups"]}
    cfg.update(ssm)
    return {"d_model": s["d_model"], "d_intermediate": 0, "n_layer": s["n_layer"], "vocab_size": vocab, "ssm_cfg": cfg,
            "attn_layer_idx": [], "attn_cfg": {}, "rms_norm": True, "residual_in_fp32": True, "fused_add_norm": True,
            "pad_vocab_size_multiple": pad, "tie_embeddings": True}


def save_mamba_ssm(directory, w, config):
    """pytorch_model.bin: the state dict, embedding and (tied) lm_head both saved."""
    state = {k: torch.from_numpy(v.astype(np.float32)) for k, v in w.items() if k != "lm_head.weight"}
    state["lm_head.weight"] = state["backbone.embedding.weight"].clone()
    torch.save(state, os.path.join(directory, "pytorch_model.bin"))
    cc.write_config(directory, config)


class MambaSsmMamba2(unittest.TestCase):
    def test_pickle_padded_vocab_per_channel_D(self):
        """vocab 300 padded to 304 rows (pad_vocab_size_multiple 16), D_has_hdim (D per
        channel), ngroups 2: 300 logits, the first 300 of the padded model's."""
        w, s = build(seed=20, rows=304, d_per_channel=True, embedding="backbone.embedding.weight")
        s = cc.with_changes(s, tied=True)
        tokens = cc.tokens_for(300, seed=20)
        full = reference(w, s, tokens)
        per_head = dict(w)
        for i in range(s["n_layer"]):
            name = f"backbone.layers.{i}.mixer.D"
            per_head[name] = w[name].reshape(s["heads"], -1)[:, 0]
        cc.assert_sensitive(self, full, reference(per_head, s, tokens), "D read per head")
        with tempfile.TemporaryDirectory() as d:
            save_mamba_ssm(d, w, mamba_ssm_config(s, 300, 16, D_has_hdim=True))
            got = cc.convert_and_run(self, d, tokens)
        self.assertEqual(got.shape, (len(tokens), 300))
        cc.assert_matches(self, got, full[:, :300], "mamba_ssm Mamba2 padded vocab, D per channel")

    def test_pickle_without_gated_norm(self):
        """rmsnorm false: y * silu(z) straight into out_proj (no norm.weight)."""
        w, s = build(seed=21, gated=False, embedding="backbone.embedding.weight", groups=1)
        s = cc.with_changes(s, tied=True)
        tokens = cc.tokens_for(300, seed=21)
        with tempfile.TemporaryDirectory() as d:
            save_mamba_ssm(d, w, mamba_ssm_config(s, 300, 1, rmsnorm=False))
            got = cc.convert_and_run(self, d, tokens)
        cc.assert_matches(self, got, reference(w, s, tokens), "mamba_ssm Mamba2 without the gated norm")

    def test_refused_mixers(self):
        w, s = build(seed=22, embedding="backbone.embedding.weight")
        for change, word in (({"norm_before_gate": True}, "norm_before_gate"), ({"d_ssm": 32}, "d_ssm")):
            with tempfile.TemporaryDirectory() as d:
                save_mamba_ssm(d, w, mamba_ssm_config(s, 300, 1, **change))
                r = cc.mmb_convert(d, os.path.join(d, "m.mmb"))
                self.assertNotEqual(r.returncode, 0, change)
                self.assertIn(word, r.stderr)


if __name__ == "__main__":
    cc.setup_mmb(sys.argv)
    unittest.main()
