// Jobs: generation that runs without blocking the caller (moemamba.h section 7).
// Session.Submit makes a Job; Runtime.Frame and Job.Poll deliver its events.
using System;
using System.Collections.Generic;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;

namespace Moemamba
{
    /// <summary>Who advances jobs (MMB_JOBS_*).</summary>
    public enum JobMode
    {
        /// <summary>A background thread of the runtime (the default).</summary>
        Worker = 0,
        /// <summary>Only Runtime.Frame and Job.Wait: a game loop with a budget per frame.</summary>
        Frame = 1,
        /// <summary>The host's job system, given as the runtime's runTask.</summary>
        Host = 2
    }

    /// <summary>What a job is doing (MMB_JOB_*); a job only moves forward through these.</summary>
    public enum JobState { Queued = 0, Prefill = 1, Generating = 2, Finished = 3 }

    /// <summary>Kinds of JobEvent (MMB_JOB_EVENT_*).</summary>
    public enum JobEventKind
    {
        /// <summary>A generated token and the text it completes.</summary>
        Token = 0,
        /// <summary>The job ended: Status Ok or ErrCancelled. Always the last event.</summary>
        Finished = 1,
        /// <summary>The job failed: Status and Text say why. Always the last event.</summary>
        Error = 2
    }

    /// <summary>One event of a job. Token is -1 when the event has none.</summary>
    public struct JobEvent
    {
        public JobEventKind Kind;
        public int Token;
        public string Text;
        public int Status;
    }

    // The host's job system: every model and session of the runtime holds it, so it
    // lives while a job submission may call it. The native side holds a GCHandle to
    // the delegate, freed when the last holder is collected.
    internal sealed class HostTasks
    {
        private GCHandle _run;
        internal HostTasks(Action<Action> run) { _run = GCHandle.Alloc(run); }
        ~HostTasks() { _run.Free(); }
        internal IntPtr UserData { get { return GCHandle.ToIntPtr(_run); } }

        internal static readonly RunTaskNative s_runTask = RunTask;

        [MonoPInvokeCallback(typeof(RunTaskNative))]
        private static void RunTask(IntPtr userData, IntPtr task, IntPtr taskData)
        {
            int ran = 0;
            var native = (TaskNative)Marshal.GetDelegateForFunctionPointer(task, typeof(TaskNative));
            Action once = () =>
            {
                if (Interlocked.Exchange(ref ran, 1) != 0) return;
                var d = Delivery.Begin(); // the library may hand out the next task from here
                try { native(taskData); }
                finally { d.End(); }
            };
            try { ((Action<Action>)GCHandle.FromIntPtr(userData).Target)(once); }
            catch (Exception e)
            {
                // The task still runs exactly once; the submitting call throws afterwards.
                ThreadPool.QueueUserWorkItem(_ => once());
                Delivery.Catch(e);
            }
        }
    }

    // Collects an exception thrown by a handler or task runner during one native call on
    // this thread (it must not cross the native frames), to throw once the call returns.
    internal sealed class Delivery
    {
        [ThreadStatic] private static Delivery t_current;
        private Delivery _outer;
        private ExceptionDispatchInfo _caught;

        internal static Delivery Begin()
        {
            var d = new Delivery { _outer = t_current };
            t_current = d;
            return d;
        }

        internal static void Catch(Exception e)
        {
            var d = t_current;
            if (d != null && d._caught == null) d._caught = ExceptionDispatchInfo.Capture(e);
        }

        internal void End()
        {
            t_current = _outer;
            if (_caught != null) _caught.Throw();
        }
    }

    // A job's handler and the message of its ERROR event. The job holds it; the registry
    // holds it weakly, so a handler that refers to its own job does not keep the job alive.
    internal sealed class EventSink
    {
        internal Action<JobEvent> Handler;
        internal volatile string Message;

        // By id: native code holds only the id, so a job disposed on one thread while
        // another thread's Frame delivers its events finds nothing, not a freed handle.
        private static readonly Dictionary<long, WeakReference> s_sinks = new Dictionary<long, WeakReference>();
        private static long s_next;
        internal static readonly JobEventNative s_onEvent = OnEvent;

        internal static long Register(EventSink sink)
        {
            if (sink == null) return 0;
            lock (s_sinks)
            {
                long id = ++s_next;
                s_sinks[id] = new WeakReference(sink);
                return id;
            }
        }

