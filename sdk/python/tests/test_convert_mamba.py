"""`mmb convert` on Hugging Face MambaForCausalLM and mamba_ssm MambaLMHeadModel
checkpoints (pytorch_model.bin and safetensors), against a float64 forward of the same
module tree. Usage: test_convert_mamba.py PATH_TO_MMB (tolerance: convert_common.py).

Layouts (transformers models/mamba/modeling_mamba.py; state-spaces/mamba
mamba_ssm/models/mixer_seq_simple.py): backbone.embeddings (HF) / backbone.embedding
(mamba_ssm), backbone.layers.N.{norm (RMSNorm), mixer}, backbone.norm_f, lm_head (HF
omits it from the file when tied; mamba_ssm saves both). mamba_ssm pads the vocab to
pad_vocab_size_multiple while config.json keeps the real size.
"""
import json
import os
import sys
import tempfile
import unittest

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, __file__.rsplit("/tests/", 1)[0])
import convert_common as cc  # noqa: E402
from moemamba_kit.export import write_safetensors  # noqa: E402


class Block(nn.Module):
    def __init__(self, d_model, mixer):
        super().__init__()
        self.norm = cc.RMSNorm(d_model)
        self.mixer = mixer

    def forward(self, r):
        return r + self.mixer(self.norm(r))


class Backbone(nn.Module):
    def __init__(self, embedding_name, vocab_rows, d_model, n_layer, mixer_args):
        super().__init__()
        self.embedding_name = embedding_name
        setattr(self, embedding_name, nn.Embedding(vocab_rows, d_model))
        self.layers = nn.ModuleList(Block(d_model, cc.Mamba1Mixer(d_model, **mixer_args)) for _ in range(n_layer))
        self.norm_f = cc.RMSNorm(d_model)

    def forward(self, tokens):
        r = getattr(self, self.embedding_name)(tokens)
        for layer in self.layers:
            r = layer(r)
        return self.norm_f(r)


class MambaLM(nn.Module):
    """MambaForCausalLM (embedding_name "embeddings") or MambaLMHeadModel ("embedding")."""

    def __init__(self, embedding_name, vocab_rows, d_model, n_layer, mixer_args, tied):
        super().__init__()
        self.backbone = Backbone(embedding_name, vocab_rows, d_model, n_layer, mixer_args)
        self.lm_head = nn.Linear(d_model, vocab_rows, bias=False)
        self.tied = tied

    def tie(self):
        if self.tied:
            self.lm_head.weight = getattr(self.backbone, self.backbone.embedding_name).weight

    def forward(self, tokens):
        return self.lm_head(self.backbone(tokens))


def hf_model(d_model=40, vocab=300, n_layer=2, tied=True, seed=1):
    """hidden_size 40: time_step_rank "auto" = ceil(40/16) = 3, where floor would give 2."""
    mixer = dict(d_inner=2 * d_model, d_state=8, d_conv=4, dt_rank=cc.dt_rank_auto(d_model))
    model = MambaLM("embeddings", vocab, d_model, n_layer, mixer, tied)
    cc.randomize(model, seed)
    model.tie()
    config = {"model_type": "mamba", "architectures": ["MambaForCausalLM"], "hidden_size": d_model,
              "num_hidden_layers": n_layer, "vocab_size": vocab, "state_size": 8, "expand": 2, "conv_kernel": 4,
              "time_step_rank": "auto", "use_bias": False, "use_conv_bias": True, "layer_norm_epsilon": 1e-5,
              "hidden_act": "silu", "tie_word_embeddings": tied}
    return model.float().double(), config


def save_hf_bin(model, config, directory):
    state = model.float().state_dict()
    if model.tied:
        del state["lm_head.weight"]  # transformers drops tied weights from the saved file
    torch.save(state, os.path.join(directory, "pytorch_model.bin"))
    cc.write_config(directory, config)
    model.double()


def reference(model, tokens):
    with torch.no_grad():
        return model(tokens).numpy()


