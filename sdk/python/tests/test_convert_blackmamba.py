"""`mmb convert` on Zyphra BlackMamba checkpoints, against a float64 forward of the same
module tree. Usage: test_convert_blackmamba.py PATH_TO_MMB (tolerance: convert_common.py;
the checkpoint is bf16, so the reference runs on the same bf16 values widened to f64).

Layout (Zyphra/BlackMamba mamba_model.py, mamba_block.py, switch_mlp.py, mlp.py):
pytorch_model.bin = {"model": OrderedDict} of bf16 tensors; embedding.word_embeddings
(head tied), decoder.layers.N.{norm (RMSNorm), mixer}, mixer = MambaLayer for "r",
SwitchMLP (router Linear with bias; sigmoid, top-1, output * selected score;
local_experts.E.linear_fc1 [2F, H] = gelu-gated rows then up rows, linear_fc2) for an
expert count, MLP for "1"; decoder.final_layernorm = LayerNorm with bias.
"""
import collections
import os
import sys
import tempfile
import unittest

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convert_common as cc  # noqa: E402


class MLP(nn.Module):
    def __init__(self, H, d_ff, gated, bias):
        super().__init__()
        self.gated = gated
        self.linear_fc1 = nn.Linear(H, 2 * d_ff if gated else d_ff, bias=bias)
        self.linear_fc2 = nn.Linear(d_ff, H, bias=bias)

    def forward(self, h):
        x = self.linear_fc1(h)
        if self.gated:
            x = torch.chunk(x, 2, dim=-1)
            x = F.gelu(x[0]) * x[1]  # F.gelu: the exact erf form
        else:
            x = F.gelu(x)
        return self.linear_fc2(x)


class SwitchMLP(nn.Module):
    def __init__(self, H, n_experts, d_ff, gated, bias):
        super().__init__()
        self.router = nn.Linear(H, n_experts)  # always with bias
        self.local_experts = nn.ModuleList(MLP(H, d_ff, gated, bias) for _ in range(n_experts))

    def forward(self, h):
        score, index = torch.max(torch.sigmoid(self.router(h)), dim=-1)
        out = torch.stack([self.local_experts[int(e)](h[t]) for t, e in enumerate(index)])
        return out * score[:, None]


class Block(nn.Module):
    def __init__(self, H, mixer):
        super().__init__()
        self.mixer = mixer
        self.norm = cc.RMSNorm(H)

    def forward(self, r):
        return r + self.mixer(self.norm(r))


class ParallelBlock(nn.Module):
    """MambaBlockParallelMoe ("r8"): both parts read the block's input."""

    def __init__(self, H, mixer, moe):
        super().__init__()
        self.mixer = mixer
        self.norm = cc.RMSNorm(H)
        self.norm_moe = cc.RMSNorm(H)
        self.moe = moe

    def forward(self, r):
        return r + self.mixer(self.norm(r)) + self.moe(self.norm_moe(r))


class Embedding(nn.Module):
    def __init__(self, vocab, H):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, H)


class Decoder(nn.Module):
    def __init__(self, layers, H):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.final_layernorm = nn.LayerNorm(H, eps=1e-5)


class BlackMamba(nn.Module):
    def __init__(self, config):
        super().__init__()
        H, d_ff = config["hidden_size"], config["ffn_hidden_size"]
        gated, bias = config["swiglu"], config["add_bias_linear"]
        d_inner = config["expansion_factor"] * H
        layers = []
        for entry in config["mamba_moe_layers"]:
            if entry.startswith("r"):
                mixer = cc.Mamba1Mixer(H, d_inner, config["state_size"], config["conv_dimension"], cc.dt_rank_auto(H),
                                       bias=bias)
                if entry != "r":
                    layers.append(ParallelBlock(H, mixer, SwitchMLP(H, int(entry[1:]), d_ff, gated, bias)))
                    continue
            elif entry == "1":
                mixer = MLP(H, d_ff, gated, bias)
            else:
                mixer = SwitchMLP(H, int(entry), d_ff, gated, bias)
            layers.append(Block(H, mixer))
        self.embedding = Embedding(config["vocab_size"], H)
        self.decoder = Decoder(layers, H)

    def forward(self, tokens):
        r = self.embedding.word_embeddings(tokens)
        for layer in self.decoder.layers:
            r = layer(r)
        return self.decoder.final_layernorm(r) @ self.embedding.word_embeddings.weight.t()


def make_config(**overrides):
    config = {"num_layers": 4, "hidden_size": 32, "state_size": 8, "conv_dimension": 4, "vocab_size": 320,
              "expansion_factor": 2, "mamba_moe_layers": ["r", "4", "r", "1"], "ffn_hidden_size": 24,
              "add_bias_linear": False, "swiglu": True, "max_sequence_length": 2048}
    config.update(overrides)
    return config


