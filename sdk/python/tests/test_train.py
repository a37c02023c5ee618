"""Trainer smoke run: a tiny MoE-Mamba's loss goes down over a few dozen steps, the
checkpoint resumes where it stopped, and the same seed gives the same losses; so does a
tiny hybrid's (Mamba, Mamba-2, attention, MoE and relu2 MLP layers); the training-time
routing options reach every router (MoE layers, a parallel layer's MoE part, routed
projections); the attention layer is causal, keeps a batch's rows apart and maps query
heads to key/value heads as the native library does, and trains every weight; layer
patterns and bad attention configs."""
import json
import os
import sys
import tempfile
import unittest

import torch

sys.path.insert(0, __file__.rsplit("/tests/", 1)[0])
from moemamba_kit import bpe, train  # noqa: E402
from moemamba_kit.model import MoEMamba, RoutingOptions, full_config  # noqa: E402

TEXT = ("The cat sat on the mat. The dog sat on the log. A bird sang in the tree, and the cat watched it.\n\n"
        "It was a quiet day in the small town; people walked to the market and talked about the weather.\n\n") * 40

CONFIG = {"d_model": 32, "vocab_size": 300, "layer_pattern": {"repeat": 2, "pattern": [
    {"kind": "mamba", "d_state": 8}, {"kind": "moe", "n_experts": 4, "top_k": 1, "d_ff": 64, "expert": "relu"}]}}

# MoE-Mamba with attention: one GQA layer with RoPE, one without, a Mamba-2 layer and a
# relu2 MLP, by a pattern string.
HYBRID = {"d_model": 32, "vocab_size": 300, "layer_pattern": {"pattern": "MEAE2-", "symbols": {
    "M": {"kind": "mamba", "d_state": 8},
    "E": {"kind": "moe", "n_experts": 4, "top_k": 1, "d_ff": 64, "expert": "relu"},
    "A": {"kind": "attention", "n_heads": 4, "n_kv_heads": 2, "rotary_dim": 8},
    "2": {"kind": "mamba2", "n_heads": 2, "d_state": 16},
    "-": {"kind": "mlp", "d_ff": 48, "expert": "relu2"}}}}


def training_args(tmp, config):
    """The trainer's arguments for `config` on TEXT (tokenizer, data and config in tmp)."""
    data = os.path.join(tmp, "train.txt")
    with open(data, "w") as f:
        f.write(TEXT)
    vocab, merges = bpe.train([TEXT], 299)
    tok = os.path.join(tmp, "tokenizer.json")
    bpe.Tokenizer(vocab, merges).save(tok)
    cfg = os.path.join(tmp, "config.json")
    with open(cfg, "w") as f:
        json.dump(config, f)
    return ["--config", cfg, "--data", data, "--valid", data, "--tokenizer", tok, "--batch", "8",
            "--seq", "32", "--lr", "1e-2", "--warmup", "5", "--log-every", "10", "--eval-every", "1000",
            "--eval-batches", "2", "--z-loss", "1e-3", "--threads", "1", "--seed", "3"]


class TrainSmoke(unittest.TestCase):
    def assert_learns(self, history, steps):
        losses = [r["loss"] for r in history]
        self.assertEqual(len(losses), steps)
        first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
        print(f"loss {first:.3f} -> {last:.3f}; validation {history[-1]['valid_loss']:.3f}")
        self.assertLess(last, first - 1.0)
        for load in history[-1]["load"]:
            self.assertAlmostEqual(sum(load), 1.0, places=2)

    def test_loss_goes_down_and_resumes(self):
        with tempfile.TemporaryDirectory() as tmp:
            common = training_args(tmp, CONFIG)
            full = train.main(common + ["--out", os.path.join(tmp, "a"), "--steps", "40"])
            self.assert_learns(full, 40)

            # A run stopped after its first step by --max-minutes, resumed to 40: the same
            # losses as one uninterrupted run.
            b = os.path.join(tmp, "b")
            train.main(common + ["--out", b, "--steps", "40", "--max-minutes", "1e-9"])
            resumed = train.main(common + ["--out", b, "--steps", "40"])
            self.assertEqual(len(resumed), 40)
            for x, y in zip(resumed, full):
                self.assertAlmostEqual(x["loss"], y["loss"], places=4)

    def test_hybrid_with_attention_learns(self):
        with tempfile.TemporaryDirectory() as tmp:
            self.assert_learns(train.main(training_args(tmp, HYBRID) + ["--out", tmp, "--steps", "40"]), 40)


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