class HuggingFaceMamba(unittest.TestCase):
    def test_bin_tied_head_absent_from_file(self):
        model, config = hf_model(tied=True)
        tokens = cc.tokens_for(config["vocab_size"])
        with tempfile.TemporaryDirectory() as d:
            save_hf_bin(model, config, d)
            self.assertNotIn("lm_head.weight", torch.load(os.path.join(d, "pytorch_model.bin"), weights_only=True))
            got = cc.convert_and_run(self, d, tokens)
        cc.assert_matches(self, got, reference(model, tokens), "hf-mamba .bin, tied head")

    def test_bin_untied_head_is_used(self):
        model, config = hf_model(tied=False, seed=2)
        tokens = cc.tokens_for(config["vocab_size"], seed=2)
        right = reference(model, tokens)
        with torch.no_grad():
            wrong = (model.backbone(tokens) @ model.backbone.embeddings.weight.t()).numpy()
        cc.assert_sensitive(self, right, wrong, "untied head replaced by the embedding")
        with tempfile.TemporaryDirectory() as d:
            save_hf_bin(model, config, d)
            got = cc.convert_and_run(self, d, tokens)
        cc.assert_matches(self, got, right, "hf-mamba .bin, untied head")

    def test_conv1d_taps_keep_their_order(self):
        """conv1d.weight [d_inner, 1, d_conv]: tap d_conv-1 multiplies the newest input."""
        model, config = hf_model(seed=3)
        tokens = cc.tokens_for(config["vocab_size"], seed=3)
        right = reference(model, tokens)
        flipped, _ = hf_model(seed=3)
        with torch.no_grad():
            for layer in flipped.backbone.layers:
                layer.mixer.conv1d.weight.copy_(layer.mixer.conv1d.weight.flip(-1))
        cc.assert_sensitive(self, right, reference(flipped, tokens), "conv1d taps reversed")
        with tempfile.TemporaryDirectory() as d:
            save_hf_bin(model, config, d)
            got = cc.convert_and_run(self, d, tokens)
        cc.assert_matches(self, got, right, "hf-mamba conv1d layout")

    def test_dt_rank_auto_is_the_ceiling(self):
        """"auto" with hidden_size 40 must mean 3; a converter using 2 finds x_proj's shape wrong."""
        model, config = hf_model(seed=4)
        self.assertEqual(model.backbone.layers[0].mixer.x_proj.weight.shape[0], 3 + 2 * 8)
        tokens = cc.tokens_for(config["vocab_size"], seed=4)
        with tempfile.TemporaryDirectory() as d:
            save_hf_bin(model, config, d)
            got = cc.convert_and_run(self, d, tokens)
            cc.assert_matches(self, got, reference(model, tokens), "hf-mamba time_step_rank auto")
            # The shapes are checked: the floor's rank is refused, not misread.
            cc.write_config(d, dict(config, time_step_rank=2))
            r = cc.mmb_convert(d, os.path.join(d, "bad.mmb"))
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("x_proj.weight", r.stderr)

    def test_sharded_bin_with_index(self):
        """transformers' sharded pickles: pytorch_model-0000K-of-0000N.bin + an index."""
        model, config = hf_model(seed=6)
        tokens = cc.tokens_for(config["vocab_size"], seed=6)
        with tempfile.TemporaryDirectory() as d:
            state = {k: v for k, v in model.float().state_dict().items() if k != "lm_head.weight"}
            model.double()
            names = sorted(state)
            shards = {"pytorch_model-00001-of-00002.bin": names[::2], "pytorch_model-00002-of-00002.bin": names[1::2]}
            for shard, keys in shards.items():
                torch.save({k: state[k] for k in keys}, os.path.join(d, shard))
            with open(os.path.join(d, "pytorch_model.bin.index.json"), "w") as f:
                json.dump({"metadata": {}, "weight_map": {k: s for s, keys in shards.items() for k in keys}}, f)
            cc.write_config(d, config)
            got = cc.convert_and_run(self, d, tokens)
        cc.assert_matches(self, got, reference(model, tokens), "hf-mamba sharded .bin")

    def test_use_bias_defaults_to_true(self):
        """transformers' MambaConfig has use_bias=True: a config.json without the key has
        in_proj and out_proj biases (a converter defaulting to false refuses them)."""
        d_model = 32
        mixer = dict(d_inner=64, d_state=8, d_conv=4, dt_rank=cc.dt_rank_auto(d_model), bias=True)
        model = MambaLM("embeddings", 300, d_model, 2, mixer, tied=True)
        cc.randomize(model, 8)
        model.tie()
        model = model.float().double()
        config = {"model_type": "mamba", "hidden_size": d_model, "num_hidden_layers": 2, "vocab_size": 300,
                  "state_size": 8}
        tokens = cc.tokens_for(300, seed=8)
        with tempfile.TemporaryDirectory() as d:
            save_hf_bin(model, config, d)
            self.assertIn("backbone.layers.0.mixer.in_proj.bias",
                          torch.load(os.path.join(d, "pytorch_model.bin"), weights_only=True))
            got = cc.convert_and_run(self, d, tokens)
        cc.assert_matches(self, got, reference(model, tokens), "hf-mamba use_bias default")

    def test_safetensors_packs_directly(self):
        model, config = hf_model(seed=5)
        tokens = cc.tokens_for(config["vocab_size"], seed=5)
        with tempfile.TemporaryDirectory() as d:
            state = {k: v for k, v in model.float().state_dict().items() if k != "lm_head.weight"}
            write_safetensors(os.path.join(d, "model.safetensors"), state)
            cc.write_config(d, config)
            model.double()
            # No Python is needed on this path.
            with tempfile.TemporaryDirectory() as tmp:
                bundle = os.path.join(tmp, "m.mmb")
                r = cc.mmb_convert(d, bundle, env={"MMB_PYTHON": "/nonexistent/python3"})
                self.assertEqual(r.returncode, 0, r.stderr)
                got = cc.library_logits(bundle, tokens)
        cc.assert_matches(self, got, reference(model, tokens), "hf-mamba safetensors")


