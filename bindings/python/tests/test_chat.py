"""Chat templates and conversations through the real libmoemamba: the demo model packed by
`mmb pack` with a small ChatML template, and with a template that always refuses; and what
a bundle without a template answers."""
import unittest

from moemamba import (ChatMessage, ChatReply, MoemambaError, Model, Runtime, Sampler, Status, TemplateError)

from .support import bundle, chat_bundle, refusing_bundle

WANT = ("<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nhéllo 世界<|im_end|>\n"
        "<|im_start|>assistant\n")


def reply(chat, max_tokens):
    with Sampler(temperature=0) as sampler:
        return chat.generate(sampler, max_tokens=max_tokens)


class NoTemplateTest(unittest.TestCase):
    def test_a_bundle_without_a_template_refuses_chats(self):
        with Runtime() as rt, Model.load_file(rt, bundle()) as model:
            self.assertEqual(model.info.n_chat_templates, 0)
            self.assertEqual(len(model.stop_tokens()), model.info.n_stop_tokens)
            with self.assertRaises(MoemambaError) as caught:
                model.chat()
            e = caught.exception
            self.assertEqual(e.status, Status.UNSUPPORTED)
            self.assertTrue(str(e).startswith("MMB_ERR_UNSUPPORTED: ") and e.message, str(e))
            with self.assertRaises(MoemambaError) as caught:
                model.render([("user", "hi")], add_generation_prompt=True)
            self.assertEqual(caught.exception.status, Status.UNSUPPORTED)


