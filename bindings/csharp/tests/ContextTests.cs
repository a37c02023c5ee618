// Models with attention layers: the session's context limit and KV cache type, on a real
// small-hybrid bundle (attention, Mamba-2 and MoE layers); and the structs' layout
// against the header, as the C compiler sees it.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;
using Moemamba;

static partial class BindingTests
{
    static string s_hybrid;

    // The small-hybrid bundle: the runner's third argument (ctest makes it), else one
    // written by `mmb synth --shape small-hybrid` into the temporary folder.
    static string HybridBundle(string[] args)
    {
        if (args.Length > 2) return args[2];
        string path = Path.Combine(Path.GetTempPath(), "moemamba-cs-" + Process.GetCurrentProcess().Id + "-small-hybrid.mmb");
        RunProcess(s_cli, "synth --shape small-hybrid --quiet -o \"" + path + "\"");
        return path;
    }

    static string RunProcess(string program, string arguments)
    {
        var psi = new ProcessStartInfo(program, arguments);
        psi.UseShellExecute = false;
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        using (var proc = Process.Start(psi))
        {
            string output = proc.StandardOutput.ReadToEnd();
            string errors = proc.StandardError.ReadToEnd();
            proc.WaitForExit();
            if (proc.ExitCode != 0) throw new Exception(program + " " + arguments + " failed: " + errors);
            return output;
        }
    }

    static T Throws<T>(Action a) where T : Exception
    {
        try { a(); }
        catch (T e) { return e; }
        throw new Exception("expected " + typeof(T).Name);
    }

    static float[] LogitsWith(Model m, int[] tokens, ulong maxContext, KvType kvType)
    {
        using (var s = m.CreateSession(maxContext, kvType))
        {
            var logits = new float[s.VocabSize];
            s.Prefill(tokens);
            s.Step('!', logits);
            return logits;
        }
    }

    // The layout program shared with the Rust and Python bindings
    // (bindings/rust/sys/tests/layout.c): "size T N", "offset T.field N" per line.
    static Dictionary<string, long> CLayout(string source, string include)
    {
        string exe = Path.Combine(Path.GetTempPath(), "moemamba-cs-layout-" + Process.GetCurrentProcess().Id);
        try
        {
            RunProcess(Environment.GetEnvironmentVariable("CC") ?? "cc",
                       "-std=c11 -I \"" + include + "\" \"" + source + "\" -o \"" + exe + "\"");
            var table = new Dictionary<string, long>();
            foreach (var line in RunProcess(exe, "").Split('\n').Where(l => l.Length > 0))
            {
                int space = line.LastIndexOf(' ');
                table[line.Substring(0, space)] = long.Parse(line.Substring(space + 1));
            }
            return table;
        }
        finally { File.Delete(exe); }
    }

    // "n_mamba_layers" -> "NMambaLayers"
    static string Pascal(string snake)
    {
        return string.Concat(snake.Split('_').Select(p => char.ToUpperInvariant(p[0]) + p.Substring(1)));
    }