def make_model(config, seed):
    """bf16 like the release, then widened: the reference sees exactly the stored values.
    Router biases are large (scale 1) so that they decide some tokens' experts."""
    model = BlackMamba(config)
    cc.randomize(model, seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("router.bias") or name.endswith("final_layernorm.bias"):
                p.copy_(torch.randn(p.shape, generator=torch.Generator().manual_seed(seed + 99)))
    return model.bfloat16().double()


def save(model, config, directory):
    state = collections.OrderedDict((k, v.bfloat16()) for k, v in model.state_dict().items())
    torch.save({"model": state}, os.path.join(directory, "pytorch_model.bin"))
    cc.write_config(directory, config)


def reference(model, tokens):
    with torch.no_grad():
        return model(tokens).numpy()


def variant(model, edit):
    """A copy of the model with one pitfall made: the logits a wrong converter would give."""
    wrong = BlackMamba(model.config)
    wrong.load_state_dict(model.state_dict())
    wrong.double()
    with torch.no_grad():
        edit(wrong)
    return wrong


class BlackMambaConvert(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.config = make_config()
        cls.model = make_model(cls.config, 11)
        cls.model.config = cls.config
        cls.tokens = cc.tokens_for(cls.config["vocab_size"], n=32, seed=11)
        cls.right = reference(cls.model, cls.tokens)
        cls.tmp = tempfile.TemporaryDirectory()
        save(cls.model, cls.config, cls.tmp.name)
        cls.got = None

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def library(self):
        if BlackMambaConvert.got is None:
            BlackMambaConvert.got = cc.convert_and_run(self, self.tmp.name, self.tokens)
        return BlackMambaConvert.got

    def test_checkpoint_is_bf16_model_dict(self):
        ck = torch.load(os.path.join(self.tmp.name, "pytorch_model.bin"), weights_only=True)
        self.assertEqual(list(ck), ["model"])
        self.assertTrue(all(t.dtype == torch.bfloat16 for t in ck["model"].values()))
        self.assertIn("decoder.layers.1.mixer.router.bias", ck["model"])
        self.assertIn("decoder.layers.1.mixer.local_experts.3.linear_fc1.weight", ck["model"])
        self.assertIn("decoder.layers.3.mixer.linear_fc1.weight", ck["model"])

    def test_logits_match(self):
        cc.assert_matches(self, self.library(), self.right, "BlackMamba (r, 4 experts, r, dense)")

    def test_router_bias_is_kept(self):
        def drop(m):
            m.decoder.layers[1].mixer.router.bias.zero_()
        cc.assert_sensitive(self, self.right, reference(variant(self.model, drop), self.tokens), "router bias dropped")
        cc.assert_matches(self, self.library(), self.right, "BlackMamba router bias")

    def test_sigmoid_score_scales_the_expert(self):
        def softmax_router(m):
            moe = m.decoder.layers[1].mixer
            moe.forward = lambda h: _softmax_switch(moe, h)
        cc.assert_sensitive(self, self.right, reference(variant(self.model, softmax_router), self.tokens),
                            "softmax instead of sigmoid router")
        cc.assert_matches(self, self.library(), self.right, "BlackMamba sigmoid router")

    def test_gate_rows_come_before_up_rows(self):
        def swap(m):
            for mlp in [m.decoder.layers[3].mixer, *m.decoder.layers[1].mixer.local_experts]:
                w = mlp.linear_fc1.weight
                w.copy_(torch.cat([w[w.shape[0] // 2:], w[:w.shape[0] // 2]]))
        cc.assert_sensitive(self, self.right, reference(variant(self.model, swap), self.tokens), "gate/up halves swapped")
        cc.assert_matches(self, self.library(), self.right, "BlackMamba gate/up order")

    def test_final_layernorm_bias_is_kept(self):
        def drop(m):
            m.decoder.final_layernorm.bias.zero_()
        cc.assert_sensitive(self, self.right, reference(variant(self.model, drop), self.tokens), "final LayerNorm bias dropped")
        cc.assert_matches(self, self.library(), self.right, "BlackMamba final LayerNorm bias")

    def test_biases_and_plain_gelu_experts(self):
        """add_bias_linear true (in/out_proj, experts) and swiglu false (gelu FFN experts)."""
        config = make_config(add_bias_linear=True, swiglu=False, mamba_moe_layers=["r", "3"], num_layers=2)
        model = make_model(config, 12)
        tokens = cc.tokens_for(config["vocab_size"], seed=12)
        with tempfile.TemporaryDirectory() as d:
            save(model, config, d)
            got = cc.convert_and_run(self, d, tokens)
        cc.assert_matches(self, got, reference(model, tokens), "BlackMamba with biases, gelu experts")


class ParallelBlocks(unittest.TestCase):
    def test_parallel_mamba_and_moe_block(self):
        """"r4": r + mamba(norm(r)) + moe(norm_moe(r)), with decoder.layers.N.{norm_moe, moe.*}."""
        config = make_config(mamba_moe_layers=["r4", "3", "r"], num_layers=3)
        model = make_model(config, 13)
        tokens = cc.tokens_for(config["vocab_size"], seed=13)
        with tempfile.TemporaryDirectory() as d:
            save(model, config, d)
            ck = torch.load(os.path.join(d, "pytorch_model.bin"), weights_only=True)["model"]
            self.assertIn("decoder.layers.0.norm_moe.weight", ck)
            self.assertIn("decoder.layers.0.moe.router.bias", ck)
            got = cc.convert_and_run(self, d, tokens)
        cc.assert_matches(self, got, reference(model, tokens), "BlackMamba parallel block")


def _softmax_switch(moe, h):
    score, index = torch.max(torch.softmax(moe.router(h), dim=-1), dim=-1)
    out = torch.stack([moe.local_experts[int(e)](h[t]) for t, e in enumerate(index)])
    return out * score[:, None]


if __name__ == "__main__":
    cc.setup_mmb(sys.argv)
    unittest.main()
