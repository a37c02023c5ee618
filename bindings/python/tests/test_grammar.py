"""Structured output through the real libmoemamba and the demo model: a JSON Schema, a
choice list and GBNF; generation in each form (iterator, callback, job, chat) under a
grammar; errors; state save/load/clone; masks against accept()."""
import array
import ctypes
import json
import math
import unittest

from moemamba import (Grammar, GrammarError, GrammarState, MoemambaError, Model, Runtime, Sampler, Status,
                      _native)

from .support import chat_bundle, demo_bundle

SCHEMA = {"type": "object",
          "properties": {"action": {"enum": ["attack", "flee", "talk"]},
                         "target": {"type": "string", "maxLength": 12}},
          "required": ["action", "target"], "additionalProperties": False}
ACTIONS = ("attack", "flee", "talk")
CHOICES = ("north", "south", "east", "west")


def check_action(test, text):
    value = json.loads(text)
    test.assertIsInstance(value, dict, text)
    test.assertEqual(list(value), ["action", "target"], text)
    test.assertIn(value["action"], ACTIONS, text)
    test.assertIsInstance(value["target"], str, text)
    test.assertLessEqual(len(value["target"]), 12, text)


def accept_text(model, state, text):
    for t in model.tokenize(text):
        state.accept(t)


class GrammarTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.runtime = Runtime()
        cls.model = Model.load_file(cls.runtime, demo_bundle())
        cls.schema = Grammar.json_schema(cls.model, SCHEMA)
        cls.choice = Grammar.choice(cls.model, CHOICES)

    @classmethod
    def tearDownClass(cls):
        cls.choice.close()
        cls.schema.close()
        cls.model.close()
        cls.runtime.close()

    def test_generation_under_a_json_schema_gives_objects_the_schema_accepts(self):
        for seed in (1, 2, 3, 4):
            # The callback form over mmb_generate().
            with self.model.session() as session, Sampler(temperature=1.0, seed=seed) as sampler, \
                    self.schema.state() as state:
                pieces = []
                session.generate_with(sampler, "The orc", lambda _t, text: pieces.append(text), max_tokens=200,
                                      grammar=state)
                text = "".join(pieces)
                self.assertTrue(state.can_end, f"seed {seed}: unfinished {text!r}")
                check_action(self, text)
            # The iterator form.
            with self.model.session() as session, Sampler(temperature=1.0, seed=seed) as sampler, \
                    self.schema.state() as state:
                text = "".join(p.text for p in session.generate(sampler, "The orc", max_tokens=200, grammar=state))
                self.assertTrue(state.can_end, f"seed {seed}: unfinished {text!r}")
                check_action(self, text)

    def test_a_schema_may_be_text_and_compact(self):
        with Grammar.json_schema(self.model, json.dumps(SCHEMA), json_whitespace=0, mask_cache_bytes=0) as grammar, \
                grammar.state() as state, self.model.session() as session, Sampler(temperature=1.0, seed=8) as s:
            text = "".join(p.text for p in session.generate(s, "The orc", max_tokens=200, grammar=state))
            self.assertTrue(state.can_end, text)
            check_action(self, text)
            self.assertNotIn(" ", text.replace(json.loads(text)["target"], ""))

    def test_a_choice_grammar_gives_one_of_the_choices(self):
        for seed in (5, 6, 7):
            with self.model.session() as session, Sampler(temperature=1.0, seed=seed) as sampler, \
                    self.choice.state() as state:
                pieces = []
                session.generate_with(sampler, "We walked", lambda _t, text: pieces.append(text), max_tokens=50,
                                      grammar=state)
                self.assertIn("".join(pieces), CHOICES)
                self.assertTrue(state.can_end and state.must_end)
            # A job takes its own copy of the state: the one given stays at the start.
            with self.model.session() as session, Sampler(temperature=1.0, seed=seed) as sampler, \
                    self.choice.state() as start:
                with session.submit(sampler, "We walked", max_tokens=50, grammar=start) as job:
                    self.assertTrue(job.wait(60))
                    text = job.poll()
                    self.assertEqual(job.status, Status.OK)
                self.assertIn(text, CHOICES)
                self.assertFalse(start.can_end)
        with self.assertRaises(MoemambaError) as caught:
            Grammar.choice(self.model, [])
        self.assertEqual(caught.exception.status, Status.INVALID_ARGUMENT)
        with self.assertRaises(GrammarError):
            Grammar.choice(self.model, ["a", ""])

    def test_a_chat_reply_under_a_grammar_is_one_of_the_choices(self):
        with Runtime() as rt, Model.load_file(rt, chat_bundle()) as model, \
                Grammar.choice(model, CHOICES) as grammar, grammar.state() as state, model.chat() as chat, \
                Sampler(temperature=1.0, seed=9) as sampler:
            chat.add("user", "Which way?")
            reply = chat.generate(sampler, max_tokens=50, grammar=state)
            self.assertIn(reply.text, CHOICES)
            self.assertTrue(state.can_end)

    def test_gbnf_compiles_and_errors_name_the_line(self):
        with Grammar.gbnf(self.model, 'root ::= "yes" | "no"\n') as grammar, grammar.state() as state, \
                self.model.session() as session, Sampler(temperature=1.0, seed=1) as sampler:
            text = "".join(p.text for p in session.generate(sampler, "Is it", max_tokens=20, grammar=state))
            self.assertIn(text, ("yes", "no"))
        Grammar.gbnf(self.model, "answer ::= [0-9]+\n", root="answer").close()
        with self.assertRaises(GrammarError) as caught:
            Grammar.gbnf(self.model, 'root ::= ("a"')
        e = caught.exception
        self.assertEqual(e.status, Status.GRAMMAR)
        self.assertIn("line 1", e.message)
        self.assertTrue(str(e).startswith("MMB_ERR_GRAMMAR: "), str(e))
        with self.assertRaises(GrammarError):
            Grammar.json_schema(self.model, '{"type": ')
        with self.assertRaises(GrammarError):
            Grammar.json_schema(self.model, {"type": "string", "pattern": "^a"})

    def test_states_save_load_and_clone(self):
        with Grammar.json_schema(self.model, SCHEMA, json_whitespace=0) as grammar, grammar.state() as state:
            accept_text(self.model, state, '{"action":"fl')
            self.assertFalse(state.can_end)
            blob = state.save()
            copy = state.clone()
            loaded = grammar.state()
            loaded.load(blob)
            mask = state.mask()
            self.assertEqual(copy.mask(), mask)
            self.assertEqual(loaded.mask(), mask)
            self.assertEqual(loaded.save(), blob)
            # Each goes on independently.
            accept_text(self.model, copy, 'ee","target":"wolf"}')
            self.assertTrue(copy.can_end and copy.must_end)
            self.assertFalse(state.can_end)
            accept_text(self.model, loaded, 'ee","target":"bear"}')
            self.assertTrue(loaded.can_end)
            # A wrong token changes nothing.
            with self.assertRaises(GrammarError):
                state.accept(self.model.tokenize("}")[0])
            self.assertEqual(state.save(), blob)
            # Reset goes back to the start; another grammar's state and damage are refused.
            state.reset()
            with grammar.state() as fresh:
                self.assertEqual(state.mask(), fresh.mask())
            with self.choice.state() as other, self.assertRaises(MoemambaError) as caught:
                other.load(blob)
            self.assertEqual(caught.exception.status, Status.STATE_MISMATCH)
            damaged = bytearray(blob)
            damaged[-1] ^= 0x5A
            with self.assertRaises(MoemambaError) as caught:
                state.load(damaged)
            self.assertIn(caught.exception.status, (Status.FORMAT, Status.STATE_MISMATCH))
            copy.close()
            loaded.close()
            with self.assertRaises(MoemambaError):
                copy.accept(0)

    def test_the_mask_agrees_with_accept_apply_and_sampling(self):
        with self.schema.state() as state:
            accept_text(self.model, state, "{")
            mask = state.mask()
            words = state.mask_words()
            vocab = self.model.vocab_size
            self.assertEqual(len(mask), vocab)
            self.assertEqual(len(words), (vocab + 31) // 32)
            allowed = [t for t in range(vocab) if mask[t]]
            refused = [t for t in range(vocab) if not mask[t]]
            self.assertTrue(allowed and refused)
            for t in allowed[:6] + refused[::len(refused) // 6 + 1][:6]:
                with state.clone() as probe:
                    try:
                        probe.accept(t)
                        accepted = True
                    except GrammarError:
                        accepted = False
                    self.assertEqual(accepted, mask[t], f"token {t}")

            logits = array.array("f", [0.5] * vocab)
            state.apply(logits)
            for t in range(vocab):
                self.assertEqual(logits[t] == -math.inf, not mask[t], f"token {t}")
            with self.assertRaises(MoemambaError):
                state.apply(array.array("f", [0.0] * (vocab - 1)))

            with Sampler(temperature=1.0, seed=3) as sampler:
                flat = [0.0] * vocab
                for _ in range(4):
                    with state.clone() as probe:
                        t = sampler.sample_grammar(probe, flat)
                        self.assertTrue(mask[t], f"sampled refused token {t}")

    def test_a_host_with_the_older_options_layout_still_works(self):
        # mmb_generate_options as a 0.6 host fills it: struct_size ends before the grammar
        # field, so the library must not read it (a live state there stays untouched).
        old_size = _native.mmb_generate_options.grammar.offset
        options = _native.mmb_generate_options()
        self.assertEqual(_native.lib.mmb_generate_options_init(ctypes.byref(options), old_size), _native.MMB_OK)
        self.assertEqual(options.struct_size, old_size)
        options.max_tokens = 4
        options.stop_at_eos = 0
        pieces = []

        def on_token(_user, _token, text, length):
            pieces.append(ctypes.string_at(text, length) if length else b"")
            return 1
        callback = _native.token_callback(on_token)
        with self.model.session() as session, Sampler(temperature=0) as sampler, self.choice.state() as state:
            options.grammar = state.handle
            start = state.save()
            status = _native.lib.mmb_generate(session.handle, sampler._live(), b"The", 3, ctypes.byref(options),
                                              callback, None)
            self.assertEqual(status, _native.MMB_OK, _native.lib.mmb_last_error())
            self.assertEqual(session.position, len(self.model.tokenize("The", add_bos=True)) + 4)
            self.assertEqual(state.save(), start)
        self.assertTrue(pieces)

    def test_closed_objects_refuse(self):
        grammar = Grammar.choice(self.model, CHOICES)
        state = GrammarState(grammar)
        grammar.close()
        # The state keeps the compiled grammar alive inside the library.
        self.assertFalse(state.can_end)
        with self.assertRaises(MoemambaError):
            grammar.state()
        state.close()
        state.close()


if __name__ == "__main__":
    unittest.main()