class ChatTest(unittest.TestCase):
    def setUp(self):
        self.runtime = Runtime()
        self.model = Model.load_file(self.runtime, chat_bundle())

    def tearDown(self):
        self.model.close()
        self.runtime.close()

    def test_render_gives_the_templates_text_exactly(self):
        m = self.model
        self.assertGreaterEqual(m.info.n_chat_templates, 1)
        self.assertEqual(len(m.stop_tokens()), m.info.n_stop_tokens)
        messages = [ChatMessage("system", "You are terse."), ("user", "héllo 世界")]
        self.assertEqual(m.render(messages, add_generation_prompt=True), WANT)
        self.assertEqual(m.render(messages), WANT[:-len("<|im_start|>assistant\n")])
        self.assertEqual(m.render(messages, True, template_name="default"), WANT)
        self.assertEqual(m.render([]), "")
        self.assertEqual(m.render(messages, True, template_name="plain"),
                         "system: You are terse.\nuser: héllo 世界\nassistant:")
        for call in (lambda: m.render(messages, True, template_name="no_such_template"),
                     lambda: m.chat(template_name="no_such_template")):
            with self.assertRaises(MoemambaError) as caught:
                call()
            self.assertEqual(caught.exception.status, Status.UNSUPPORTED)
        with self.assertRaises(MoemambaError) as caught:
            m.render([("user", "nul\0inside")])
        self.assertEqual(caught.exception.status, Status.INVALID_ARGUMENT)

    def test_a_second_turn_reuses_what_the_session_holds(self):
        m = self.model
        with m.chat() as chat, Sampler(temperature=0) as sampler:
            chat.add("system", "You are terse.")
            chat.add("user", "Where is the house?")
            pieces = []
            first = chat.generate(sampler, max_tokens=12, callback=lambda token, text: pieces.append(text))
            self.assertIsInstance(first, ChatReply)
            s1 = first.stats
            self.assertTrue(0 < s1.generated_tokens <= 12, s1)
            self.assertEqual((s1.restarted, s1.reused_tokens, s1.prefilled_tokens), (False, 0, s1.prompt_tokens))
            # The prompt is the rendering, tokenized with special tokens and without BOS.
            rendered = m.render([("system", "You are terse."), ("user", "Where is the house?")], True)
            self.assertEqual(s1.prompt_tokens, len(m.tokenize(rendered, parse_special=True)), rendered)
            self.assertEqual("".join(pieces), first.text)
            self.assertEqual(chat.session.position, s1.prompt_tokens + s1.generated_tokens)
            self.assertEqual(chat.messages, [("system", "You are terse."), ("user", "Where is the house?"),
                                             ("assistant", first.text)])

            chat.add("user", "And the garden?")
            s2 = reply(chat, 12).stats
            self.assertFalse(s2.restarted, s2)
            # Everything the first turn computed, its prompt and its reply, is kept.
            self.assertEqual(s2.reused_tokens, s1.prompt_tokens + s1.generated_tokens, (s1, s2))
            self.assertTrue(0 < s2.prefilled_tokens < s2.prompt_tokens, s2)
            self.assertEqual(s2.reused_tokens + s2.prefilled_tokens, s2.prompt_tokens)
            self.assertEqual(len(chat), 5)

    def test_a_chat_on_a_named_template_renders_with_it(self):
        m = self.model
        with m.chat(template_name="plain") as chat:
            chat.add("user", "Hi")
            s = reply(chat, 4).stats

        def tokens(name):
            return len(m.tokenize(m.render([("user", "Hi")], True, template_name=name), parse_special=True))

        self.assertEqual(s.prompt_tokens, tokens("plain"))
        self.assertNotEqual(s.prompt_tokens, tokens(None), "the main template would give as many tokens")

    def test_prefill_computes_only_what_is_new(self):
        with self.model.chat() as chat:
            chat.add("system", "You are a guard at the castle gate.")
            p1 = chat.prefill()
            self.assertGreater(p1.prompt_tokens, 0)
            self.assertEqual((p1.prefilled_tokens, p1.reused_tokens, p1.generated_tokens, p1.restarted),
                             (p1.prompt_tokens, 0, 0, False))
            p2 = chat.prefill()
            self.assertEqual((p2.prefilled_tokens, p2.reused_tokens), (0, p1.prompt_tokens))
            chat.add("user", "Who goes there?")
            g = reply(chat, 8).stats
            self.assertEqual(g.reused_tokens, p1.prompt_tokens, g)
            self.assertEqual(g.prefilled_tokens, g.prompt_tokens - g.reused_tokens)

    def test_a_saved_chat_continues_exactly_as_the_original(self):
        with self.model.chat() as chat:
            chat.add("system", "You are terse.")
            chat.add("user", "Tell me of the king.")
            reply(chat, 10)
            state = chat.save_state()
            history = chat.messages
            chat.add("user", "And the queen?")
            original = reply(chat, 16)
        with self.model.chat() as loaded:
            loaded.add("user", "to be replaced")
            loaded.load_state(state)
            self.assertEqual(loaded.messages, history)
            loaded.add("user", "And the queen?")
            self.assertEqual(reply(loaded, 16), original)
            count = len(loaded)
            with self.assertRaises(MoemambaError) as caught:
                loaded.load_state(b"not a chat state")
            self.assertEqual(caught.exception.status, Status.FORMAT)
            with self.assertRaises(MoemambaError):
                loaded.load_state(state[:len(state) // 2])
            self.assertEqual(len(loaded), count, "a refused state changes nothing")

    def test_reset_empties_the_history_and_the_session(self):
        with self.model.chat() as chat:
            chat.add("user", "Hello there.")
            reply(chat, 4)
            chat.reset()
            self.assertEqual((len(chat), chat.session.position), (0, 0))
            chat.add("user", "Hello there.")
            s = reply(chat, 4).stats
            self.assertEqual((s.reused_tokens, s.restarted), (0, False))

    def test_a_callback_that_stops_ends_the_reply_which_joins_the_history(self):
        with self.model.chat() as chat, Sampler(temperature=0) as sampler:
            chat.add("user", "Say something long.")
            calls = []
            r = chat.generate(sampler, max_tokens=32, callback=lambda token, text: calls.append(token) or False)
            self.assertEqual((len(calls), r.stats.generated_tokens), (1, 1))
            self.assertEqual(len(chat), 2)
            self.assertEqual(chat.message(1).role, "assistant")
            with self.assertRaises(MoemambaError) as caught:
                chat.message(2)
            self.assertEqual(caught.exception.status, Status.INVALID_ARGUMENT)

    def test_an_exception_in_the_callback_is_raised_by_generate(self):
        def fail(token, text):
            raise KeyError("from the callback")

        with self.model.chat() as chat, Sampler(temperature=0) as sampler:
            chat.add("user", "Hello.")
            with self.assertRaises(KeyError):
                chat.generate(sampler, callback=fail)
            self.assertEqual(len(chat), 2, "the stopped reply joined the history")

    def test_stepping_the_chats_session_makes_the_next_turn_start_over(self):
        with self.model.chat() as chat:
            chat.add("user", "Hello there.")
            reply(chat, 4)
            chat.session.step(1)
            chat.add("user", "Again.")
            s = reply(chat, 4).stats
            self.assertTrue(s.restarted, s)
            self.assertEqual((s.reused_tokens, s.prefilled_tokens), (0, s.prompt_tokens))

    def test_the_chats_session_goes_with_the_chat(self):
        chat = self.model.chat(max_context=64)
        session = chat.session
        self.assertEqual(session.position, 0)
        chat.close()
        chat.close()
        with self.assertRaises(MoemambaError):
            session.position
        with self.assertRaises(MoemambaError):
            chat.add("user", "late")

    def test_the_templates_refusal_is_a_template_error_with_its_message(self):
        with Model.load_file(self.runtime, refusing_bundle()) as bad:
            with self.assertRaises(TemplateError) as caught:
                bad.render([("user", "hi")], True)
            e = caught.exception
            self.assertIsInstance(e, MoemambaError)
            self.assertEqual((e.status, e.status_name), (Status.TEMPLATE, "MMB_ERR_TEMPLATE"))
            self.assertIn("roles must alternate", e.message)
            with bad.chat() as chat, Sampler(temperature=0) as sampler:
                chat.add("user", "hi")
                with self.assertRaises(TemplateError) as caught:
                    chat.generate(sampler, max_tokens=4)
                self.assertIn("roles must alternate", caught.exception.message)
                with self.assertRaises(TemplateError):
                    chat.prefill()
                self.assertEqual((len(chat), chat.session.position), (1, 0))


if __name__ == "__main__":
    unittest.main()
