"""Exported models give the same logits in PyTorch and in the C library (`mmb logits`):
Mamba, MoE, MLP, parallel, routed-projection, Mamba-2 and attention layers (GQA, full and
partial RoPE, biases, softmax scale) mixed in hybrids, relu2 feed-forwards, group-limited
expert selection, the embedding/residual/logits scales; and a trained MoE-Mamba-2 and
hybrid (their float32 weights after a few training steps, not only random ones).

Usage: test_export_parity.py PATH_TO_MMB
Tolerance: |torch_f64 - c_f32| <= 5e-5 * max(1, max|logit|) per logit, the f32
rounding of a few dozen layers' accumulations (observed: 1e-6 to 3e-5). `mmb logits`
runs with an f32 KV cache (--kv f32): the default f16 cache rounds keys and values,
and one near an f16 rounding midpoint can round a step apart from a rounded float64
forward's, moving logits by more than the tolerance. Each model with attention also
shows that its attention layers and RoPE move the logits far beyond the tolerance.
"""
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import torch

sys.path.insert(0, __file__.rsplit("/tests/", 1)[0])
from moemamba_kit.export import export, pack  # noqa: E402
from moemamba_kit.model import MoEMamba  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from random_weights import randomize  # noqa: E402

MMB = os.environ.get("MMB_CLI", "")
TOLERANCE = 5e-5

