// Jobs, frames, events and session paging through the real library and a real bundle.
// Every job's output is compared with the blocking Generate of the same seed on a fresh
// session: a job must produce exactly what mmb_generate produces.
using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Threading;
using Moemamba;

static partial class BindingTests
{
    const string JobPrompt = "The innkeeper leans over the counter and says: ";

    // Full-distribution sampling, so that any drift in state or RNG shows in the text.
    static Sampler SeededSampler(ulong seed)
    {
        var p = Sampler.Defaults();
        p.Temperature = 1; p.TopK = 0; p.TopP = 1; p.MinP = 0; p.Seed = seed;
        return new Sampler(p);
    }

    sealed class BlockingRun { public List<int> Tokens = new List<int>(); public string Text = ""; public byte[] State; }

    // The blocking Generate on a session (stops at EOS, as the jobs below do by default).
    static BlockingRun GenerateOn(Session s, ulong seed, string prompt, int n)
    {
        var run = new BlockingRun();
        var text = new StringBuilder();
        using (var sampler = SeededSampler(seed))
            s.Generate(sampler, prompt, n, (t, piece) => { if (t >= 0) run.Tokens.Add(t); text.Append(piece); return true; });
        run.Text = text.ToString();
        run.State = s.SaveState();
        return run;
    }

    static BlockingRun Blocking(ulong seed, string prompt, int n)
    {
        using (var rt = new Runtime(1))
        using (var m = rt.LoadFile(s_bundle))
        using (var s = m.CreateSession())
            return GenerateOn(s, seed, prompt, n);
    }

    // Polls until the job finishes (calling rt.Frame first when given); text and tokens.
    static string Drain(Job job, Runtime frames, out int[] tokens)
    {
        var text = new StringBuilder();
        while (!job.IsFinished)
        {
            if (frames != null) frames.Frame(500);
            else Thread.Sleep(1);
            text.Append(job.Poll());
        }
        tokens = job.ReadTokens();
        return text.ToString();
    }

    static int ExpectStatus(Action a)
    {
        try { a(); }
        catch (MoemambaException e) { return e.Status; }
        return Native.Ok;
    }

