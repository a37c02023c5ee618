"""Trainer smoke run: a tiny MoE-Mamba's loss goes down over a few dozen steps, the
checkpoint resumes where it stopped, and the same seed gives the same losses; the
training-time routing options reach every router (MoE layers, a parallel layer's MoE
part, routed projections)."""
import json
import os
import sys
import tempfile
import unittest

import torch

sys.path.insert(0, __file__.rsplit("/tests/", 1)[0])
from moemamba_kit import bpe, train  # noqa: E402
from moemamba_kit.model import MoEMamba, RoutingOptions  # noqa: E402

TEXT = ("The cat sat on the mat. The dog sat on the log. A bird sang in the tree, and the cat watched it.\n\n"
        "It was a quiet day in the small town; people walked to the market and talked about the weather.\n\n") * 40

CONFIG = {"d_model": 32, "vocab_size": 300, "layer_pattern": {"repeat": 2, "pattern": [
    {"kind": "mamba", "d_state": 8}, {"kind": "moe", "n_experts": 4, "top_k": 1, "d_ff": 64, "expert": "relu"}]}}


class TrainSmoke(unittest.TestCase):
    def test_loss_goes_down_and_resumes(self):
        with tempfile.TemporaryDirectory() as tmp:
            data = os.path.join(tmp, "train.txt")
            with open(data, "w") as f:
                f.write(TEXT)
            vocab, merges = bpe.train([TEXT], 299)
            tok = os.path.join(tmp, "tokenizer.json")
            bpe.Tokenizer(vocab, merges).save(tok)
            cfg = os.path.join(tmp, "config.json")
            with open(cfg, "w") as f:
                json.dump(CONFIG, f)
            common = ["--config", cfg, "--data", data, "--valid", data, "--tokenizer", tok, "--batch", "8",
                      "--seq", "32", "--lr", "1e-2", "--warmup", "5", "--log-every", "10", "--eval-every", "1000",
                      "--eval-batches", "2", "--z-loss", "1e-3", "--threads", "1", "--seed", "3"]
            full = train.main(common + ["--out", os.path.join(tmp, "a"), "--steps", "40"])
            losses = [r["loss"] for r in full]
            self.assertEqual(len(losses), 40)
            first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
            print(f"loss {first:.3f} -> {last:.3f}; validation {full[-1]['valid_loss']:.3f}")
            self.assertLess(last, first - 1.0)
            for load in full[-1]["load"]:
                self.assertAlmostEqual(sum(load), 1.0, places=2)

            # A run stopped after its first step by --max-minutes, resumed to 40: the same
            # losses as one uninterrupted run.
            b = os.path.join(tmp, "b")
            train.main(common + ["--out", b, "--steps", "40", "--max-minutes", "1e-9"])
            resumed = train.main(common + ["--out", b, "--steps", "40"])
            self.assertEqual(len(resumed), 40)
            for x, y in zip(resumed, full):
                self.assertAlmostEqual(x["loss"], y["loss"], places=4)


class RoutingEverywhere(unittest.TestCase):
    CONFIG = {"d_model": 16, "vocab_size": 64, "layers": [
        {"kind": "parallel", "mamba": {"d_state": 4, "out_proj_experts": {"n_experts": 4}},
         "moe": {"n_experts": 4, "d_ff": 16, "expert": "relu"}},
        {"kind": "mamba", "d_state": 4, "x_proj_experts": {"n_experts": 3}, "z_proj_experts": {"n_experts": 2}}]}

    def test_every_router_has_losses_load_and_gradients(self):
        torch.manual_seed(0)
        model = MoEMamba(self.CONFIG).train()
        model.set_routing(RoutingOptions(capacity_factor=1.0, noise_std=0.1, z_loss=1e-3))
        routers = model.routed_layers()
        self.assertEqual(len(routers), 4)  # out_proj, the MoE part, x_proj_in, z_proj_in
        tokens = torch.randint(0, 64, (2, 24))
        loss = model(tokens).logsumexp(-1).mean()
        for m in routers:
            self.assertEqual(m.load.numel(), m.l["n_experts"])
            self.assertAlmostEqual(m.load.sum().item(), 1.0, places=5)
            loss = loss + 0.01 * m.aux_loss + m.z_loss
            self.assertGreater(m.z_loss.item(), 0.0)
        loss.backward()
        for m in routers:
            self.assertGreater(m.router.weight.grad.abs().sum().item(), 0.0)

    def test_capacity_drops_overflowing_tokens_of_a_routed_projection(self):
        torch.manual_seed(1)
        model = MoEMamba({"d_model": 8, "vocab_size": 32, "layers": [
            {"kind": "mamba", "d_state": 2, "out_proj_experts": {"n_experts": 2}}]})
        proj = model.layers[0].mamba.out_proj
        with torch.no_grad():
            proj.router.weight.zero_()
            proj.router.weight[0] += 1.0  # every token prefers expert 0 (positive inputs)
        u = torch.rand(1, 10, proj.experts[0].in_features) + 0.1
        proj.train()
        proj.routing = RoutingOptions(capacity_factor=1.0)  # capacity ceil(10 / 2) = 5
        out = proj(u)
        self.assertEqual((out.abs().sum(-1) > 0).sum().item(), 5)
        proj.eval()  # inference: no capacity limit
        self.assertEqual((proj(u).abs().sum(-1) > 0).sum().item(), 10)


if __name__ == "__main__":
    unittest.main()
