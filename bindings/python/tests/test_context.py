"""Models with attention layers: the session's context limit and KV cache type, on a real
small-hybrid bundle (attention, Mamba-2 and MoE layers)."""
import unittest

from moemamba import ContextFullError, KvType, MoemambaError, Model, Runtime, Sampler, Status

from .support import assert_close, argmax, bundle, hybrid_bundle


class ContextTest(unittest.TestCase):
    def setUp(self):
        self.runtime = Runtime()
        self.model = Model.load_file(self.runtime, hybrid_bundle())

    def tearDown(self):
        self.model.close()
        self.runtime.close()

    def test_model_info_describes_the_attention_layers(self):
        info = self.model.info
        self.assertGreaterEqual(info.n_attention_layers, 1)
        self.assertEqual(info.context_length, 2048)
        self.assertGreater(info.kv_values_per_token, 0)
        self.assertGreaterEqual(info.n_layers, info.n_attention_layers)
        with Model.load_file(self.runtime, bundle()) as tiny:
            self.assertEqual((tiny.info.n_attention_layers, tiny.info.context_length,
                              tiny.info.kv_values_per_token), (0, 0, 0))

    def test_a_full_context_refuses_the_next_token_and_consumes_nothing(self):
        tokens = list(range(1, 9))
        with self.model.session(max_context=8) as s:
            s.prefill(tokens, logits=True)
            self.assertEqual(s.position, 8)
            with self.assertRaises(ContextFullError) as caught:
                s.step(9)
            e = caught.exception
            self.assertIsInstance(e, MoemambaError)
            self.assertEqual(e.status, Status.CONTEXT_FULL)
            self.assertEqual(e.status_name, "MMB_ERR_CONTEXT_FULL")
            self.assertTrue(str(e).startswith("MMB_ERR_CONTEXT_FULL: "), str(e))
            self.assertEqual(s.position, 8, "a refused step consumes nothing")
            with self.assertRaises(ContextFullError):
                s.step_logits(9)
            with self.assertRaises(ContextFullError):
                s.prefill([9, 10])
            self.assertEqual(s.position, 8)

            # After a reset the whole context is there again, and stepping gives what a
            # fresh session gives.
            s.reset()
            self.assertEqual(s.position, 0)
            after_reset = list(s.step_logits(1))
            self.assertEqual(s.position, 1)
            with self.model.session() as fresh:
                assert_close(self, after_reset, fresh.step_logits(1), 1e-5)
            s.prefill(tokens[1:])
            with self.assertRaises(ContextFullError):
                s.step(9)

        # A prefill that would cross the limit is refused whole.
        with self.model.session(max_context=8) as s:
            with self.assertRaises(ContextFullError):
                s.prefill(list(range(1, 10)))
            self.assertEqual(s.position, 0)

    def test_the_default_context_is_the_models(self):
        with self.model.session() as s:
            s.prefill([i % 256 for i in range(self.model.info.context_length)])
            with self.assertRaises(ContextFullError):
                s.step(1)
            self.assertEqual(s.position, 2048)

    def test_generation_stops_at_the_context_limit(self):
        tokens = []
        with self.model.session(max_context=8) as s, Sampler(temperature=0) as sampler:
            with self.assertRaises(ContextFullError):
                s.generate_with(sampler, "abcd", lambda token, text: tokens.append(token) or True, max_tokens=16,
                                add_bos=False)
            self.assertEqual(s.position, 8)
        self.assertEqual(len(tokens), 4, "every token passed on entered the state: 4 prompt tokens and 4 more")

    def test_a_prompt_past_the_context_is_refused_at_submit(self):
        with self.model.session(max_context=8) as s:
            with self.assertRaises(ContextFullError) as caught:
                s.submit_tokens(None, list(range(1, 10)), on_event=lambda event: None)
            self.assertEqual(caught.exception.status, Status.CONTEXT_FULL)
            self.assertIn("context", caught.exception.message)
            self.assertEqual(s.position, 0, "nothing was submitted")
            s.step(1)  # not busy: no job holds the session
            self.assertEqual(s.position, 1)

    def test_a_job_past_the_context_fails_with_context_full(self):
        prompt = [1, 2, 3, 4]
        with self.model.session(max_context=8) as s, Sampler(temperature=0) as sampler:
            with s.submit_tokens(sampler, prompt, max_tokens=16, stop_at_eos=False,
                                 on_event=lambda event: None) as job:
                self.assertTrue(job.wait(60))
                job.poll()
                self.assertTrue(job.finished)
                self.assertEqual(job.status, Status.CONTEXT_FULL)
                self.assertIsInstance(job.error, ContextFullError)
                self.assertIn("context", job.error.message)
                tokens = job.read_tokens()
            self.assertEqual(len(tokens), 4, f"4 prompt tokens and 4 more fill the context: {tokens}")
            self.assertEqual(s.position, 8)
            state = s.save_state()

        # Every emitted token entered the state: the prompt and then each token, stepped
        # into a fresh session as the job does, give the same state, and each token is the
        # greedy choice after the ones before it.
        with self.model.session(max_context=8) as fresh:
            logits = fresh.prefill(prompt, logits=True)
            for token in tokens:
                self.assertEqual(token, argmax(logits))
                logits = fresh.step_logits(token)
            self.assertEqual(fresh.position, 8)
            self.assertEqual(fresh.save_state(), state)

    def test_an_f32_kv_cache_gives_the_logits_of_an_f16_one(self):
        tokens = self.model.tokenize("The quick brown fox jumps over the lazy dog.")

        def logits_with(**options):
            with self.model.session(**options) as s:
                s.prefill(tokens)
                return list(s.step_logits(ord("!")))

        f16 = logits_with(kv_type=KvType.F16)
        f32 = logits_with(kv_type=KvType.F32)
        self.assertEqual(logits_with(), f16, "F16 is the default")
        assert_close(self, f32, f16, 1e-2)
        self.assertEqual(argmax(f32), argmax(f16))

    def test_session_options_are_checked(self):
        with self.assertRaises(MoemambaError) as caught:
            self.model.session(max_context=(1 << 24) + 1)
        self.assertEqual(caught.exception.status, Status.INVALID_ARGUMENT)
        self.assertIn("max_context", caught.exception.message)
        with self.assertRaises(ValueError):
            self.model.session(kv_type=7)

    def test_a_model_without_attention_ignores_the_options(self):
        tokens = list(range(1, 13))
        with Model.load_file(self.runtime, bundle()) as tiny:
            with tiny.session(max_context=8, kv_type=KvType.F32) as limited, tiny.session() as plain:
                got = limited.prefill(tokens, logits=True)
                self.assertEqual(limited.position, 12)
                assert_close(self, got, plain.prefill(tokens, logits=True), 1e-5)


if __name__ == "__main__":
    unittest.main()
