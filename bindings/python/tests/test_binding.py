"""The ctypes binding through the real libmoemamba and a real bundle."""
import array
import gc
import os
import subprocess
import tempfile
import threading
import unittest

import moemamba
from moemamba import MoemambaError, Model, Runtime, Sampler, Status, step_batch
from moemamba import _buffers

from .support import argmax, assert_close, bundle, mmb


def header_version_prefix():
    """"MAJOR.MINOR." from the C header the library was built from: MOEMAMBA_INCLUDE_DIR's,
    else this repository's."""
    import re
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    include = os.environ.get("MOEMAMBA_INCLUDE_DIR") or os.path.join(root, "include")
    with open(os.path.join(include, "moemamba", "moemamba.h")) as f:
        text = f.read()
    part = {k: re.search(r"#define MMB_VERSION_%s (\d+)" % k, text).group(1) for k in ("MAJOR", "MINOR")}
    return "%s.%s." % (part["MAJOR"], part["MINOR"])

PROMPT = "héllo 世界"


class BindingTest(unittest.TestCase):
    def setUp(self):
        self.runtime = Runtime()
        self.model = Model.load_file(self.runtime, bundle())

    def tearDown(self):
        self.model.close()
        self.runtime.close()

    def logits_after(self, tokens):
        with self.model.session() as s:
            logits = None
            for t in tokens:
                logits = s.step_logits(t)
            return list(logits)

    def test_load_from_file_and_memory(self):
        info = self.model.info
        self.assertEqual(info.vocab_size, 256)
        self.assertEqual(self.model.vocab_size, 256)
        self.assertGreater(info.n_mamba_layers, 0)
        self.assertGreater(info.n_moe_layers, 0)
        self.assertGreater(info.n_mlp_layers, 0)
        self.assertEqual(info.n_layers, info.n_mamba_layers + info.n_moe_layers + info.n_mlp_layers)
        self.assertLessEqual(info.params_active, info.params_total)
        self.assertGreater(info.state_bytes, 0)
        with open(bundle(), "rb") as f:
            data = bytearray(f.read())
        with Model.load_memory(self.runtime, data) as from_memory:
            data[:] = b"\0" * len(data)  # the library copied what it needs
            self.assertEqual(from_memory.info, info)
            tokens = self.model.tokenize("abc")
            with from_memory.session() as s:
                logits = None
                for t in tokens:
                    logits = s.step_logits(t)
            self.assertEqual(list(logits), self.logits_after(tokens))
        self.assertTrue(moemamba.version().startswith(header_version_prefix()), moemamba.version())

    def test_runtime_options(self):
        with Runtime(n_threads=2) as rt:
            backend, threads = rt.backend()
            self.assertEqual(threads, 2)
            self.assertIn(backend, (moemamba.BACKEND_CPU, moemamba.BACKEND_CUDA))

    def test_tokenize_detokenize_round_trip(self):
        tokens = self.model.tokenize(PROMPT)
        self.assertEqual(len(tokens), len(PROMPT.encode()))
        self.assertEqual(b"".join(self.model.token_bytes(t) for t in tokens), PROMPT.encode())
        with self.model.detokenizer() as detok:
            pieces = [detok.push(t) for t in tokens]
            self.assertEqual(detok.flush(), "")
            self.assertEqual("".join(pieces), PROMPT)
            self.assertEqual(pieces[1:3], ["", "é"])
            self.assertEqual(pieces[7:10], ["", "", "世"])
            detok.push(tokens[7])
            self.assertEqual(detok.flush(), "\ufffd")

    def test_greedy_generation_matches_argmax_c_generate_and_cli(self):
        n = 24
        with self.model.session() as s, Sampler(temperature=0) as sampler:
            pieces = list(s.generate(sampler, PROMPT, max_tokens=n))
            self.assertEqual(s.position, len(PROMPT.encode()) + n)
        streamed = [p.token for p in pieces if p.token is not None]
        text = "".join(p.text for p in pieces)
        self.assertEqual(len(streamed), n)

        with self.model.session() as s:
            logits = s.prefill(self.model.tokenize(PROMPT, add_bos=True), logits=True)
            by_hand = []
            for _ in range(n):
                t = argmax(logits)
                by_hand.append(t)
                logits = s.step_logits(t)
        self.assertEqual(streamed, by_hand)

        seen, seen_text = [], []
        with self.model.session() as s, Sampler(temperature=0) as sampler:
            s.generate_with(sampler, PROMPT, lambda t, piece: seen.append(t) or seen_text.append(piece) or True,
                            max_tokens=n)
        self.assertEqual([t for t in seen if t is not None], streamed)
        self.assertEqual("".join(seen_text), text)

        out = subprocess.run([mmb(), "generate", bundle(), "--prompt", PROMPT, "--temp", "0",
                              "--max-tokens", str(n)], capture_output=True, check=True)
        self.assertEqual(out.stdout.decode("utf-8"), text)

    def test_callback_stops_and_exceptions_propagate(self):
        calls = []
        with self.model.session() as s, Sampler(temperature=0) as sampler:
            s.generate_with(sampler, "abc", lambda t, p: calls.append(t) or len(calls) < 5, max_tokens=50)
            self.assertEqual(len(calls), 5)

            def boom(token, text):
                raise ValueError("from the callback")
            with self.assertRaisesRegex(ValueError, "from the callback"):
                s.generate_with(sampler, "abc", boom)

    def test_prefill_equals_stepping(self):
        tokens = self.model.tokenize("The quick brown fox jumps over the lazy dog, twice.")
        with self.model.session() as s:
            prefilled = s.prefill(tokens, logits=True)
            self.assertEqual(s.position, len(tokens))
        assert_close(self, prefilled, self.logits_after(tokens), 1e-5)

    def test_logits_without_numpy_and_into_given_buffers(self):
        saved = _buffers.numpy
        try:
            _buffers.numpy = None
            with self.model.session() as s:
                logits = s.step_logits(5)
            self.assertIsInstance(logits, array.array)
            self.assertEqual(logits.typecode, "f")
        finally:
            _buffers.numpy = saved
        out = array.array("f", [0.0] * 256)
        with self.model.session() as s:
            self.assertIs(s.step_logits(5, out=out), out)
            with self.assertRaises(MoemambaError) as caught:
                s.step_logits(6, out=array.array("f", [0.0] * 10))
            self.assertEqual(caught.exception.status, Status.BUFFER_TOO_SMALL)
            with self.assertRaises(TypeError):
                s.step_logits(6, out=array.array("d", [0.0] * 256))
        self.assertEqual(list(out), list(logits))
        with Sampler(temperature=0) as sampler:
            self.assertEqual(sampler.sample(list(out)), argmax(out))

    def test_batch_equals_stepping_each(self):
        prompts, following = ["one", "two!", "three??"], [10, 200, 65]
        sessions = []
        for p in prompts:
            s = self.model.session()
            s.prefill(self.model.tokenize(p))
            sessions.append(s)
        rows = step_batch(sessions, following, logits=True)
        for i, p in enumerate(prompts):
            expected = self.logits_after(self.model.tokenize(p) + [following[i]])
            assert_close(self, rows[i * 256:(i + 1) * 256], expected, 1e-5)
        step_batch(sessions, following)
        self.assertEqual([s.position for s in sessions], [len(p) + 2 for p in prompts])
        with self.assertRaises(MoemambaError) as caught:
            step_batch([sessions[0], sessions[0]], [1, 2])
        self.assertEqual(caught.exception.status, Status.INVALID_ARGUMENT)
        for s in sessions:
            s.close()

    def test_state_save_load_fork(self):
        with self.model.session() as s:
            s.prefill(self.model.tokenize("saved here"))
            blob = s.save_state()
            with s.fork() as fork:
                expected = list(s.step_logits(7))
                s.step(8)
                self.assertEqual(list(fork.step_logits(7)), expected)
            s.load_state(blob)
            self.assertEqual(s.position, 10)
            self.assertEqual(list(s.step_logits(7)), expected)
            corrupt = bytearray(blob)
            corrupt[len(corrupt) // 2] ^= 0x5A
            with self.assertRaises(MoemambaError) as caught:
                s.load_state(corrupt)
            self.assertEqual(caught.exception.status, Status.FORMAT)
            self.assertEqual(s.position, 11, "a failed load leaves the session unchanged")

    def test_errors_carry_status_and_message(self):
        missing = os.path.join(tempfile.gettempdir(), "no-such-dir-moemamba", "missing.mmb")
        with self.assertRaises(MoemambaError) as caught:
            Model.load_file(self.runtime, missing)
        self.assertEqual(caught.exception.status, Status.IO)
        self.assertIn("missing.mmb", caught.exception.message)
        self.assertTrue(str(caught.exception).startswith("MMB_ERR_IO: "))

        with tempfile.NamedTemporaryFile(suffix=".mmb") as garbage:
            garbage.write(b"not a bundle at all")
            garbage.flush()
            with self.assertRaises(MoemambaError) as caught:
                Model.load_file(self.runtime, garbage.name)
            self.assertEqual(caught.exception.status, Status.FORMAT)
            self.assertTrue(caught.exception.message)
        with self.assertRaises(MoemambaError) as caught:
            Model.load_memory(self.runtime, b"\0\1\2junk")
        self.assertEqual(caught.exception.status, Status.FORMAT)

        with self.model.session() as s:
            with self.assertRaises(MoemambaError) as caught:
                s.step(256)
            self.assertEqual(caught.exception.status, Status.INVALID_ARGUMENT)
            self.assertIn("256", caught.exception.message)
            self.assertEqual(s.position, 0)
        with self.assertRaises(MoemambaError) as caught:
            self.model.meta("no such key")
        self.assertEqual(caught.exception.status, Status.INVALID_ARGUMENT)
        with self.assertRaises(MoemambaError):
            Sampler(top_p=2.0)
        with self.assertRaises(TypeError):
            Sampler(nonsense=1)

    def test_close_twice_and_use_after_close(self):
        s = self.model.session()
        sampler = Sampler()
        detok = self.model.detokenizer()
        for obj in (s, sampler, detok):
            obj.close()
            obj.close()
        for call in (lambda: s.step(1), lambda: s.position, lambda: s.save_state(), lambda: s.fork(),
                     lambda: sampler.sample([0.0, 1.0]), lambda: detok.push(1), lambda: detok.flush()):
            with self.assertRaises(MoemambaError) as caught:
                call()
            self.assertEqual(caught.exception.status, Status.INVALID_ARGUMENT)
            self.assertIn("closed", caught.exception.message)

        # A session outlives the model object that made it: the library keeps the model.
        with Model.load_file(self.runtime, bundle()) as model:
            survivor = model.session()
        survivor.step(3)
        self.assertEqual(survivor.position, 1)
        with self.assertRaises(MoemambaError):
            model.tokenize("x")
        survivor.close()
        self.runtime.close()
        self.runtime.close()
        with self.assertRaises(MoemambaError):
            Model.load_file(self.runtime, bundle())
        # Objects dropped without close() are released by the collector.
        self.model.session()
        gc.collect()

    def test_many_sessions_on_threads(self):
        def generate(prompt):
            with self.model.session() as s, Sampler(temperature=0) as sampler:
                return [p.token for p in s.generate(sampler, prompt, max_tokens=16) if p.token is not None]

        prompts = [f"thread {i} says" for i in range(8)]
        expected = [generate(p) for p in prompts]
        results = [None] * len(prompts)
        errors = []

        def worker(i):
            try:
                results[i] = generate(prompts[i])
            except Exception as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(prompts))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(results, expected)


if __name__ == "__main__":
    unittest.main()