        internal static void Unregister(long id)
        {
            lock (s_sinks) s_sinks.Remove(id);
        }

        [MonoPInvokeCallback(typeof(JobEventNative))]
        private static void OnEvent(IntPtr userData, IntPtr job, int kind, int token, IntPtr text, UIntPtr len, int status)
        {
            try
            {
                WeakReference found;
                lock (s_sinks) s_sinks.TryGetValue((long)userData, out found);
                var sink = found == null ? null : (EventSink)found.Target;
                if (sink == null) return;
                var bytes = new byte[(int)len];
                if (bytes.Length > 0) Marshal.Copy(text, bytes, 0, bytes.Length);
                var e = new JobEvent { Kind = (JobEventKind)kind, Token = token, Text = Encoding.UTF8.GetString(bytes), Status = status };
                if (e.Kind == JobEventKind.Error) sink.Message = e.Text;
                sink.Handler(e);
            }
            catch (Exception e) { Delivery.Catch(e); }
        }
    }

    public sealed partial class Runtime
    {
        private HostTasks _host;

        private void ApplyJobOptions(ref RuntimeOptions o, JobMode jobMode, ulong sessionMemoryBudget, Action<Action> runTask)
        {
            o.JobMode = (int)(runTask != null ? JobMode.Host : jobMode);
            o.SessionMemoryBudget = sessionMemoryBudget;
            if (runTask == null) return;
            _host = new HostTasks(runTask);
            o.RunTask = Marshal.GetFunctionPointerForDelegate(HostTasks.s_runTask);
            o.RunTaskUserData = _host.UserData;
        }

        /// <summary>The host's once-per-frame call: advances every job of the runtime until the
        /// next unit of work (a batched token step or a prompt chunk) would not fit in budgetUs
        /// microseconds (overrunning by at most one unit), then delivers all pending events on
        /// this thread. With 0 it only delivers events. An exception thrown by an event handler
        /// is rethrown here once the native call has returned.</summary>
        public FrameStats Frame(ulong budgetUs)
        {
            var s = new FrameStats();
            s.StructSize = (uint)Marshal.SizeOf(typeof(FrameStats));
            var d = Delivery.Begin();
            int st;
            try { st = Native.mmb_runtime_frame(Ptr, budgetUs, ref s); }
            finally { d.End(); }
            MoemambaException.Check(st);
            return s;
        }

        /// <summary>The sessions of this runtime and the memory they hold, resident and paged out.</summary>
        public SessionMemory SessionMemory
        {
            get
            {
                var m = new SessionMemory();
                m.StructSize = (uint)Marshal.SizeOf(typeof(SessionMemory));
                MoemambaException.Check(Native.mmb_runtime_get_session_memory(Ptr, ref m));
                return m;
            }
        }
    }

    public sealed partial class Session
    {
        /// <summary>Starts a job that reads prompt into the session and, with a sampler,
        /// generates up to maxTokens tokens after it exactly as Generate would; returns at
        /// once. A null sampler only reads the prompt (a non-blocking prefill). The job
        /// samples with its own copy of the sampler, left unchanged. onEvent is called from
        /// Job.Poll and Runtime.Frame on the thread that calls them. Keep the Job until it
        /// finishes: disposing it, or letting it be collected, cancels it. Throws
        /// MoemambaException with ErrBusy while another job runs on the session. grammar: null
        /// for free text, else a state the job generates under (as Stream describes) with its
        /// own copy taken at submission: the state given is left unchanged. A job whose
        /// grammar no token can continue ends with ErrGrammar.</summary>
        public Job Submit(Sampler sampler, string prompt, int maxTokens = 256, Action<JobEvent> onEvent = null,
                          bool stopAtEos = true, bool addBos = true, string stopText = null, GrammarState grammar = null)
        {
            var bytes = Encoding.UTF8.GetBytes(prompt);
            return Submit(sampler, onEvent, maxTokens, stopAtEos, addBos, stopText, grammar, (IntPtr sp, ref JobOptions o, out IntPtr job) =>
                Native.mmb_job_submit_text(Ptr, sp, bytes, (UIntPtr)bytes.Length, ref o, out job));
        }

