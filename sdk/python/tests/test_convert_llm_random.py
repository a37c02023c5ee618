"""`mmb convert` on llm-random MoE-Mamba checkpoints (the MoE-Mamba paper's trainer),
against a float64 forward of the same module tree. Usage: test_convert_llm_random.py
PATH_TO_MMB (tolerance: convert_common.py).

Layout (llm-random lizrd/core/llm.py: LLM, TransformerTower, TransformerBlock,
PreNormBlock, Residual; research/conditional/moe_layers/token_choice.py, moe_gating.py,
expert_types.py): {"model": state dict, ...}; embedding_layer.layers.0 (nn.Embedding),
encoder.blocks.block_N.block.residual_NAME.layer.{pre_norm (LayerNorm), NAME},
head (Linear, untied), no final norm. MoE: gating.gate [d, E], softmax over experts,
top-1, output * that probability; experts expert_inner_function.lin1_weight [E, d, F],
lin2_weight [E, F, d] ([in, out]), ReLU.
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
sys.path.insert(0, __file__.rsplit("/tests/", 1)[0])
from moemamba_kit.convert.safe_load import load_pickle  # noqa: E402


class ExpertFF(nn.Module):
    def __init__(self, E, d, d_ff):
        super().__init__()
        self.lin1_weight = nn.Parameter(torch.zeros(E, d, d_ff))
        self.lin2_weight = nn.Parameter(torch.zeros(E, d_ff, d))


class TokenGating(nn.Module):
    def __init__(self, d, E):
        super().__init__()
        self.gate = nn.Parameter(torch.zeros(d, E))


class TokenChoiceFF(nn.Module):
    def __init__(self, d, E, d_ff):
        super().__init__()
        self.expert_inner_function = ExpertFF(E, d, d_ff)
        self.gating = TokenGating(d, E)

    def forward(self, x):
        p = torch.softmax(x @ self.gating.gate, dim=-1)
        value, index = torch.max(p, dim=-1)
        ffn = self.expert_inner_function
        out = torch.stack([F.relu(x[t] @ ffn.lin1_weight[e]) @ ffn.lin2_weight[e] for t, e in enumerate(index)])
        return out * value[:, None]


class Residual(nn.Module):
    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        return x + self.layer(x)


def pre_norm_block(d, name, layer):
    return Residual(nn.Sequential(collections.OrderedDict([("pre_norm", nn.LayerNorm(d)), (name, layer)])))


class TransformerBlock(nn.Module):
    def __init__(self, layers):
        super().__init__()
        self.block = nn.Sequential(collections.OrderedDict((f"residual_{n}", l) for n, l in layers))

    def forward(self, x):
        return self.block(x)


class Tower(nn.Module):
    def __init__(self, blocks):
        super().__init__()
        self.blocks = nn.Sequential(collections.OrderedDict((f"block_{i}", b) for i, b in enumerate(blocks)))


class EmbeddingLayer(nn.Module):
    def __init__(self, vocab, d):
        super().__init__()
        self.layers = nn.ModuleList([nn.Embedding(vocab, d)])


class LLM(nn.Module):
    def __init__(self, vocab=300, d=32, n_blocks=2, E=4, d_ff=48, d_state=8):
        super().__init__()
        self.embedding_layer = EmbeddingLayer(vocab, d)
        blocks = []
        for _ in range(n_blocks):
            mamba = cc.Mamba1Mixer(d, 2 * d, d_state, 4, cc.dt_rank_auto(d))
            blocks.append(TransformerBlock([("mamba", pre_norm_block(d, "mamba", mamba)),
                                            ("feedforward", pre_norm_block(d, "feedforward", TokenChoiceFF(d, E, d_ff)))]))
        self.encoder = Tower(blocks)
        self.head = nn.Linear(d, vocab, bias=False)

    def forward(self, tokens):
        x = self.embedding_layer.layers[0](tokens)
        for block in self.encoder.blocks:
            x = block(x)
        return self.head(x)  # no final norm


def make_model(seed):
    model = LLM()
    cc.randomize(model, seed)
    with torch.no_grad():  # LayerNorm biases big enough to matter
        for name, p in model.named_parameters():
            if name.endswith("pre_norm.bias"):
                p.mul_(3)
    return model.float().double()


# Earlier llm-random TokenChoiceFF kept the experts and the router on the layer itself.
OLD_NAMES = {".expert_inner_function.lin1_weight": ".lin1_weight", ".expert_inner_function.lin2_weight": ".lin2_weight",
             ".gating.gate": ".router.gate"}


def save(model, path, wrap="", old_names=False):
    """torch.save({"model": ..., "step": ...}); `wrap` inserts a wrapper's name (FSDP)."""
    state = collections.OrderedDict()
    for k, v in model.float().state_dict().items():
        for new, old in OLD_NAMES.items() if old_names else ():
            k = k.replace(new, old)
        if wrap and k.startswith("encoder.blocks."):
            parts = k.split(".")
            k = ".".join(parts[:3] + [wrap] + parts[3:])
        state[k] = v
    model.double()
    torch.save({"model": state, "step": 1000, "optimizer": {"state": {}, "param_groups": [{"lr": 1e-3}]}}, path)


