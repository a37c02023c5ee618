"""`mmb convert` refuses what it cannot convert faithfully, with a message naming what
was expected. Usage: test_convert_bad_input.py PATH_TO_MMB."""
import argparse
import os
import sys
import tempfile
import unittest

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convert_common as cc  # noqa: E402
import test_convert_blackmamba as bm  # noqa: E402
import test_convert_mamba as hf  # noqa: E402


class WritesAFile:
    """Unpickling this calls open(path, "w"): the file appearing proves code ran."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


class BadInput(unittest.TestCase):
    def convert_fails(self, src, *, env=None):
        with tempfile.TemporaryDirectory() as tmp:
            bundle = os.path.join(tmp, "m.mmb")
            r = cc.mmb_convert(src, bundle, env=env)
            self.assertNotEqual(r.returncode, 0, r.stdout)
            self.assertFalse(os.path.exists(bundle), "no bundle is written on failure")
            print(f"  {r.stderr.strip()}")
            return r.stderr

    def test_pickle_with_code_is_refused_without_running_it(self):
        """Both readers: torch's weights-only loop (no float in the pickle) and the
        restricted standard unpickler it hands over to at the first float."""
        for floats in ({}, {"lr": 0.001}):
            with self.subTest(floats=bool(floats)), tempfile.TemporaryDirectory() as d:
                marker = os.path.join(d, "code-ran")
                model, config = hf.hf_model()
                torch.save({"model": model.float().state_dict(), **floats, "extra": WritesAFile(marker)},
                           os.path.join(d, "pytorch_model.bin"))
                cc.write_config(d, config)
                err = self.convert_fails(d)
                self.assertIn("refused", err)
                self.assertIn(".open", err)  # the global it would have called (io.open)
                self.assertFalse(os.path.exists(marker), "unpickling ran code from the checkpoint")

    def test_floats_beside_the_weights_are_read(self):
        """An optimizer's learning rates and betas are plain numbers: accepted."""
        model, config = hf.hf_model()
        tokens = cc.tokens_for(config["vocab_size"])
        with tempfile.TemporaryDirectory() as d:
            state = {k: v for k, v in model.float().state_dict().items() if k != "lm_head.weight"}
            model.double()
            torch.save({"model": state, "optimizer": {"param_groups": [{"lr": 1e-3, "betas": (0.9, 0.95)}]}},
                       os.path.join(d, "pytorch_model.bin"))
            cc.write_config(d, config)
            got = cc.convert_and_run(self, d, tokens)
        cc.assert_matches(self, got, hf.reference(model, tokens), "checkpoint with optimizer floats")

    def test_pickle_with_a_namespace_is_refused(self):
        """argparse.Namespace (training args saved beside the weights) is not a plain container,
        also when the pickle holds floats (the fallback reader applies the same allow-list)."""
        with tempfile.TemporaryDirectory() as d:
            model, config = hf.hf_model()
            torch.save({"model": model.float().state_dict(), "lr": 0.001, "args": argparse.Namespace(lr=0.001)},
                       os.path.join(d, "pytorch_model.bin"))
            cc.write_config(d, config)
            err = self.convert_fails(d)
            self.assertIn("refused", err)
            self.assertIn("argparse.Namespace", err)

    def test_unknown_family_names_the_expected_ones(self):
        with tempfile.TemporaryDirectory() as d:
            torch.save({"transformer.wte.weight": torch.zeros(4, 2)}, os.path.join(d, "pytorch_model.bin"))
            cc.write_config(d, {"model_type": "gpt2", "n_embd": 2})
            err = self.convert_fails(d)
            self.assertIn("unknown checkpoint family", err)
            for expected in ('"model_type": "mamba"', "mamba_moe_layers", "encoder.blocks.block_N", "n_layer"):
                self.assertIn(expected, err)

    def test_missing_router_bias_is_named(self):
        config = bm.make_config()
        model = bm.make_model(config, 31)
        with tempfile.TemporaryDirectory() as d:
            bm.save(model, config, d)
            path = os.path.join(d, "pytorch_model.bin")
            ck = torch.load(path, weights_only=True)
            del ck["model"]["decoder.layers.1.mixer.router.bias"]
            torch.save(ck, path)
            err = self.convert_fails(d)
            self.assertIn('missing tensor "decoder.layers.1.mixer.router.bias"', err)
            self.assertIn("BlackMamba", err)

    def test_missing_mamba_tensor_is_named(self):
        model, config = hf.hf_model()
        with tempfile.TemporaryDirectory() as d:
            state = model.float().state_dict()
            del state["lm_head.weight"], state["backbone.layers.1.mixer.A_log"]
            torch.save(state, os.path.join(d, "pytorch_model.bin"))
            cc.write_config(d, config)
            self.assertIn("backbone.layers.1.mixer.A_log", self.convert_fails(d))

    def test_missing_blackmamba_config_keys_are_named(self):
        config = bm.make_config()
        model = bm.make_model(config, 32)
        with tempfile.TemporaryDirectory() as d:
            bm.save(model, config, d)
            cc.write_config(d, {k: v for k, v in config.items() if k not in ("state_size", "ffn_hidden_size")})
            err = self.convert_fails(d)
            self.assertIn("state_size", err)
            self.assertIn("ffn_hidden_size", err)

    def test_missing_python_is_explained(self):
        model, config = hf.hf_model()
        with tempfile.TemporaryDirectory() as d:
            hf.save_hf_bin(model, config, d)
            err = self.convert_fails(d, env={"MMB_PYTHON": os.path.join(d, "no-python3")})
            self.assertIn("MMB_PYTHON", err)
            self.assertIn("python3-torch", err)

    def test_missing_torch_is_explained(self):
        """A `torch` package that fails to import, first on PYTHONPATH, stands in for a
        Python without PyTorch."""
        model, config = hf.hf_model()
        with tempfile.TemporaryDirectory() as d:
            hf.save_hf_bin(model, config, d)
            os.makedirs(os.path.join(d, "shadow", "torch"))
            with open(os.path.join(d, "shadow", "torch", "__init__.py"), "w") as f:
                f.write("raise ImportError('No module named torch')\n")
            err = self.convert_fails(d, env={"PYTHONPATH": os.path.join(d, "shadow")})
            self.assertIn("PyTorch is not installed", err)
            self.assertIn("MMB_ERR_UNSUPPORTED", err)


if __name__ == "__main__":
    cc.setup_mmb(sys.argv)
    unittest.main()