        /// <summary>Submit with a prompt of token ids.</summary>
        public Job SubmitTokens(Sampler sampler, int[] tokens, int maxTokens = 256, Action<JobEvent> onEvent = null,
                                bool stopAtEos = true, string stopText = null, GrammarState grammar = null)
        {
            return Submit(sampler, onEvent, maxTokens, stopAtEos, false, stopText, grammar, (IntPtr sp, ref JobOptions o, out IntPtr job) =>
                Native.mmb_job_submit_tokens(Ptr, sp, tokens, (UIntPtr)tokens.Length, ref o, out job));
        }

        private delegate int SubmitCall(IntPtr sampler, ref JobOptions o, out IntPtr job);

        private Job Submit(Sampler sampler, Action<JobEvent> onEvent, int maxTokens, bool stopAtEos, bool addBos,
                           string stopText, GrammarState grammar, SubmitCall call)
        {
            var sink = onEvent == null ? null : new EventSink { Handler = onEvent };
            long id = EventSink.Register(sink);
            var o = new JobOptions();
            o.StructSize = (uint)Marshal.SizeOf(typeof(JobOptions));
            o.MaxTokens = maxTokens;
            o.StopAtEos = stopAtEos ? 1 : 0;
            o.TokenizeFlags = addBos ? Native.TokenizeAddBos : 0;
            o.Grammar = grammar == null ? IntPtr.Zero : grammar.Ptr;
            if (sink != null)
            {
                o.OnEvent = Marshal.GetFunctionPointerForDelegate(EventSink.s_onEvent);
                o.EventUserData = (IntPtr)id;
            }
            var stop = string.IsNullOrEmpty(stopText) ? null : Encoding.UTF8.GetBytes(stopText);
            var pinned = stop == null ? default(GCHandle) : GCHandle.Alloc(stop, GCHandleType.Pinned);
            IntPtr job = IntPtr.Zero;
            try
            {
                if (stop != null)
                {
                    o.StopText = pinned.AddrOfPinnedObject();
                    o.StopTextLen = (UIntPtr)stop.Length;
                }
                int st;
                // With a runTask, the host's job system is called inside this call.
                var d = Delivery.Begin();
                try { st = call(sampler == null ? IntPtr.Zero : sampler.Ptr, ref o, out job); }
                finally { d.End(); }
                MoemambaException.Check(st);
                return new Job(job, this, sink, id);
            }
            catch
            {
                if (job != IntPtr.Zero) Native.mmb_job_destroy(job);
                EventSink.Unregister(id);
                throw;
            }
            finally
            {
                if (stop != null) pinned.Free();
                GC.KeepAlive(grammar);
            }
        }

        /// <summary>Pages the session out now: its state is compressed into host memory and its
        /// memory freed until the next call that needs it. ErrBusy while a job runs on it.</summary>
        public void PageOut() { MoemambaException.Check(Native.mmb_session_page_out(Ptr)); }
    }

    /// <summary>A prompt, and generation after it, running on a session without blocking.
    /// Poll, Wait and Cancel may be called from any thread; State, IsFinished and Error are
    /// as the last Poll saw them. Dispose cancels a running job; during a call on another
    /// thread (or from the job's own handler inside Poll) the job is freed when that call
    /// returns. Any use after Dispose throws ObjectDisposedException.</summary>
    public sealed class Job : MoemambaHandle
    {
        private readonly object _gate = new object();
        private readonly EventSink _sink;
        private readonly long _sinkId;
        private byte[] _buf = new byte[256];
        private int _state, _result;

        internal Job(IntPtr p, Session session, EventSink sink, long sinkId)
        {
            Set(p);
            Session = session;
            _sink = sink;
            _sinkId = sinkId;
        }

        protected override bool ReleaseHandle() { Native.mmb_job_destroy(handle); return true; }

        protected override void Dispose(bool disposing)
        {
            EventSink.Unregister(_sinkId);
            if (disposing && !IsClosed)
            {
                // Ends a wait in progress on another thread; ReleaseHandle follows its return.
                bool added = false;
                try
                {
                    DangerousAddRef(ref added);
                    Native.mmb_job_cancel(handle);
                }
                catch (ObjectDisposedException) { }
                finally { if (added) DangerousRelease(); }
            }
            base.Dispose(disposing);
        }

