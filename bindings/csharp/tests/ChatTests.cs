// Chat templates and conversations on real bundles: the demo model packed by `mmb pack`
// with a small ChatML template, and with a template that always refuses; and what a
// bundle without a template answers.
using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using Moemamba;

static partial class BindingTests
{
    // ChatML, as Qwen-style instruct models write it.
    const string ChatMl = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}" +
                          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
    const string Refusing = "{{ raise_exception('roles must alternate') }}";
    // A second, named template of the ChatML bundle ("plain").
    const string Plain = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}" +
                         "{% if add_generation_prompt %}assistant:{% endif %}";

    // The demo bundle: MOEMAMBA_DEMO_BUNDLE (ctest sets it), else the repository's, found
    // from MOEMAMBA_INCLUDE_DIR.
    static string DemoBundle()
    {
        string path = Environment.GetEnvironmentVariable("MOEMAMBA_DEMO_BUNDLE");
        if (!string.IsNullOrEmpty(path)) return path;
        string include = Environment.GetEnvironmentVariable("MOEMAMBA_INCLUDE_DIR") ?? "include";
        return Path.Combine(include, "..", "models", "demo-moe-mamba.mmb");
    }

    // `mmb pack DEMO -o DIR/NAME.mmb --chat-template DIR/NAME.jinja [--chat-template plain=DIR/plain.jinja]`
    static string PackWithTemplate(string dir, string name, string template, string plain = null)
    {
        string jinja = Path.Combine(dir, name + ".jinja");
        string bundle = Path.Combine(dir, name + ".mmb");
        File.WriteAllText(jinja, template, new UTF8Encoding(false));
        string named = "";
        if (plain != null)
        {
            File.WriteAllText(Path.Combine(dir, "plain.jinja"), plain, new UTF8Encoding(false));
            named = " --chat-template \"plain=" + Path.Combine(dir, "plain.jinja") + "\"";
        }
        RunProcess(s_cli, "pack \"" + DemoBundle() + "\" -o \"" + bundle + "\" --chat-template \"" + jinja + "\"" + named + " --quiet");
        return bundle;
    }

    // Always the argmax.
    static Sampler Greedy()
    {
        var p = Sampler.Defaults();
        p.Temperature = 0;
        return new Sampler(p);
    }

    // A greedy reply; without `streamed`, generated with no handler at all.
    static ChatReply Reply(Chat chat, int maxTokens, StringBuilder streamed = null)
    {
        using (var sampler = Greedy())
        {
            if (streamed == null) return chat.Generate(sampler, maxTokens);
            return chat.Generate(sampler, maxTokens, (token, text) => { streamed.Append(text); return true; });
        }
    }

    static void RunChatTests()
    {
        using (var rt = new Runtime(1))
        {
            Run("a bundle without a chat template refuses chats", () => {
                using (var m = rt.LoadFile(s_bundle))
                {
                    Require(m.Info.NChatTemplates == 0 && m.ChatTemplateCount == 0, "no templates: " + m.Info.NChatTemplates);
                    Require(m.StopTokens.Length == m.Info.NStopTokens, "stop tokens " + m.StopTokens.Length + " vs " + m.Info.NStopTokens);
                    var e = Throws<MoemambaException>(() => m.CreateChat().Dispose());
                    Require(e.Status == Native.ErrUnsupported && e.StatusName == "MMB_ERR_UNSUPPORTED" && e.Detail.Length > 0,
                            "chat: " + e);
                    e = Throws<MoemambaException>(() => m.Render(new[] { new ChatMessage("user", "hi") }, true));
                    Require(e.Status == Native.ErrUnsupported && e.Detail.Length > 0, "render: " + e);
                }
            });
        }

        string dir = Path.Combine(Path.GetTempPath(), "moemamba-cs-chat-" + Process.GetCurrentProcess().Id);
        Directory.CreateDirectory(dir);
        try
        {
            string chatBundle = null, refusing = null;
            Run("mmb pack adds a chat template", () => {
                chatBundle = PackWithTemplate(dir, "chatml", ChatMl, Plain);
                refusing = PackWithTemplate(dir, "refusing", Refusing);
            });
            if (chatBundle == null || refusing == null) return;
            using (var rt = new Runtime(1))
            using (var m = rt.LoadFile(chatBundle))
                RunChatTestsOn(rt, m, refusing);
        }
        finally { Directory.Delete(dir, true); }
    }

    static void RunChatTestsOn(Runtime rt, Model m, string refusing)
    {
        Run("render gives the template's text exactly", () => {
            Require(m.Info.NChatTemplates >= 1, "templates: " + m.Info.NChatTemplates);
            var messages = new[] { new ChatMessage("system", "You are terse."), new ChatMessage("user", "héllo 世界") };
            string withPrompt = m.Render(messages, true);
            string want = "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nhéllo 世界<|im_end|>\n<|im_start|>assistant\n";
            Require(withPrompt == want, "rendered '" + withPrompt + "'");
            Require(m.Render(messages) == want.Substring(0, want.Length - "<|im_start|>assistant\n".Length), "without the prompt");
            Require(m.Render(messages, true, "default") == want, "\"default\" is the main template");
            Require(m.Render(new ChatMessage[0]) == "", "no messages, no text");
            Require(m.Render(messages, true, "plain") == "system: You are terse.\nuser: héllo 世界\nassistant:", "the named template");
            var e = Throws<MoemambaException>(() => m.Render(messages, true, "no_such_template"));
            Require(e.Status == Native.ErrUnsupported && e.Detail.Length > 0, "unknown template: " + e);
            e = Throws<MoemambaException>(() => m.CreateChat("no_such_template").Dispose());
            Require(e.Status == Native.ErrUnsupported, "unknown template for a chat: " + e);
        });

        Run("a second turn reuses what the session holds", () => {
            using (var chat = m.CreateChat())
            {
                chat.Add("system", "You are terse.");
                chat.Add("user", "Where is the house?");
                var streamed = new StringBuilder();
                var first = Reply(chat, 12, streamed);
                var s1 = first.Stats;
                Require(s1.GeneratedTokens > 0 && s1.GeneratedTokens <= 12, "generated: " + s1);
                Require(s1.Restarted == 0 && s1.ReusedTokens == 0 && s1.PrefilledTokens == s1.PromptTokens, "first turn: " + s1);
                // The prompt is the rendering, tokenized with special tokens and without BOS.
                var rendered = m.Render(new[] { new ChatMessage("system", "You are terse."), new ChatMessage("user", "Where is the house?") }, true);
                Require(s1.PromptTokens == (ulong)m.Tokenize(rendered, 2u /* MMB_TOKENIZE_PARSE_SPECIAL */).Length,
                        "prompt tokens " + s1.PromptTokens + " for '" + rendered + "'");
                Require(streamed.ToString() == first.Text, "streamed '" + streamed + "' vs reply '" + first.Text + "'");
                Require(chat.Session.Position == s1.PromptTokens + s1.GeneratedTokens, "position " + chat.Session.Position);
                var history = chat.Messages;
                Require(history.Length == 3 && chat.MessageCount == 3, "three messages: " + history.Length);
                Require(history[0].Role == "system" && history[0].Content == "You are terse." && history[1].Role == "user" &&
                        history[2].Role == "assistant" && history[2].Content == first.Text, "history: " + string.Join(" | ", history));

                chat.Add("user", "And the garden?");
                var s2 = Reply(chat, 12).Stats;
                Require(s2.Restarted == 0, "not restarted: " + s2);
                // Everything the first turn computed, its prompt and its reply, is kept.
                Require(s2.ReusedTokens == s1.PromptTokens + s1.GeneratedTokens, "reused: " + s2 + " after " + s1);
                Require(s2.PrefilledTokens > 0 && s2.ReusedTokens + s2.PrefilledTokens == s2.PromptTokens, "prefilled: " + s2);
                Require(chat.MessageCount == 5, "five messages: " + chat.MessageCount);
            }
        });

        Run("a chat on a named template renders with it", () => {
            using (var chat = m.CreateChat("plain"))
            {
                chat.Add("user", "Hi");
                var s = Reply(chat, 4).Stats;
                var hi = new[] { new ChatMessage("user", "Hi") };
                string rendered = m.Render(hi, true, "plain");
                Require(s.PromptTokens == (ulong)m.Tokenize(rendered, 2u).Length, "prompt tokens " + s.PromptTokens + " for '" + rendered + "'");
                Require(s.PromptTokens != (ulong)m.Tokenize(m.Render(hi, true), 2u).Length, "the main template gives as many tokens");
            }
        });

        Run("prefill computes only what is new", () => {
            using (var chat = m.CreateChat())
            {
                chat.Add("system", "You are a guard at the castle gate.");
                var p1 = chat.Prefill();
                Require(p1.PromptTokens > 0 && p1.PrefilledTokens == p1.PromptTokens && p1.ReusedTokens == 0 && p1.GeneratedTokens == 0,
                        "first prefill: " + p1);
                var p2 = chat.Prefill();
                Require(p2.PrefilledTokens == 0 && p2.ReusedTokens == p1.PromptTokens, "second prefill: " + p2);
                chat.Add("user", "Who goes there?");
                var g = Reply(chat, 8).Stats;
                Require(g.ReusedTokens == p1.PromptTokens && g.PrefilledTokens == g.PromptTokens - g.ReusedTokens, "turn: " + g);
            }
        });

        Run("a saved chat continues exactly as the original", () => {
            byte[] state;
            string[] history;
            ChatReply original;
            using (var chat = m.CreateChat())
            {
                chat.Add("system", "You are terse.");
                chat.Add("user", "Tell me of the king.");
                Reply(chat, 10);
                state = chat.SaveState();
                history = chat.Messages.Select(x => x.ToString()).ToArray();
                chat.Add("user", "And the queen?");
                original = Reply(chat, 16);
            }
            using (var loaded = m.CreateChat())
            {
                loaded.Add("user", "to be replaced");
                loaded.LoadState(state);
                Require(loaded.Messages.Select(x => x.ToString()).SequenceEqual(history), "the history came back");
                loaded.Add("user", "And the queen?");
                var again = Reply(loaded, 16);
                Require(again.Text == original.Text, "after load '" + again.Text + "' vs '" + original.Text + "'");
                Require(again.Stats.ReusedTokens == original.Stats.ReusedTokens && again.Stats.PromptTokens == original.Stats.PromptTokens &&
                        again.Stats.GeneratedTokens == original.Stats.GeneratedTokens, "stats " + again.Stats + " vs " + original.Stats);

                int before = loaded.MessageCount;
                var e = Throws<MoemambaException>(() => loaded.LoadState(Encoding.ASCII.GetBytes("not a chat state")));
                Require(e.Status == Native.ErrFormat, "garbage: " + e);
                Throws<MoemambaException>(() => loaded.LoadState(state.Take(state.Length / 2).ToArray()));
                Require(loaded.MessageCount == before, "a refused state changes nothing");
            }
        });

        Run("reset empties the history and the session", () => {
            using (var chat = m.CreateChat())
            {
                chat.Add("user", "Hello there.");
                Reply(chat, 4);
                chat.Reset();
                Require(chat.MessageCount == 0 && chat.Session.Position == 0, "empty after reset");
                chat.Add("user", "Hello there.");
                var s = Reply(chat, 4).Stats;
                Require(s.ReusedTokens == 0 && s.Restarted == 0, "a fresh start: " + s);
            }
        });

        Run("a handler that stops ends the reply, which joins the history", () => {
            using (var chat = m.CreateChat())
            using (var sampler = Greedy())
            {
                chat.Add("user", "Say something long.");
                int calls = 0;
                var reply = chat.Generate(sampler, 32, (token, text) => { calls++; return false; });
                Require(calls == 1 && reply.Stats.GeneratedTokens == 1, "one token: " + reply.Stats);
                Require(chat.MessageCount == 2 && chat.GetMessage(1).Role == "assistant", "the reply is in the history");
            }
        });

        Run("stepping the session directly makes the next turn start over", () => {
            using (var chat = m.CreateChat())
            {
                chat.Add("user", "Hello there.");
                Reply(chat, 4);
                chat.Session.Step(1);
                chat.Add("user", "Again.");
                var s = Reply(chat, 4).Stats;
                Require(s.Restarted == 1 && s.ReusedTokens == 0 && s.PrefilledTokens == s.PromptTokens, "restarted: " + s);
            }
        });

        Run("the chat's session goes with the chat", () => {
            var chat = m.CreateChat(maxContext: 64);
            var session = chat.Session;
            Require(session.Position == 0, "a new chat's session is at 0");
            chat.Dispose();
            chat.Dispose();
            Throws<ObjectDisposedException>(() => session.Position.ToString());
            Throws<ObjectDisposedException>(() => chat.Add("user", "late"));
        });

        Run("the template's refusal is a TemplateException with its message", () => {
            using (var bad = rt.LoadFile(refusing))
            {
                var e = Throws<TemplateException>(() => bad.Render(new[] { new ChatMessage("user", "hi") }, true));
                Require(e.Status == Native.ErrTemplate && e.StatusName == "MMB_ERR_TEMPLATE" && e.Detail.Contains("roles must alternate"),
                        "render: " + e);
                using (var chat = bad.CreateChat())
                using (var sampler = Greedy())
                {
                    chat.Add("user", "hi");
                    e = Throws<TemplateException>(() => chat.Generate(sampler, 4));
                    Require(e.Detail.Contains("roles must alternate"), "generate: " + e);
                    e = Throws<TemplateException>(() => chat.Prefill());
                    Require(e is MoemambaException && e.Status == Native.ErrTemplate, "prefill: " + e);
                    Require(chat.MessageCount == 1 && chat.Session.Position == 0, "nothing happened");
                }
            }
        });
    }
}