class AttentionLayers(unittest.TestCase):
    def model(self, **attention):
        torch.manual_seed(2)
        layer = dict({"kind": "attention", "n_heads": 4, "n_kv_heads": 2, "rotary_dim": 4}, **attention)
        return MoEMamba({"d_model": 16, "vocab_size": 64, "layers": [layer, {"kind": "mamba", "d_state": 4}]})

    def test_causal_and_rows_apart(self):
        # Changing a later token leaves every earlier position's logits alone; a batch's
        # rows give what each gives alone.
        model = self.model().double().eval()
        tokens = torch.randint(0, 64, (2, 20), generator=torch.Generator().manual_seed(0))
        changed = tokens.clone()
        changed[0, 12:] = (changed[0, 12:] + 1) % 64
        with torch.no_grad():
            both = model(torch.cat([tokens, changed]))
            alone = torch.cat([model(tokens[i:i + 1]) for i in range(2)])
        self.assertLess((both[:2] - alone).abs().max().item(), 1e-12)
        self.assertLess((both[0, :12] - both[2, :12]).abs().max().item(), 1e-12)
        self.assertGreater((both[0, 12:] - both[2, 12:]).abs().max().item(), 1e-3)

    def test_query_heads_share_their_kv_head(self):
        # Key/value head j serves query heads 2j and 2j+1 (g = 2): the same as 4 key/value
        # heads whose weights repeat each of the 2 for its pair of query heads.
        gqa = self.model(qkv_bias=True).double().eval()
        mha = self.model(qkv_bias=True, n_kv_heads=4).double().eval()
        state = gqa.state_dict()
        for name in ("k_proj", "v_proj"):
            for part in ("weight", "bias"):
                key = f"layers.0.attn.{name}.{part}"
                state[key] = state[key].reshape(2, 1, 4, -1).expand(2, 2, 4, -1).reshape(16, -1).squeeze(-1)
        mha.load_state_dict(state)
        tokens = torch.randint(0, 64, (1, 15), generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            self.assertLess((gqa(tokens) - mha(tokens)).abs().max().item(), 1e-12)

    def test_gradients_reach_every_attention_weight(self):
        model = self.model(qkv_bias=True, out_bias=True).train()
        attn = model.attention_layers()[0]
        model(torch.randint(0, 64, (2, 10))).logsumexp(-1).mean().backward()
        for name, p in attn.named_parameters():
            self.assertGreater(p.grad.abs().sum().item(), 0.0, name)

    def test_pattern_string_and_bad_configs(self):
        c = full_config({"d_model": 16, "vocab_size": 64, "layer_pattern": {"repeat": 2, "pattern": "MA", "symbols": {
            "M": {"kind": "mamba"}, "A": {"kind": "attention", "n_heads": 2}}}})
        self.assertEqual([l["kind"] for l in c["layers"]], ["mamba", "attention"] * 2)
        a = c["layers"][1]
        self.assertEqual((a["n_kv_heads"], a["head_dim"], a["rotary_dim"], a["scale"]), (2, 8, 0, 0.0))
        bad = [{"n_heads": 4, "n_kv_heads": 3}, {"n_heads": 2, "rotary_dim": 3}, {"n_heads": 2, "rotary_dim": 10},
               {"n_kv_heads": 1}]
        for attention in bad:
            with self.assertRaises(ValueError, msg=str(attention)):
                full_config({"d_model": 16, "vocab_size": 64, "layers": [dict(attention, kind="attention")]})
        with self.assertRaises(ValueError):
            full_config({"d_model": 16, "vocab_size": 64, "layer_pattern": {"pattern": "MX", "symbols": {
                "M": {"kind": "mamba"}}}})


if __name__ == "__main__":
    unittest.main()
