"""Exported models give the same logits in PyTorch and in the C library (`mmb logits`):
Mamba, MoE, MLP, parallel, routed-projection and Mamba-2 layers; and a trained
MoE-Mamba-2 (its float32 weights after a few training steps, not only random ones).

Usage: test_export_parity.py PATH_TO_MMB
Tolerance: |torch_f64 - c_f32| <= 5e-5 * max(1, max|logit|) per logit, the f32
rounding of a few dozen layers' accumulations (observed: 1e-6 to 6e-6).
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
}


class ExportParity(unittest.TestCase):
    def test_logits_match_c_library(self):
        self.assertTrue(os.path.exists(MMB), f"set MMB_CLI to the mmb program (got {MMB!r})")
        for i, (name, config) in enumerate(CONFIGS.items()):
            with self.subTest(name):
                torch.manual_seed(i)
                model = MoEMamba(config).double().eval()
                randomize(model, 10 + i)
                V = model.config["vocab_size"]
                tokens = torch.randint(0, V, (1, 37), generator=torch.Generator().manual_seed(i))
                with torch.no_grad():
                    expected = model(tokens)[0].numpy()
                err = self.c_logits_error(model, tokens, expected, name)
                self.assertLessEqual(err, TOLERANCE * max(1.0, np.abs(expected).max()))
                # Non-trivial logits: agreeing near-zero outputs would prove little.
                self.assertGreater(np.abs(expected).max(), 0.1)

    def test_trained_moe_mamba2_matches_c_library(self):
        # A few AdamW steps of the kit's own trainer move every weight away from its
        # initialisation (A_log, dt_bias, norm and router included).
        self.assertTrue(os.path.exists(MMB), f"set MMB_CLI to the mmb program (got {MMB!r})")
        from moemamba_kit import train
        torch.manual_seed(5)
        config = CONFIGS["moe_mamba2_top1"]
        a = train.parse_args(["--config", "x", "--data", "x", "--valid", "x", "--tokenizer", "x", "--out", "x",
                              "--steps", "8", "--warmup", "1", "--lr", "3e-3"])
        model = train.build_model(config, a)
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
        err = self.c_logits_error(model, tokens, expected, "trained_moe_mamba2")
        self.assertLessEqual(err, TOLERANCE * max(1.0, np.abs(expected).max()))

    def c_logits_error(self, model, tokens, expected, name):
        """max |logits of `mmb logits` on the exported model - expected|."""
        with tempfile.TemporaryDirectory() as tmp:
            export(model, os.path.join(tmp, "ck"), {"name": name})
            bundle = os.path.join(tmp, "m.mmb")
            pack(MMB, os.path.join(tmp, "ck"), bundle, "f32", "none")
            out = os.path.join(tmp, "logits.npy")
            subprocess.run([MMB, "logits", bundle, "--tokens", ",".join(map(str, tokens[0].tolist())),
                            "--out", out, "--threads", "1"], check=True, capture_output=True)
            got = np.load(out).astype(np.float64)
        self.assertEqual(got.shape, expected.shape)
        err = np.abs(got - expected).max()
        print(f"{name}: max |torch - C| = {err:.3g} (max |logit| {np.abs(expected).max():.3g})")
        return err


if __name__ == "__main__":
    if len(sys.argv) > 1:
        MMB = sys.argv.pop(1)
    unittest.main()
