// Self-contained test runner for the C# binding: real library, real bundle.
// Usage: mono BindingTests.exe BUNDLE MMB_CLI [HYBRID_BUNDLE]
//   BUNDLE: `mmb synth --shape tiny --seed 3`; HYBRID_BUNDLE: `mmb synth --shape small-hybrid`
//   (made with MMB_CLI when not given). The layout test reads MOEMAMBA_LAYOUT_C (the path
//   of bindings/rust/sys/tests/layout.c) and MOEMAMBA_INCLUDE_DIR; the chat tests pack
//   MOEMAMBA_DEMO_BUNDLE (default: the repository's models/demo-moe-mamba.mmb) with chat
//   templates; the grammar tests run on that bundle.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using Moemamba;

static partial class BindingTests
{
    static string s_bundle, s_cli;
    static int s_passed, s_failed;

    static void Require(bool ok, string what) { if (!ok) throw new Exception("check failed: " + what); }

    static void Run(string name, Action test)
    {
        try { test(); s_passed++; Console.WriteLine("ok   " + name); }
        catch (Exception e) { s_failed++; Console.WriteLine("FAIL " + name + ": " + e); }
    }

    static int Argmax(float[] l) { int b = 0; for (int i = 1; i < l.Length; i++) if (l[i] > l[b]) b = i; return b; }

    static bool Close(float a, float b) { return Math.Abs(a - b) <= 1e-5 * Math.Max(1.0, Math.Abs(b)); }

