"""Byte-level BPE: text -> ids -> text is lossless for any UTF-8, the split follows
GPT-2's pattern, and (given PATH_TO_MMB) `mmb pack --tokenizer` accepts the
tokenizer.json and the C library cuts the text into as many tokens as Python does.

Usage: test_bpe.py [PATH_TO_MMB]
"""
import os
import random
import subprocess
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, __file__.rsplit("/tests/", 1)[0])
from moemamba_kit import bpe  # noqa: E402

MMB = os.environ.get("MMB_CLI", "")
CORPUS = ["The quick brown fox jumps over the lazy dog. " * 20,
          "She said: \"I'll be there at 10:30, won't you?\"\n\nThey're sure it's fine.\n" * 10,
          "naïve café déjà vu — über straße 東京 😀 " * 5]


def random_text(rng, n):
    pools = [range(0x20, 0x7F), range(0xA0, 0x250), range(0x3040, 0x30FF), range(0x1F600, 0x1F64F), [9, 10, 13, 32]]
    return "".join(chr(rng.choice(rng.choice(pools))) for _ in range(n))


class BpeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        vocab, merges = bpe.train(CORPUS, 320)
        cls.tok = bpe.Tokenizer(vocab, merges)

    def test_learns_merges(self):
        self.assertEqual(len(self.tok.vocab), 320)
        self.assertIn("Ġthe", self.tok.vocab)  # " the" in GPT-2's alphabet
        self.assertLess(len(self.tok.encode(CORPUS[0])), len(CORPUS[0].encode()) / 3)

    def test_round_trip_any_utf8(self):
        rng = random.Random(7)
        texts = CORPUS + [random_text(rng, rng.randint(0, 200)) for _ in range(200)] + ["", " ", "\n\n  \t", "'s'"]
        for t in texts:
            self.assertEqual(self.tok.decode_bytes(self.tok.encode(t)), t.encode("utf-8"))

    def test_gpt2_split(self):
        self.assertEqual(bpe.pretokenize("Hello world's  end!!\n\nok 123abc"),
                         ["Hello", " world", "'s", " ", " end", "!!", "\n", "\n", "ok", " 123", "abc"])

    def test_saved_json_reloads(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "tokenizer.json")
            self.tok.save(path)
            again = bpe.Tokenizer.load(path)
            for t in CORPUS:
                self.assertEqual(again.encode(t), self.tok.encode(t))

    @unittest.skipUnless(os.path.exists(MMB), "needs the mmb program")
    def test_c_library_accepts_and_agrees(self):
        from moemamba_kit.export import export, pack
        from moemamba_kit.model import MoEMamba
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "tokenizer.json")
            self.tok.save(path)
            model = MoEMamba({"d_model": 8, "vocab_size": len(self.tok.vocab),
                              "layers": [{"kind": "mamba", "d_state": 2}]})
            export(model, os.path.join(tmp, "ck"))
            bundle = os.path.join(tmp, "m.mmb")
            pack(MMB, os.path.join(tmp, "ck"), bundle, extra=["--tokenizer", path])
            for text in ["The quick brown fox, she said, won't jump.", "naïve café 東京 😀 \n\n ok"]:
                out = os.path.join(tmp, "x.npy")
                subprocess.run([MMB, "logits", bundle, "--text", text, "--no-bos", "--out", out], check=True,
                               capture_output=True)
                self.assertEqual(np.load(out).shape[0], len(self.tok.encode(text)), text)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        MMB = sys.argv.pop(1)
    unittest.main()
