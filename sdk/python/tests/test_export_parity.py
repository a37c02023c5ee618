"""Exported models give the same logits in PyTorch and in the C library (`mmb logits`).

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
}


class ExportParity(unittest.TestCase):
    def test_logits_match_c_library(self):
        self.assertTrue(os.path.exists(MMB), f"set MMB_CLI to the mmb program (got {MMB!r})")
        for i, (name, config) in enumerate(CONFIGS.items()):
            with self.subTest(name), tempfile.TemporaryDirectory() as tmp:
                torch.manual_seed(i)
                model = MoEMamba(config).double().eval()
                randomize(model, 10 + i)
                V = model.config["vocab_size"]
                tokens = torch.randint(0, V, (1, 37), generator=torch.Generator().manual_seed(i))
                with torch.no_grad():
                    expected = model(tokens)[0].numpy()
                export(model, os.path.join(tmp, "ck"), {"name": name})
                bundle = os.path.join(tmp, "m.mmb")
                pack(MMB, os.path.join(tmp, "ck"), bundle, "f32", "none")
                out = os.path.join(tmp, "logits.npy")
                subprocess.run([MMB, "logits", bundle, "--tokens", ",".join(map(str, tokens[0].tolist())),
                                "--out", out, "--threads", "1"], check=True, capture_output=True)
                got = np.load(out).astype(np.float64)
                self.assertEqual(got.shape, expected.shape)
                err = np.abs(got - expected).max()
                scale = max(1.0, np.abs(expected).max())
                print(f"{name}: max |torch - C| = {err:.3g} (max |logit| {np.abs(expected).max():.3g})")
                self.assertLessEqual(err, TOLERANCE * scale)
                # Non-trivial logits: agreeing near-zero outputs would prove little.
                self.assertGreater(np.abs(expected).max(), 0.1)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        MMB = sys.argv.pop(1)
    unittest.main()