    static void RunContextTests(string[] args)
    {
        Run("the structs' layout is the header's", () => {
            string source = Environment.GetEnvironmentVariable("MOEMAMBA_LAYOUT_C");
            string include = Environment.GetEnvironmentVariable("MOEMAMBA_INCLUDE_DIR");
            Require(source != null && include != null,
                    "MOEMAMBA_LAYOUT_C (bindings/rust/sys/tests/layout.c) and MOEMAMBA_INCLUDE_DIR are set");
            var c = CLayout(source, include);
            var structs = new Dictionary<string, Type> {
                { "mmb_runtime_options", typeof(RuntimeOptions) }, { "mmb_backend_info", typeof(BackendInfoNative) },
                { "mmb_load_options", typeof(LoadOptions) }, { "mmb_model_info", typeof(ModelInfo) },
                { "mmb_session_options", typeof(SessionOptions) }, { "mmb_sampler_params", typeof(SamplerParams) },
                { "mmb_generate_options", typeof(GenerateOptions) }, { "mmb_job_options", typeof(JobOptions) },
                { "mmb_frame_stats", typeof(FrameStats) }, { "mmb_session_memory", typeof(SessionMemory) },
                { "mmb_chat_message", typeof(ChatMessageNative) }, { "mmb_chat_options", typeof(ChatOptions) },
                { "mmb_chat_stats", typeof(ChatStats) }, { "mmb_grammar_options", typeof(GrammarOptions) } };
            var renamed = new Dictionary<string, string> { { "mmb_model_info.name", "NamePtr" } };
            foreach (var pair in structs)
            {
                Require(Marshal.SizeOf(pair.Value) == c["size " + pair.Key],
                        pair.Key + ": C# " + Marshal.SizeOf(pair.Value) + " bytes, C " + c["size " + pair.Key]);
                var cFields = c.Keys.Where(k => k.StartsWith("offset " + pair.Key + ".")).ToList();
                var csFields = pair.Value.GetFields().Where(f => !f.IsStatic).Select(f => f.Name).ToList();
                Require(cFields.Count == csFields.Count, pair.Key + ": " + cFields.Count + " fields in C, " + csFields.Count + " in C#");
                foreach (var key in cFields)
                {
                    string field = key.Substring(("offset " + pair.Key + ".").Length);
                    string name;
                    if (!renamed.TryGetValue(pair.Key + "." + field, out name)) name = Pascal(field);
                    Require(csFields.Contains(name), pair.Key + "." + field + " has no C# field " + name);
                    long offset = (long)Marshal.OffsetOf(pair.Value, name);
                    Require(offset == c[key], pair.Key + "." + field + ": C# offset " + offset + ", C " + c[key]);
                }
            }
            Require(Native.ErrContextFull == c["const MMB_ERR_CONTEXT_FULL"], "MMB_ERR_CONTEXT_FULL");
            Require(Native.ErrTemplate == c["const MMB_ERR_TEMPLATE"] && Native.ErrUnsupported == c["const MMB_ERR_UNSUPPORTED"] &&
                    Native.ErrStateMismatch == c["const MMB_ERR_STATE_MISMATCH"], "MMB_ERR_TEMPLATE, MMB_ERR_UNSUPPORTED, MMB_ERR_STATE_MISMATCH");
            Require(Native.ErrGrammar == c["const MMB_ERR_GRAMMAR"] && Native.GrammarGbnf == c["const MMB_GRAMMAR_GBNF"] &&
                    Native.GrammarJsonSchema == c["const MMB_GRAMMAR_JSON_SCHEMA"], "MMB_ERR_GRAMMAR, MMB_GRAMMAR_*");
            Require((int)KvType.F16 == c["const MMB_KV_F16"] && (int)KvType.F32 == c["const MMB_KV_F32"], "MMB_KV_*");
        });

        s_hybrid = HybridBundle(args);
        using (var rt = new Runtime(1))
        {
            Run("model info describes the attention layers", () => {
                using (var m = rt.LoadFile(s_hybrid))
                using (var tiny = rt.LoadFile(s_bundle))
                {
                    var info = m.Info;
                    Require(info.NAttentionLayers >= 1, "attention layers: " + info.NAttentionLayers);
                    Require(info.ContextLength == 2048, "context length 2048, got " + info.ContextLength);
                    Require(info.KvValuesPerToken > 0, "KV values per token: " + info.KvValuesPerToken);
                    var t = tiny.Info;
                    Require(t.NAttentionLayers == 0 && t.ContextLength == 0 && t.KvValuesPerToken == 0,
                            "tiny has no attention layers");
                }
            });

            Run("a full context refuses the next token and consumes nothing", () => {
                using (var m = rt.LoadFile(s_hybrid))
                using (var s = m.CreateSession(maxContext: 8))
                {
                    var tokens = new[] { 1, 2, 3, 4, 5, 6, 7, 8 };
                    var logits = new float[s.VocabSize];
                    s.Prefill(tokens, logits);
                    Require(s.Position == 8, "position 8, got " + s.Position);
                    var e = Throws<ContextFullException>(() => s.Step(9));
                    Require(e.Status == Native.ErrContextFull && e.StatusName == "MMB_ERR_CONTEXT_FULL" && e.Detail.Length > 0,
                            "status: " + e);
                    Require(e is MoemambaException, "a MoemambaException");
                    Throws<ContextFullException>(() => s.Step(9, logits));
                    Throws<ContextFullException>(() => s.Prefill(new[] { 9, 10 }));
                    Require(s.Position == 8, "a refused step consumes nothing: position " + s.Position);

                    // After a reset the whole context is there again, and stepping gives
                    // what a fresh session gives.
                    s.Reset();
                    Require(s.Position == 0, "position 0 after reset, got " + s.Position);
                    var afterReset = new float[s.VocabSize];
                    s.Step(1, afterReset);
                    var fresh = new float[s.VocabSize];
                    using (var f = m.CreateSession()) f.Step(1, fresh);
                    for (int i = 0; i < fresh.Length; i++) Require(Close(afterReset[i], fresh[i]), "logit " + i + " after reset");
                    s.Prefill(tokens.Skip(1).ToArray());
                    Throws<ContextFullException>(() => s.Step(9));

                    // A prefill that would cross the limit is refused whole.
                    using (var shortSession = m.CreateSession(8))
                    {
                        Throws<ContextFullException>(() => shortSession.Prefill(Enumerable.Range(1, 9).ToArray()));
                        Require(shortSession.Position == 0, "a refused prefill consumes nothing");
                    }
                }
            });

            Run("the default context is the model's", () => {
                using (var m = rt.LoadFile(s_hybrid))
                using (var s = m.CreateSession())
                {
                    s.Prefill(Enumerable.Range(0, (int)m.Info.ContextLength).Select(i => i % 256).ToArray());
                    Throws<ContextFullException>(() => s.Step(1));
                    Require(s.Position == 2048, "position 2048, got " + s.Position);
                }
            });

            Run("generation stops at the context limit", () => {
                using (var m = rt.LoadFile(s_hybrid))
                using (var s = m.CreateSession(8))
                {
                    int n = 0;
                    using (var sampler = Greedy())
                        Throws<ContextFullException>(() => s.Generate(sampler, "abcd", 16, (t, text) => { n++; return true; }));
                    Require(s.Position == 8 && n == 4,
                            "position " + s.Position + " after " + n + " tokens, want 8 after 4: each token passed on entered the state");
                }
            });

            Run("a prompt past the context is refused at submit", () => {
                using (var frames = new Runtime(1, JobMode.Frame))
                using (var m = frames.LoadFile(s_hybrid))
                using (var s = m.CreateSession(8))
                {
                    var e = Throws<ContextFullException>(() => s.SubmitTokens(null, Enumerable.Range(1, 9).ToArray(),
                                                                              onEvent: ev => { }).Dispose());
                    Require(e.Status == Native.ErrContextFull && e.Detail.Contains("context"), "error: " + e);
                    Require(s.Position == 0, "nothing was submitted: position " + s.Position);
                    s.Step(1); // not busy: no job holds the session
                    Require(s.Position == 1, "position 1 after a step, got " + s.Position);
                }
            });

            Run("a job past the context fails with ContextFullException", () => {
                using (var frames = new Runtime(1, JobMode.Frame))
                using (var m = frames.LoadFile(s_hybrid))
                using (var s = m.CreateSession(8))
                {
                    var prompt = new[] { 1, 2, 3, 4 };
                    string message = null;
                    int[] tokens;
                    using (var sampler = Greedy())
                    using (var job = s.SubmitTokens(sampler, prompt, 16, e => { if (e.Kind == JobEventKind.Error) message = e.Text; },
                                                    stopAtEos: false))
                    {
                        Drain(job, frames, out tokens);
                        Require(job.Status == Native.ErrContextFull, "status " + job.Status);
                        Require(job.Error is ContextFullException, "error: " + job.Error);
                        Require(message != null && message.Contains("context"), "the message: " + message);
                    }
                    Require(tokens.Length == 4, "4 prompt tokens and 4 more fill the context: " + string.Join(",", tokens));
                    Require(s.Position == 8, "position 8, got " + s.Position);

                    // Every emitted token entered the state: the prompt and then each token,
                    // stepped into a fresh session as the job does, give the same state, and
                    // each token is the greedy choice after the ones before it.
                    using (var fresh = m.CreateSession(8))
                    {
                        var logits = new float[fresh.VocabSize];
                        fresh.Prefill(prompt, logits);
                        foreach (int token in tokens)
                        {
                            Require(token == Argmax(logits), "token " + token + " is not the greedy choice " + Argmax(logits));
                            fresh.Step(token, logits);
                        }
                        Require(fresh.Position == 8, "the fresh session at 8, got " + fresh.Position);
                        Require(fresh.SaveState().SequenceEqual(s.SaveState()), "the job's state differs");
                    }
                }
            });

            Run("an f32 KV cache gives the logits of an f16 one", () => {
                using (var m = rt.LoadFile(s_hybrid))
                {
                    var tokens = m.Tokenize("The quick brown fox jumps over the lazy dog.");
                    var f16 = LogitsWith(m, tokens, 0, KvType.F16);
                    var f32 = LogitsWith(m, tokens, 0, KvType.F32);
                    float[] byDefault;
                    using (var s = m.CreateSession())
                    {
                        byDefault = new float[s.VocabSize];
                        s.Prefill(tokens);
                        s.Step('!', byDefault);
                    }
                    Require(byDefault.SequenceEqual(f16), "F16 is the default");
                    float scale = f16.Max(v => Math.Abs(v));
                    for (int i = 0; i < f16.Length; i++)
                        Require(Math.Abs(f32[i] - f16[i]) <= 1e-2f * scale, "logit " + i + ": f32 " + f32[i] + " vs f16 " + f16[i]);
                    Require(Argmax(f32) == Argmax(f16), "the same argmax");
                }
            });

            Run("session options are checked, and ignored without attention", () => {
                using (var m = rt.LoadFile(s_hybrid))
                {
                    var e = Throws<MoemambaException>(() => m.CreateSession((1ul << 24) + 1).Dispose());
                    Require(e.Status == Native.ErrInvalidArgument && e.Detail.Contains("max_context"), "max_context: " + e);
                    e = Throws<MoemambaException>(() => m.CreateSession(kvType: (KvType)7).Dispose());
                    Require(e.Status == Native.ErrInvalidArgument && e.Detail.Contains("kv_type"), "kv_type: " + e);
                }
                // A pure-Mamba model has no context limit: the options change nothing.
                using (var tiny = rt.LoadFile(s_bundle))
                using (var limited = tiny.CreateSession(8, KvType.F32))
                using (var plain = tiny.CreateSession())
                {
                    var tokens = Enumerable.Range(1, 12).ToArray();
                    var got = new float[limited.VocabSize];
                    var want = new float[plain.VocabSize];
                    limited.Prefill(tokens, got);
                    plain.Prefill(tokens, want);
                    Require(limited.Position == 12, "position 12, got " + limited.Position);
                    Require(got.SequenceEqual(want), "the same logits");
                }
            });
        }
        if (args.Length <= 2) File.Delete(s_hybrid);
    }
}
