"""Trainer smoke run: a tiny MoE-Mamba's loss goes down over a few dozen steps, the
checkpoint resumes where it stopped, and the same seed gives the same losses."""
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, __file__.rsplit("/tests/", 1)[0])
from moemamba_kit import bpe, train  # noqa: E402

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


if __name__ == "__main__":
    unittest.main()