        /// <summary>The session the job runs on (kept alive by the job).</summary>
        public Session Session { get; private set; }

        // Runs f with the handle held: Dispose meanwhile frees it only after f returns.
        private T Held<T>(Func<IntPtr, T> f)
        {
            bool added = false;
            try
            {
                DangerousAddRef(ref added);
                return f(handle);
            }
            finally { if (added) DangerousRelease(); }
        }

        /// <summary>Delivers pending events to the handler (on this thread), notes the job's
        /// state, then returns the text generated since the last Poll ("" when none). The Poll
        /// that first sees the job finished returns its last text. An exception thrown by the
        /// handler is rethrown here once the native call has returned.</summary>
        public string Poll()
        {
            return Held(p =>
            {
                int state, result, st;
                var d = Delivery.Begin();
                try { st = Native.mmb_job_poll(p, out state, out result); }
                finally { d.End(); }
                MoemambaException.Check(st);
                // The state is read before the text: once it says finished, this text is the last.
                lock (_gate)
                {
                    UIntPtr n;
                    st = Native.mmb_job_read_text(p, _buf, (UIntPtr)_buf.Length, out n);
                    if (st == Native.ErrBufferTooSmall)
                    {
                        _buf = new byte[(int)n];
                        st = Native.mmb_job_read_text(p, _buf, n, out n);
                    }
                    MoemambaException.Check(st);
                    if (state > _state) { _state = state; _result = result; }
                    return Encoding.UTF8.GetString(_buf, 0, (int)n);
                }
            });
        }

        /// <summary>The token ids generated since the last ReadTokens.</summary>
        public int[] ReadTokens()
        {
            return Held(p =>
            {
                lock (_gate)
                {
                    UIntPtr n;
                    int st = Native.mmb_job_read_tokens(p, null, UIntPtr.Zero, out n);
                    if (st != Native.ErrBufferTooSmall) { MoemambaException.Check(st); return new int[0]; }
                    var tokens = new int[(int)n];
                    MoemambaException.Check(Native.mmb_job_read_tokens(p, tokens, n, out n));
                    return tokens;
                }
            });
        }

        /// <summary>Blocks until the job finishes or the timeout passes (Timeout.Infinite: no
        /// limit); returns whether it finished. With JobMode.Frame the wait does the work
        /// itself. Delivers no events and leaves State to the next Poll.</summary>
        public bool Wait(int millisecondsTimeout = Timeout.Infinite)
        {
            return Held(p =>
            {
                int state;
                uint ms = millisecondsTimeout < 0 ? uint.MaxValue : (uint)millisecondsTimeout;
                do MoemambaException.Check(Native.mmb_job_wait(p, ms, out state));
                while (state != (int)JobState.Finished && millisecondsTimeout < 0);
                return state == (int)JobState.Finished;
            });
        }

        /// <summary>Asks the job to stop at the next token or prompt chunk; returns at once.
        /// Cancelling twice, or a finished job, does nothing.</summary>
        public void Cancel()
        {
            Held(p => { MoemambaException.Check(Native.mmb_job_cancel(p)); return 0; });
        }

        /// <summary>The state as of the last Poll.</summary>
        public JobState State { get { lock (_gate) return (JobState)_state; } }

        /// <summary>True once a Poll has seen the job finished.</summary>
        public bool IsFinished { get { return State == JobState.Finished; } }

        /// <summary>How the job ended, as of the last Poll: Native.Ok (also while it runs),
        /// Native.ErrCancelled, or the error's status.</summary>
        public int Status { get { lock (_gate) return _result; } }

        public bool IsCancelled { get { return Status == Native.ErrCancelled; } }

        /// <summary>null unless the job ended with a status other than Ok: then the failure
        /// (ErrCancelled when cancelled; for other errors the library's message when the job
        /// had an onEvent handler, the only way the library gives it).</summary>
        public MoemambaException Error
        {
            get
            {
                int status = Status;
                if (status == Native.Ok) return null;
                string name = Marshal.PtrToStringAnsi(Native.mmb_status_string(status));
                if (status == Native.ErrCancelled) return new MoemambaException(status, name, "the job was cancelled");
                string message = _sink != null ? _sink.Message : null;
                return MoemambaException.For(status, name, message ?? "the job failed (give it onEvent to receive the library's message)");
            }
        }
    }
}