CONFIGS = {
    "moe_mamba_top1_rms_tied": {
        "d_model": 32, "vocab_size": 300, "layer_pattern": {"repeat": 2, "pattern": [
            {"kind": "mamba", "d_state": 8, "d_conv": 4},
            {"kind": "moe", "n_experts": 4, "d_ff": 48, "expert": "relu"}]}},
    "top2_layer_norm_untied_no_final": {
        "d_model": 24, "vocab_size": 257, "norm": "layer", "final_norm": "none", "tie_embeddings": False,
        "layers": [
            {"kind": "mamba", "d_inner": 40, "d_state": 6, "d_conv": 3, "dt_rank": 5, "in_proj_bias": True,
             "out_proj_bias": True},
            {"kind": "moe", "n_experts": 5, "top_k": 2, "d_ff": 32, "expert": "swiglu", "renorm": True,
             "router_bias": True, "expert_bias": True},
            {"kind": "mlp", "d_ff": 40, "expert": "gelu", "bias": True},
            {"kind": "mamba", "d_state": 4, "conv_bias": False}]},
    "sigmoid_sel_bias_shared_rms_final_layer": {
        "d_model": 16, "vocab_size": 256, "norm": "rms", "final_norm": "layer",
        "layers": [
            {"kind": "moe", "n_experts": 6, "top_k": 2, "d_ff": 20, "expert": "geglu", "router": "sigmoid",
             "sel_bias": True, "routed_scale": 2.5, "n_shared": 1, "shared_d_ff": 12, "shared_expert": "silu",
             "normalize_expert_output": True},
            {"kind": "mamba", "d_state": 16},
            {"kind": "moe", "n_experts": 3, "top_k": 1, "d_ff": 8, "expert": "gelu_tanh", "router": "relu",
             "router_bias": True}]},
    # The MoE-Mamba paper's other designs (docs/bundle-format.md, "Parallel layers and
    # projections as experts").
    "parallel_two_norms": {
        "d_model": 24, "vocab_size": 260, "layers": [
            {"kind": "parallel", "mamba": {"d_state": 6},
             "moe": {"n_experts": 4, "top_k": 1, "d_ff": 32, "expert": "relu"}},
            {"kind": "mamba", "d_state": 4},
            {"kind": "parallel", "shared_norm": False, "mamba": {"d_inner": 40, "d_state": 4, "in_proj_bias": True},
             "moe": {"n_experts": 3, "top_k": 2, "d_ff": 16, "expert": "swiglu", "renorm": True}}]},
    "parallel_shared_norm_layer_norm": {
        "d_model": 16, "vocab_size": 256, "norm": "layer", "layers": [
            {"kind": "parallel", "shared_norm": True, "mamba": {"d_state": 8, "out_proj_bias": True},
             "moe": {"n_experts": 5, "top_k": 2, "d_ff": 24, "expert": "gelu", "router": "sigmoid",
                     "sel_bias": True, "n_shared": 1}},
            {"kind": "parallel", "shared_norm": True, "mamba": {"d_state": 4},
             "moe": {"n_experts": 2, "d_ff": 8, "expert": "silu"}}]},
    "moe_in_out_proj": {
        "d_model": 24, "vocab_size": 270, "layers": [
            {"kind": "mamba", "d_state": 8, "out_proj_experts": {"n_experts": 4, "top_k": 1}},
            {"kind": "mamba", "d_state": 8, "in_proj_bias": True,
             "out_proj_experts": {"n_experts": 3, "top_k": 2, "router": "relu", "router_bias": True,
                                  "renorm": True, "bias": True}}]},
    "moe_in_both_projections": {
        "d_model": 24, "vocab_size": 280, "layers": [
            {"kind": "mamba", "d_state": 8, "x_proj_experts": {"n_experts": 4},
             "out_proj_experts": {"n_experts": 4}},
            {"kind": "mamba", "d_inner": 32, "d_state": 4, "in_proj_bias": True,
             "z_proj_experts": {"n_experts": 3, "top_k": 2, "router": "sigmoid", "sel_bias": True,
                                "routed_scale": 1.5, "bias": True},
             "out_proj_experts": {"n_experts": 2, "bias": True}},
            {"kind": "parallel", "mamba": {"d_state": 4, "x_proj_experts": {"n_experts": 3, "bias": True},
                                           "z_proj_experts": {"n_experts": 2, "renorm": True, "top_k": 2}},
             "moe": {"n_experts": 3, "d_ff": 16, "expert": "relu"}}]},
    # Mamba-2 (SSD) layers: groups of heads sharing B and C, every option of the kind.
    "mamba2_groups_options": {
        "d_model": 24, "vocab_size": 290, "layers": [
            {"kind": "mamba2", "n_heads": 4, "d_state": 8, "n_groups": 2},
            {"kind": "mamba2", "d_inner": 36, "n_heads": 6, "d_state": 5, "n_groups": 3, "d_conv": 3,
             "norm_group_size": 6, "in_proj_bias": True, "out_proj_bias": True, "d_per_channel": True,
             "dt_min": 0.3, "dt_max": 0.9, "norm_eps": 1e-4},
            {"kind": "mamba2", "d_inner": 32, "n_heads": 2, "d_state": 4, "gated_norm": False,
             "conv_bias": False}]},
    "moe_mamba2_top1": {
        "d_model": 32, "vocab_size": 300, "layer_pattern": {"repeat": 2, "pattern": [
            {"kind": "mamba2", "n_heads": 4, "d_state": 16},
            {"kind": "moe", "n_experts": 8, "d_ff": 48, "expert": "relu"}]}},
    # Hybrids: attention layers among Mamba, Mamba-2, MoE and MLP layers, by a pattern
    # string. GQA g = 2, one attention layer with full RoPE and one without.
    "hybrid_gqa_rope_and_none": {
        "d_model": 32, "vocab_size": 300, "layer_pattern": {"pattern": "MRE2A-", "symbols": {
            "M": {"kind": "mamba", "d_state": 8},
            "R": {"kind": "attention", "n_heads": 4, "n_kv_heads": 2, "head_dim": 8, "rotary_dim": 8},
            "E": {"kind": "moe", "n_experts": 4, "d_ff": 48, "expert": "relu2"},
            "2": {"kind": "mamba2", "n_heads": 4, "d_state": 8},
            "A": {"kind": "attention", "n_heads": 4, "n_kv_heads": 2},
            "-": {"kind": "mlp", "d_ff": 40, "expert": "relu2"}}}},
    # Every attention option (head_dim != d_model / n_heads, partial RoPE with its own
    # theta, softmax scale, q/k/v and o biases, g = 1 and g = 4), group-limited routing
    # with relu2 experts, and the embedding, residual and logits scales.
    "attention_options_groups_scales": {
        "d_model": 24, "vocab_size": 280, "norm": "layer", "tie_embeddings": False, "embedding_scale": 1.7,
        "residual_scale": 0.6, "logits_divisor": 1.3, "context_length": 64, "layers": [
            {"kind": "attention", "n_heads": 3, "head_dim": 10, "rotary_dim": 6, "rope_theta": 500.0,
             "scale": 0.2, "qkv_bias": True, "out_bias": True},
            {"kind": "moe", "n_experts": 8, "top_k": 2, "d_ff": 16, "expert": "relu2", "router": "sigmoid",
             "sel_bias": True, "renorm": True, "routed_scale": 2.0, "n_groups": 4, "topk_groups": 2},
            {"kind": "mamba", "d_state": 4},
            {"kind": "attention", "n_heads": 4, "n_kv_heads": 1, "head_dim": 6, "rotary_dim": 4}]},
}


