"""`mmb convert` on Hugging Face FalconMambaForCausalLM checkpoints (safetensors),
against a float64 forward of the family's own math. Usage: test_convert_falcon_mamba.py
PATH_TO_MMB (tolerance: convert_common.py).

The forward is written from transformers models/falcon_mamba/modeling_falcon_mamba.py
(FalconMambaMixer.slow_forward): a Mamba-1 mixer whose time_step (the time_step_rank
vector), B and C go through rms_forward (RMS without a weight, eps mixer_rms_eps) right
after x_proj; dt = softplus(dt_proj(time_step)). Config defaults are
configuration_falcon_mamba.py's: use_bias false, mixer_rms_eps 1e-6, and
PretrainedConfig's tie_word_embeddings true (left out of config.json when true).
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


def build(d_model=40, n_layer=2, vocab=300, d_inner=80, d_state=8, d_conv=4, bias=False, seed=0):
    rng = np.random.default_rng(seed)
    R = math.ceil(d_model / 16)
    w = {"backbone.embeddings.weight": cc.np_random((vocab, d_model), rng, 1.0),
         "backbone.norm_f.weight": 1 + cc.np_random((d_model,), rng, 0.3),
         "lm_head.weight": cc.np_random((vocab, d_model), rng)}
    for i in range(n_layer):
        p = f"backbone.layers.{i}."
        m = p + "mixer."
        w[p + "norm.weight"] = 1 + cc.np_random((d_model,), rng, 0.3)
        w[m + "in_proj.weight"] = cc.np_random((2 * d_inner, d_model), rng)
        w[m + "conv1d.weight"] = cc.np_random((d_inner, 1, d_conv), rng, 0.6)
        w[m + "conv1d.bias"] = cc.np_random((d_inner,), rng, 0.2)
        w[m + "x_proj.weight"] = cc.np_random((R + 2 * d_state, d_inner), rng)
        # time_step is RMS-normalized, so dt_proj sees O(1) inputs: keep dt in ~[0.01, 1].
        w[m + "dt_proj.weight"] = cc.np_random((d_inner, R), rng, 0.5 / math.sqrt(R))
        w[m + "dt_proj.bias"] = rng.uniform(-4, 0, d_inner).astype(np.float32).astype(np.float64)
        w[m + "A_log"] = rng.uniform(-0.5, 2.0, (d_inner, d_state)).astype(np.float32).astype(np.float64)
        w[m + "D"] = 1 + cc.np_random((d_inner,), rng, 0.5)
        w[m + "out_proj.weight"] = cc.np_random((d_model, d_inner), rng)
        if bias:
            w[m + "in_proj.bias"] = cc.np_random((2 * d_inner,), rng, 0.2)
            w[m + "out_proj.bias"] = cc.np_random((d_model,), rng, 0.2)
    spec = dict(n_layer=n_layer, d_model=d_model, d_inner=d_inner, d_state=d_state, dt_rank=R, d_conv=d_conv, eps=1e-5,
                mixer_eps=1e-6, dt_bc_norm=True, tied=False)
    return w, spec


def mixer(h, w, s, m):
    def rms_normed(time_step, B, C):
        return (cc.np_rms(v, s["mixer_eps"]) for v in (time_step, B, C))
    return cc.np_mamba1_mixer(h, w, m, s["d_inner"], s["d_state"], s["dt_rank"], rms_normed if s["dt_bc_norm"] else None)


def reference(w, s, tokens):
    return cc.np_backbone_forward(w, s, tokens, mixer)


def falcon_config(s, vocab, **changes):
    """config.json as FalconMambaConfig.save_pretrained writes it (tiiuae/falcon-mamba-7b's
    keys: tie_word_embeddings false, no mixer_rms_eps, an expand that intermediate_size
    overrides)."""
    c = {"architectures": ["FalconMambaForCausalLM"], "bos_token_id": 0, "conv_kernel": s["d_conv"], "eos_token_id": 11,
         "expand": 16, "hidden_act": "silu", "hidden_size": s["d_model"], "initializer_range": 0.1,
         "intermediate_size": s["d_inner"], "layer_norm_epsilon": 1e-5, "model_type": "falcon_mamba",
         "num_hidden_layers": s["n_layer"], "pad_token_id": 11, "rescale_prenorm_residual": False,
         "residual_in_fp32": True, "state_size": s["d_state"], "tie_word_embeddings": False, "time_step_floor": 0.0001,
         "time_step_init_scheme": "random", "time_step_max": 0.1, "time_step_min": 0.001,
         "time_step_rank": s["dt_rank"], "time_step_scale": 1.0, "torch_dtype": "float32",
         "transformers_version": "4.43.0.dev0", "use_bias": False, "use_cache": True, "use_conv_bias": True,
         "vocab_size": vocab}
    c.update(changes)
    return {k: v for k, v in c.items() if v is not None}


class FalconMamba(unittest.TestCase):
    def convert_and_check(self, d, w, s, tokens, name):
        got = cc.convert_and_run(self, d, tokens)
        cc.assert_matches(self, got, reference(w, s, tokens), name)

    def test_dt_b_c_are_rms_normalized(self):
        """falcon-mamba-7b's config.json: untied, no mixer_rms_eps (1e-6), expand 16 beside
        the intermediate_size that transformers uses."""
        w, s = build(seed=1)
        tokens = cc.tokens_for(300, seed=1)
        right = reference(w, s, tokens)
        cc.assert_sensitive(self, right, reference(w, cc.with_changes(s, dt_bc_norm=False), tokens), "dt/B/C norms left out")
        cc.assert_sensitive(self, right, reference(w, cc.with_changes(s, tied=True), tokens), "untied head replaced by the embedding")
        with tempfile.TemporaryDirectory() as d:
            cc.save_hf(d, w, falcon_config(s, 300))
            self.convert_and_check(d, w, s, tokens, "falcon-mamba dt/B/C norms")

    def test_mixer_rms_eps_is_read(self):
        w, s = build(seed=2)
        s = cc.with_changes(s, mixer_eps=0.5)
        tokens = cc.tokens_for(300, seed=2)
        right = reference(w, s, tokens)
        cc.assert_sensitive(self, right, reference(w, cc.with_changes(s, mixer_eps=1e-6), tokens), "mixer_rms_eps ignored")
        cc.assert_sensitive(self, right, reference(w, cc.with_changes(s, mixer_eps=1e-5), tokens), "layer_norm_epsilon used instead")
        with tempfile.TemporaryDirectory() as d:
            cc.save_hf(d, w, falcon_config(s, 300, mixer_rms_eps=0.5))
            self.convert_and_check(d, w, s, tokens, "falcon-mamba mixer_rms_eps")

    def test_defaults_no_bias_and_tied(self):
        """A config.json without use_bias and tie_word_embeddings: FalconMambaConfig's
        use_bias is false (MambaConfig's is true) and the head is tied (transformers leaves
        true out of the file); the tied head is not saved."""
        w, s = build(seed=3)
        s = cc.with_changes(s, tied=True)
        tokens = cc.tokens_for(300, seed=3)
        with tempfile.TemporaryDirectory() as d:
            cc.save_hf(d, w, falcon_config(s, 300, use_bias=None, tie_word_embeddings=None), tied=True)
            self.convert_and_check(d, w, s, tokens, "falcon-mamba defaults")

    def test_use_bias(self):
        w, s = build(seed=4, bias=True)
        tokens = cc.tokens_for(300, seed=4)
        with tempfile.TemporaryDirectory() as d:
            cc.save_hf(d, w, falcon_config(s, 300, use_bias=True))
            self.convert_and_check(d, w, s, tokens, "falcon-mamba biases")

    def test_expand_without_intermediate_size(self):
        """Without intermediate_size, d_inner = int(expand * hidden_size)."""
        w, s = build(seed=5, d_inner=60)
        tokens = cc.tokens_for(300, seed=5)
        with tempfile.TemporaryDirectory() as d:
            cc.save_hf(d, w, falcon_config(s, 300, intermediate_size=None, expand=1.5))
            self.convert_and_check(d, w, s, tokens, "falcon-mamba expand")


if __name__ == "__main__":
    cc.setup_mmb(sys.argv)
    unittest.main()