def reference(model, tokens):
    with torch.no_grad():
        return model(tokens).numpy()


class LlmRandomConvert(unittest.TestCase):
    def test_logits_match(self):
        model = make_model(21)
        tokens = cc.tokens_for(300, n=32, seed=21)
        right = reference(model, tokens)
        # Routing by the softmax probability, not renormalized to 1 (top-1 would make it 1).
        wrong = LLM()
        wrong.load_state_dict(model.state_dict())
        wrong.double()
        for block in wrong.encoder.blocks:
            moe = block.block.residual_feedforward.layer.feedforward
            moe.forward = (lambda m: lambda x: _renormalized(m, x))(moe)
        cc.assert_sensitive(self, right, reference(wrong, tokens), "gates renormalized to 1")
        with tempfile.TemporaryDirectory() as d:
            save(model, os.path.join(d, "1000.pt"))
            got = cc.convert_and_run(self, d, tokens)
        cc.assert_matches(self, got, right, "llm-random MoE-Mamba")

    def test_expert_weights_are_transposed(self):
        """lin1/lin2 are [in, out]: taken as nn.Linear's [out, in] they would not even fit
        unless d == d_ff; with d_ff == d they fit and give other logits."""
        model = LLM(d=32, d_ff=32)
        cc.randomize(model, 22)
        model = model.double()
        tokens = cc.tokens_for(300, seed=22)
        right = reference(model, tokens)
        wrong = LLM(d=32, d_ff=32)
        wrong.load_state_dict(model.state_dict())
        wrong.double()
        with torch.no_grad():
            for block in wrong.encoder.blocks:
                ffn = block.block.residual_feedforward.layer.feedforward.expert_inner_function
                ffn.lin1_weight.copy_(ffn.lin1_weight.transpose(1, 2).clone())
                ffn.lin2_weight.copy_(ffn.lin2_weight.transpose(1, 2).clone())
        cc.assert_sensitive(self, right, reference(wrong, tokens), "expert weights not transposed")
        with tempfile.TemporaryDirectory() as d:
            save(model, os.path.join(d, "500.pt"))
            got = cc.convert_and_run(self, os.path.join(d, "500.pt"), tokens)
        cc.assert_matches(self, got, right, "llm-random d_ff == d")

    def test_fsdp_wrapper_names_are_stripped(self):
        model = make_model(23)
        tokens = cc.tokens_for(300, seed=23)
        with tempfile.TemporaryDirectory() as d:
            save(model, os.path.join(d, "2000.pt"), wrap="_fsdp_wrapped_module")
            ck = load_pickle(os.path.join(d, "2000.pt"))
            self.assertTrue(any("._fsdp_wrapped_module." in k for k in ck["model"]))
            got = cc.convert_and_run(self, d, tokens)
        cc.assert_matches(self, got, reference(model, tokens), "llm-random under FSDP names")

    def test_earlier_token_choice_names(self):
        model = make_model(24)
        tokens = cc.tokens_for(300, seed=24)
        with tempfile.TemporaryDirectory() as d:
            save(model, os.path.join(d, "3000.pt"), old_names=True)
            self.assertIn("encoder.blocks.block_0.block.residual_feedforward.layer.feedforward.router.gate",
                          load_pickle(os.path.join(d, "3000.pt"))["model"])
            got = cc.convert_and_run(self, d, tokens)
        cc.assert_matches(self, got, reference(model, tokens), "llm-random, earlier TokenChoiceFF names")


def _renormalized(moe, x):
    p = torch.softmax(x @ moe.gating.gate, dim=-1)
    index = torch.argmax(p, dim=-1)
    ffn = moe.expert_inner_function
    return torch.stack([F.relu(x[t] @ ffn.lin1_weight[e]) @ ffn.lin2_weight[e] for t, e in enumerate(index)])


if __name__ == "__main__":
    cc.setup_mmb(sys.argv)
    unittest.main()