    static void RunJobTests()
    {
        Run("a job's text equals Generate's in every job mode", () => {
            var want = Blocking(42, JobPrompt, 40);
            foreach (var mode in new[] { JobMode.Worker, JobMode.Frame, JobMode.Host })
            {
                Action<Action> pool = work => ThreadPool.QueueUserWorkItem(_ => work());
                using (var rt = new Runtime(2, mode, 0, mode == JobMode.Host ? pool : null))
                using (var m = rt.LoadFile(s_bundle))
                using (var s = m.CreateSession())
                {
                    Job job;
                    using (var sampler = SeededSampler(42)) job = s.Submit(sampler, JobPrompt, 40);
                    // The job samples with its own copy: the sampler is disposed already.
                    using (job)
                    {
                        int[] tokens;
                        string text = Drain(job, mode == JobMode.Frame ? rt : null, out tokens);
                        Require(job.Error == null, mode + ": " + job.Error);
                        Require(text == want.Text, mode + ": job '" + text + "' vs Generate '" + want.Text + "'");
                        Require(tokens.SequenceEqual(want.Tokens), mode + ": tokens");
                    }
                    Require(s.SaveState().SequenceEqual(want.State), mode + ": the session continues where Generate's does");
                }
            }
        });

        Run("frames advance jobs with stats that add up", () => {
            const int nJobs = 4, nTokens = 20;
            using (var rt = new Runtime(2, JobMode.Frame))
            using (var m = rt.LoadFile(s_bundle))
            {
                var sessions = Enumerable.Range(0, nJobs).Select(_ => m.CreateSession()).ToArray();
                var prompts = Enumerable.Range(0, nJobs).Select(i => JobPrompt + i).ToArray();
                var events = Enumerable.Range(0, nJobs).Select(_ => new List<JobEvent>()).ToArray();
                int pollThread = Thread.CurrentThread.ManagedThreadId, wrongThread = 0;
                var jobs = new Job[nJobs];
                for (int i = 0; i < nJobs; i++)
                {
                    var log = events[i];
                    using (var sampler = SeededSampler(100 + (ulong)i))
                        jobs[i] = sessions[i].Submit(sampler, prompts[i], nTokens, e => {
                            if (Thread.CurrentThread.ManagedThreadId != pollThread) wrongThread++;
                            log.Add(e);
                        });
                }
                var frames = new List<FrameStats>();
                while (true)
                {
                    var st = rt.Frame(100);
                    frames.Add(st);
                    if (st.JobsActive == 0) break;
                    Require(frames.Count < 100000, "the jobs never finish");
                }
                Require(frames.Count > 2, "the work spreads over several frames, took " + frames.Count);
                Require(wrongThread == 0, "events on the frame's thread only");
                ulong generated = 0, promptTokens = 0;
                for (int i = 0; i < nJobs; i++)
                {
                    string text = jobs[i].Poll();
                    Require(jobs[i].IsFinished, "finished");
                    var last = events[i][events[i].Count - 1];
                    Require(last.Kind == JobEventKind.Finished && last.Status == Native.Ok, "last event FINISHED");
                    var tokenEvents = events[i].Where(e => e.Kind == JobEventKind.Token).ToList();
                    var evTokens = tokenEvents.Where(e => e.Token >= 0).Select(e => e.Token).ToList();
                    generated += (ulong)evTokens.Count;
                    promptTokens += (ulong)m.Tokenize(prompts[i], Native.TokenizeAddBos).Length;
                    var want = Blocking(100 + (ulong)i, prompts[i], nTokens);
                    Require(string.Concat(tokenEvents.Select(e => e.Text)) == text, "events carry the polled text");
                    Require(text == want.Text && evTokens.SequenceEqual(want.Tokens), "job " + i + " equals Generate");
                    jobs[i].Dispose();
                }
                Require((ulong)frames.Sum(f => (long)f.TokensGenerated) == generated, "tokens add up");
                Require((ulong)frames.Sum(f => (long)f.PromptTokens) == promptTokens, "prompt tokens add up");
                Require(frames.Sum(f => (long)f.JobsFinished) == nJobs, "finished jobs add up");
                Require(frames.Sum(f => (long)f.Events) == events.Sum(e => e.Count), "events add up");
                Require((ulong)frames.Sum(f => (long)f.Steps) < generated, "generating jobs share batched steps");
                foreach (var s in sessions) s.Dispose();
            }
        });

        Run("cancel midway leaves the session usable", () => {
            using (var rt = new Runtime(2, JobMode.Frame))
            using (var m = rt.LoadFile(s_bundle))
            using (var s = m.CreateSession())
            using (var sampler = SeededSampler(3))
            {
                var tokens = new List<int>();
                using (var job = s.Submit(sampler, JobPrompt, 200, null, false))
                {
                    while (tokens.Count < 5)
                    {
                        rt.Frame(200);
                        job.Poll();
                        tokens.AddRange(job.ReadTokens());
                    }
                    Require(ExpectStatus(() => s.Step(1)) == Native.ErrBusy, "a busy session refuses a step");
                    job.Cancel();
                    job.Cancel(); // twice: nothing more happens
                    job.Poll();
                    tokens.AddRange(job.ReadTokens());
                    Require(job.IsFinished && job.IsCancelled && job.Error.Status == Native.ErrCancelled,
                            "with no thread advancing it, a cancelled job ends at once");
                    job.Cancel(); // after the end: nothing happens
                }
                Require(tokens.Count < 200, "cut short");
                Require(s.Position == (ulong)(m.Tokenize(JobPrompt, Native.TokenizeAddBos).Length + tokens.Count),
                        "every emitted token entered the state");
                using (var fresh = m.CreateSession())
                {
                    fresh.LoadState(s.SaveState());
                    var a = GenerateOn(s, 9, "more", 8);
                    var b = GenerateOn(fresh, 9, "more", 8);
                    Require(a.Text == b.Text && a.Tokens.SequenceEqual(b.Tokens), "continues as a fresh session with its state");
                }
            }
            // With the background worker a cancel from another thread races the work:
            // either way the job ends and the session is free again.
            using (var rt = new Runtime(2))
            using (var m = rt.LoadFile(s_bundle))
            using (var s = m.CreateSession())
            using (var sampler = SeededSampler(4))
            {
                using (var job = s.Submit(sampler, string.Concat(Enumerable.Repeat(JobPrompt, 12)), 64))
                {
                    var canceller = new Thread(() => job.Cancel());
                    canceller.Start();
                    Require(job.Wait(60000), "the job ends");
                    canceller.Join();
                    job.Poll();
                    Require(job.Status == Native.Ok || job.Status == Native.ErrCancelled, "ended or cancelled");
                }
                s.Step(1);
            }
        });

        Run("paging under a one-session budget is transparent", () => {
            ulong perSession;
            using (var rt = new Runtime(1))
            using (var m = rt.LoadFile(s_bundle))
            using (m.CreateSession())
                perSession = rt.SessionMemory.ResidentBytes;
            Require(perSession > 0, "a session holds memory");
            var prompts = new[] { "first speaker: ", "second speaker, longer: " };
            var want = new[] { Blocking(20, prompts[0], 16), Blocking(21, prompts[1], 16) };
            foreach (var mode in new[] { JobMode.Worker, JobMode.Frame })
            {
                using (var rt = new Runtime(2, mode, perSession))
                using (var m = rt.LoadFile(s_bundle))
                {
                    var sessions = new[] { m.CreateSession(), m.CreateSession() };
                    var jobs = new Job[2];
                    for (int i = 0; i < 2; i++)
                        using (var sampler = SeededSampler(20 + (ulong)i)) jobs[i] = sessions[i].Submit(sampler, prompts[i], 16);
                    var texts = new[] { new StringBuilder(), new StringBuilder() };
                    while (!jobs.All(j => j.IsFinished))
                    {
                        if (mode == JobMode.Frame) rt.Frame(1000);
                        else Thread.Sleep(1);
                        for (int i = 0; i < 2; i++) texts[i].Append(jobs[i].Poll());
                    }
                    for (int i = 0; i < 2; i++)
                    {
                        Require(texts[i].ToString() == want[i].Text, mode + ": job " + i + " equals the unbudgeted run");
                        Require(jobs[i].ReadTokens().SequenceEqual(want[i].Tokens), mode + ": tokens " + i);
                        jobs[i].Dispose();
                    }
                    var mem = rt.SessionMemory;
                    Require(mem.Sessions == 2 && mem.BudgetBytes == perSession && mem.ResidentBytes <= perSession,
                            mode + ": resident " + mem.ResidentBytes + " of a budget of " + perSession);
                    Require(mem.PageOuts > 0, mode + ": paged " + mem.PageOuts + " out");
                    for (int i = 0; i < 2; i++) Require(sessions[i].SaveState().SequenceEqual(want[i].State), mode + ": state " + i);
                    // Both states were read with room for one session: one came back in
                    // (not earlier: the first job may end before the second starts).
                    Require(rt.SessionMemory.PageIns > 0, mode + ": paged back in");
                    sessions[0].PageOut();
                    sessions[0].PageOut(); // already out: nothing to do
                    mem = rt.SessionMemory;
                    Require(mem.PagedSessions >= 1 && mem.PagedBytes > 0, mode + ": paged out on request");
                    foreach (var s in sessions) s.Dispose();
                }
            }
            using (var rt = new Runtime(1, JobMode.Worker, 64))
            using (var m = rt.LoadFile(s_bundle))
                Require(ExpectStatus(() => m.CreateSession()) == Native.ErrBudget, "a session above the budget");
        });

        Run("job misuse gives exceptions, not crashes", () => {
            using (var rt = new Runtime(2))
            using (var m = rt.LoadFile(s_bundle))
            using (var s = m.CreateSession())
            using (var sampler = SeededSampler(1))
            {
                string longPrompt = string.Concat(Enumerable.Repeat(JobPrompt, 20));
                var job = s.Submit(sampler, longPrompt, 200);
                Require(ExpectStatus(() => s.Submit(sampler, "x")) == Native.ErrBusy, "a second job on a busy session");
                Require(ExpectStatus(() => s.PageOut()) == Native.ErrBusy, "paging out a busy session");
                job.Dispose();
                job.Dispose();
                foreach (var use in new Action[] { () => job.Poll(), () => job.Cancel(), () => job.Wait(1), () => job.ReadTokens() })
                {
                    bool disposed = false;
                    try { use(); } catch (ObjectDisposedException) { disposed = true; }
                    Require(disposed, "use after Dispose throws ObjectDisposedException");
                }
                s.Step(1); // disposing the job freed the session
                Require(ExpectStatus(() => s.SubmitTokens(sampler, new[] { 999 })) == Native.ErrInvalidArgument, "a token out of range");
                Require(ExpectStatus(() => s.Submit(sampler, "x", -1)) == Native.ErrInvalidArgument, "negative max tokens");
                Require(ExpectStatus(() => new Runtime(1, JobMode.Host)) == Native.ErrInvalidArgument, "host mode without runTask");

                // A handler's exception is rethrown by the Poll that delivered the event; a
                // handler may dispose its own job.
                using (var j = s.Submit(sampler, "abc", 4, e => { throw new InvalidOperationException("from the handler"); }))
                {
                    j.Wait();
                    string caught = null;
                    try { j.Poll(); } catch (InvalidOperationException e) { caught = e.Message; }
                    Require(caught == "from the handler", "the handler's exception reaches Poll");
                }
                int seen = 0;
                Job own = null;
                own = s.Submit(sampler, "abc", 4, e => { seen++; own.Dispose(); });
                own.Wait();
                own.Poll();
                Require(seen == 1, seen + " events after the handler disposed its job");
                s.Step(2);

                // A job outlives the session it came from: disposing the session cancels it.
                Job late;
                using (var rt2 = new Runtime(1, JobMode.Frame))
                using (var m2 = rt2.LoadFile(s_bundle))
                using (var s2 = m2.CreateSession())
                    late = s2.Submit(sampler, "late", 5);
                late.Poll();
                Require(late.IsFinished && late.IsCancelled, "a job whose session was disposed ends cancelled");
                late.Dispose();

                // Disposing a job while another thread waits on it cancels it; the wait returns.
                var waited = s.Submit(sampler, longPrompt, 200);
                Exception waitError = null;
                bool finished = false;
                var waiter = new Thread(() => {
                    try { finished = waited.Wait(60000); } catch (ObjectDisposedException e) { waitError = e; }
                });
                waiter.Start();
                Thread.Sleep(5);
                waited.Dispose();
                Require(waiter.Join(60000), "the wait returned");
                Require(finished || waitError != null, "finished, or disposed before the wait began");
                s.Step(3);
            }
        });
    }
}