def random_model(name):
    """CONFIGS[name] in float64 with random weights, and 37 random tokens."""
    i = list(CONFIGS).index(name)
    torch.manual_seed(i)
    model = MoEMamba(CONFIGS[name]).double().eval()
    randomize(model, 10 + i)
    tokens = torch.randint(0, model.config["vocab_size"], (1, 37), generator=torch.Generator().manual_seed(i))
    return model, tokens


class ExportParity(unittest.TestCase):
    def test_logits_match_c_library(self):
        self.assertTrue(os.path.exists(MMB), f"set MMB_CLI to the mmb program (got {MMB!r})")
        for name in CONFIGS:
            with self.subTest(name):
                model, tokens = random_model(name)
                with torch.no_grad():
                    expected = model(tokens)[0].numpy()
                err = self.c_logits_error(model, tokens, expected, name)
                self.assertLessEqual(err, TOLERANCE * max(1.0, np.abs(expected).max()))
                # Non-trivial logits: agreeing near-zero outputs would prove little.
                self.assertGreater(np.abs(expected).max(), 0.1)
                self.assert_attention_matters(model, tokens, expected)

    def test_trained_models_match_c_library(self):
        # A few AdamW steps of the kit's own trainer move every weight away from its
        # initialisation (A_log, dt_bias, norm, router and attention included).
        self.assertTrue(os.path.exists(MMB), f"set MMB_CLI to the mmb program (got {MMB!r})")
        from moemamba_kit import train
        for name in ("moe_mamba2_top1", "hybrid_gqa_rope_and_none"):
            with self.subTest(name):
                torch.manual_seed(5)
                a = train.parse_args(["--config", "x", "--data", "x", "--valid", "x", "--tokenizer", "x",
                                      "--out", "x", "--steps", "8", "--warmup", "1", "--lr", "3e-3"])
                model = train.build_model(CONFIGS[name], a)
                opt = train.make_optimizer(model, a)
                gen = torch.Generator().manual_seed(5)
                data = torch.randint(0, 300, (4000,), generator=gen).numpy()
                model.train()
                for step in range(a.steps):
                    x, y = train.batches(data, 4, 32, gen)
                    train.train_step(model, opt, x, y, step, a)
                model = model.double().eval()
                tokens = torch.randint(0, 300, (1, 45), generator=gen)
                with torch.no_grad():
                    expected = model(tokens)[0].numpy()
                err = self.c_logits_error(model, tokens, expected, f"trained_{name}")
                self.assertLessEqual(err, TOLERANCE * max(1.0, np.abs(expected).max()))

    def assert_attention_matters(self, model, tokens, expected):
        """Without an attention layer's output, or with its RoPE off, the model's logits
        move by over 100x the tolerance: the comparison would catch a wrong attention layer."""
        bound = 100 * TOLERANCE * max(1.0, np.abs(expected).max())
        for attn in model.attention_layers():
            with torch.no_grad():
                saved = attn.o_proj.weight.clone()
                attn.o_proj.weight.zero_()
                moved = np.abs(model(tokens)[0].numpy() - expected).max()
                attn.o_proj.weight.copy_(saved)
                self.assertGreater(moved, bound, "an attention layer's output")
                rotary_dim, attn.rotary_dim = attn.rotary_dim, 0
                if rotary_dim:
                    moved = np.abs(model(tokens)[0].numpy() - expected).max()
                    self.assertGreater(moved, bound, "RoPE")
                attn.rotary_dim = rotary_dim

    def c_logits_error(self, model, tokens, expected, name):
        """max |logits of `mmb logits` on the exported model - expected|."""
        with tempfile.TemporaryDirectory() as tmp:
            export(model, os.path.join(tmp, "ck"), {"name": name})
            bundle = os.path.join(tmp, "m.mmb")
            pack(MMB, os.path.join(tmp, "ck"), bundle, "f32", "none")
            out = os.path.join(tmp, "logits.npy")
            subprocess.run([MMB, "logits", bundle, "--tokens", ",".join(map(str, tokens[0].tolist())),
                            "--out", out, "--threads", "1", "--kv", "f32"], check=True, capture_output=True)
            got = np.load(out).astype(np.float64)
        self.assertEqual(got.shape, expected.shape)
        err = np.abs(got - expected).max()
        print(f"{name}: max |torch - C| = {err:.3g} (max |logit| {np.abs(expected).max():.3g})")
        return err


if __name__ == "__main__":
    if len(sys.argv) > 1:
        MMB = sys.argv.pop(1)
    unittest.main()