    static int Main(string[] args)
    {
        s_bundle = args[0];
        s_cli = args[1];
        using (var rt = new Runtime(1))
        {
            Run("load from file and memory", () => {
                using (var m = rt.LoadFile(s_bundle))
                using (var m2 = rt.LoadMemory(File.ReadAllBytes(s_bundle)))
                {
                    var info = m.Info;
                    Require(info.VocabSize == 256, "vocab 256, got " + info.VocabSize);
                    Require(info.NMambaLayers > 0 && info.NMoeLayers > 0 && info.StateBytes > 0, "every layer kind");
                    Require(m2.Info.Fingerprint == info.Fingerprint, "same fingerprint from memory");
                }
            });

            Run("utf-8 split across tokens", () => {
                using (var m = rt.LoadFile(s_bundle))
                using (var d = m.CreateDetokenizer())
                {
                    const string text = "héllo 世界";
                    var tokens = m.Tokenize(text);
                    Require(tokens.Length == Encoding.UTF8.GetByteCount(text), "one token per byte");
                    var sb = new StringBuilder();
                    foreach (var t in tokens)
                    {
                        var piece = d.Push(t);
                        Require(piece.IndexOf('\uFFFD') < 0, "piece holds whole characters only: " + piece);
                        sb.Append(piece);
                    }
                    sb.Append(d.Flush());
                    Require(sb.ToString() == text, "round trip gave " + sb);
                }
            });

            Run("greedy generation matches a step loop and mmb generate", () => {
                using (var m = rt.LoadFile(s_bundle))
                {
                    const string prompt = "hello";
                    const int n = 12;
                    var genTokens = new List<int>();
                    var genText = new StringBuilder();
                    using (var sampler = Greedy())
                    using (var s = m.CreateSession())
                        s.Generate(sampler, prompt, n, (t, text) => { genTokens.Add(t); genText.Append(text); return true; });
                    Require(genTokens.Count > 0, "some tokens");

                    var loop = new List<int>();
                    using (var s = m.CreateSession())
                    {
                        var logits = new float[s.VocabSize];
                        s.Prefill(m.Tokenize(prompt, Native.TokenizeAddBos), logits);
                        for (int i = 0; i < n; i++)
                        {
                            int t = Argmax(logits);
                            if (t == m.Info.EosId) break;
                            loop.Add(t);
                            s.Step(t, logits);
                        }
                    }
                    Require(loop.SequenceEqual(genTokens), "step loop " + string.Join(",", loop) + " vs generate " + string.Join(",", genTokens));

                    string streamed;
                    using (var sampler = Greedy())
                    using (var s = m.CreateSession())
                        streamed = string.Concat(s.Stream(m, sampler, prompt, n));
                    Require(streamed == genText.ToString(), "stream '" + streamed + "' vs generate '" + genText + "'");

                    var psi = new ProcessStartInfo(s_cli, "generate \"" + s_bundle + "\" --prompt " + prompt +
                                                   " --temp 0 --max-tokens " + n + " --threads 1");
                    psi.UseShellExecute = false;
                    psi.RedirectStandardOutput = true;
                    psi.RedirectStandardError = true;
                    psi.StandardOutputEncoding = Encoding.UTF8;
                    using (var proc = Process.Start(psi))
                    {
                        string cli = proc.StandardOutput.ReadToEnd();
                        proc.StandardError.ReadToEnd();
                        proc.WaitForExit();
                        Require(proc.ExitCode == 0, "mmb generate exit code");
                        Require(cli == genText.ToString(), "mmb generate '" + cli + "' vs binding '" + genText + "'");
                    }
                }
            });

            Run("prefill equals steps; batch equals steps", () => {
                using (var m = rt.LoadFile(s_bundle))
                using (var a = m.CreateSession())
                using (var b = m.CreateSession())
                using (var c = m.CreateSession())
                using (var d = m.CreateSession())
                {
                    var tokens = m.Tokenize("the quick brown fox");
                    var la = new float[a.VocabSize];
                    var lb = new float[a.VocabSize];
                    a.Prefill(tokens, la);
                    foreach (var t in tokens) b.Step(t, lb);
                    for (int i = 0; i < la.Length; i++) Require(Close(la[i], lb[i]), "logit " + i);
                    Require(a.Position == (ulong)tokens.Length, "position");

                    var batch = new float[2 * c.VocabSize];
                    foreach (var t in tokens) Session.StepBatch(new[] { c, d }, new[] { t, t }, batch);
                    for (int i = 0; i < lb.Length; i++)
                        Require(Close(batch[i], lb[i]) && Close(batch[lb.Length + i], lb[i]), "batch logit " + i);
                }
            });

            Run("state save, load and fork", () => {
                using (var m = rt.LoadFile(s_bundle))
                using (var s = m.CreateSession())
                using (var fresh = m.CreateSession())
                {
                    s.Prefill(m.Tokenize("abc"));
                    var state = s.SaveState();
                    using (var fork = s.Fork())
                    {
                        var want = new float[s.VocabSize];
                        var got = new float[s.VocabSize];
                        var got2 = new float[s.VocabSize];
                        s.Step('d', want);
                        fork.Step('d', got);
                        fresh.LoadState(state);
                        fresh.Step('d', got2);
                        for (int i = 0; i < want.Length; i++) Require(got[i] == want[i] && got2[i] == want[i], "logit " + i);
                    }
                    bool threw = false;
                    try { fresh.LoadState(state.Take(state.Length / 2).ToArray()); }
                    catch (MoemambaException) { threw = true; }
                    Require(threw, "a truncated state is refused");
                }
            });

            Run("errors carry status and message", () => {
                MoemambaException e = null;
                try { rt.LoadFile(Path.Combine(Path.GetTempPath(), "no-such-bundle.mmb")); } catch (MoemambaException x) { e = x; }
                Require(e != null && e.Status == Native.ErrIo && e.Detail.Length > 0, "missing file: " + e);
                e = null;
                try { rt.LoadMemory(Encoding.ASCII.GetBytes("garbage!")); } catch (MoemambaException x) { e = x; }
                Require(e != null && e.Status == Native.ErrFormat && e.Detail.Length > 0, "garbage bundle: " + e);
                using (var m = rt.LoadFile(s_bundle))
                {
                    var s = m.CreateSession();
                    e = null;
                    try { s.Step(100000); } catch (MoemambaException x) { e = x; }
                    Require(e != null && e.Status == Native.ErrInvalidArgument && e.Detail.Length > 0, "bad token: " + e);
                    s.Dispose();
                    s.Dispose();
                    bool disposed = false;
                    try { s.Step(1); } catch (ObjectDisposedException) { disposed = true; }
                    Require(disposed, "use after dispose throws ObjectDisposedException");
                }
            });

            Run("many sessions on threads share one model", () => {
                using (var m = rt.LoadFile(s_bundle))
                {
                    var tokens = m.Tokenize("shared model, own sessions");
                    var want = new float[m.Info.VocabSize];
                    using (var s = m.CreateSession()) s.Prefill(tokens, want);
                    var failures = new List<string>();
                    var threads = Enumerable.Range(0, 8).Select(_ => new Thread(() => {
                        try
                        {
                            using (var s = m.CreateSession())
                            {
                                var got = new float[s.VocabSize];
                                foreach (var t in tokens) s.Step(t, got);
                                for (int i = 0; i < got.Length; i++)
                                    if (!Close(got[i], want[i])) throw new Exception("logits differ on a thread");
                            }
                        }
                        catch (Exception x) { lock (failures) failures.Add(x.Message); }
                    })).ToList();
                    threads.ForEach(t => t.Start());
                    threads.ForEach(t => t.Join());
                    Require(failures.Count == 0, string.Join("; ", failures));
                }
            });

            Run("step overhead (printed)", () => {
                using (var m = rt.LoadFile(s_bundle))
                using (var s = m.CreateSession())
                {
                    const int n = 2000;
                    var raw = s.DangerousGetHandle();
                    for (int i = 0; i < 200; i++) s.Step(i % 256); // warm up the JIT and caches
                    // Best of five interleaved rounds, so both see the same machine load.
                    double wrapped = double.MaxValue, bare = double.MaxValue;
                    for (int round = 0; round < 5; round++)
                    {
                        var sw = Stopwatch.StartNew();
                        for (int i = 0; i < n; i++) s.Step(i % 256);
                        wrapped = Math.Min(wrapped, sw.Elapsed.TotalMilliseconds * 1000.0 / n);
                        sw.Restart();
                        for (int i = 0; i < n; i++) Native.mmb_session_step(raw, i % 256, null, UIntPtr.Zero);
                        bare = Math.Min(bare, sw.Elapsed.TotalMilliseconds * 1000.0 / n);
                    }
                    Console.WriteLine("step x{0}: binding {1:F2} us/call, bare P/Invoke {2:F2} us/call, overhead {3:F2} us/call",
                                      n, wrapped, bare, wrapped - bare);
                }
            });
        }
        RunJobTests();
        RunBackendTests();
        RunContextTests(args);
        RunChatTests();
        RunGrammarTests();
        Console.WriteLine("{0} passed, {1} failed", s_passed, s_failed);
        return s_failed == 0 ? 0 : 1;
    }
}