class MambaSsm(unittest.TestCase):
    def test_padded_vocab_and_saved_tied_head(self):
        """vocab 300 padded to 304 rows (pad_vocab_size_multiple 8), embedding and lm_head
        both saved: 300 logits come back, equal to the first 300 of the padded model's."""
        d_model, vocab, rows = 32, 300, 304
        mixer = dict(d_inner=64, d_state=16, d_conv=4, dt_rank=cc.dt_rank_auto(d_model))
        model = MambaLM("embedding", rows, d_model, 3, mixer, tied=True)
        cc.randomize(model, 7)
        model.tie()
        model = model.float().double()
        config = {"d_model": d_model, "n_layer": 3, "vocab_size": vocab, "ssm_cfg": {}, "rms_norm": True,
                  "residual_in_fp32": True, "fused_add_norm": True, "pad_vocab_size_multiple": 8, "tie_embeddings": True}
        tokens = cc.tokens_for(vocab, seed=7)
        full = reference(model, tokens)
        self.assertEqual(full.shape, (len(tokens), rows))
        self.assertGreater(abs(full[:, vocab:]).max(), 0.1)  # the padding rows are not zeros
        with tempfile.TemporaryDirectory() as d:
            state = model.float().state_dict()
            self.assertIn("lm_head.weight", state)
            self.assertIn("backbone.embedding.weight", state)
            torch.save(state, os.path.join(d, "pytorch_model.bin"))
            model.double()
            cc.write_config(d, config)
            got = cc.convert_and_run(self, d, tokens)
        self.assertEqual(got.shape, (len(tokens), vocab))
        cc.assert_matches(self, got, full[:, :vocab], "mamba_ssm padded vocab")


if __name__ == "__main__":
    cc.setup_mmb(sys.argv)
    unittest.main()
