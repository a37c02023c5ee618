// Managed wrappers: SafeHandles that free their C object once, and exceptions that
// carry the status and the library's message.
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;

namespace Moemamba
{
    /// <summary>A failed library call: its status code, its name and mmb_last_error().
    /// A status of Native.ErrContextFull comes as its subclass ContextFullException,
    /// Native.ErrTemplate as TemplateException, Native.ErrGrammar as GrammarException.</summary>
    public class MoemambaException : Exception
    {
        public MoemambaException(int status, string name, string detail)
            : base(name + ": " + detail) { Status = status; StatusName = name; Detail = detail; }
        public int Status { get; private set; }
        public string StatusName { get; private set; }
        public string Detail { get; private set; }

        /// <summary>The exception for a status: ContextFullException for Native.ErrContextFull,
        /// TemplateException for Native.ErrTemplate, GrammarException for Native.ErrGrammar.</summary>
        public static MoemambaException For(int status, string name, string detail)
        {
            if (status == Native.ErrContextFull) return new ContextFullException(name, detail);
            if (status == Native.ErrTemplate) return new TemplateException(name, detail);
            if (status == Native.ErrGrammar) return new GrammarException(name, detail);
            return new MoemambaException(status, name, detail);
        }

        // The message is thread-local: read it right after the failing call.
        internal static void Check(int status)
        {
            if (status == Native.Ok) return;
            throw For(status, Marshal.PtrToStringAnsi(Native.mmb_status_string(status)), Utf8(Native.mmb_last_error()));
        }

        internal static string Utf8(IntPtr p)
        {
            if (p == IntPtr.Zero) return "";
            int n = 0;
            while (Marshal.ReadByte(p, n) != 0) n++;
            var bytes = new byte[n];
            Marshal.Copy(p, bytes, 0, n);
            return Encoding.UTF8.GetString(bytes);
        }
    }

    /// <summary>Native.ErrContextFull: the session's context (its maxContext) cannot take
    /// these tokens, and nothing was consumed. Reset the session, or use one with a larger
    /// context. Only models with attention layers have a context limit.</summary>
    public sealed class ContextFullException : MoemambaException
    {
        public ContextFullException(string name, string detail) : base(Native.ErrContextFull, name, detail) { }
    }

    /// <summary>Native.ErrTemplate: the model's chat template refused the conversation (its
    /// raise_exception(), e.g. roles that do not alternate) or ran past its limits. Detail is
    /// the template's own message.</summary>
    public sealed class TemplateException : MoemambaException
    {
        public TemplateException(string name, string detail) : base(Native.ErrTemplate, name, detail) { }
    }

    /// <summary>Element type of a session's KV cache (MMB_KV_*): how the attention layers
    /// store each key and value.</summary>
    public enum KvType
    {
        /// <summary>Half precision, 2 bytes per value (the default).</summary>
        F16 = 0,
        /// <summary>Single precision, 4 bytes per value.</summary>
        F32 = 1
    }

    /// <summary>Base of every owned C object: released once, errors after Dispose. A handle
    /// that does not own its object (a chat's session) is never released by it.</summary>
    public abstract class MoemambaHandle : SafeHandle
    {
        protected MoemambaHandle() : base(IntPtr.Zero, true) { }
        protected MoemambaHandle(bool ownsHandle) : base(IntPtr.Zero, ownsHandle) { }
        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }
        internal void Set(IntPtr p) { SetHandle(p); }
        internal IntPtr Ptr
        {
            get
            {
                if (IsClosed || IsInvalid) throw new ObjectDisposedException(GetType().Name);
                return handle;
            }
        }

        internal delegate int StateSize(IntPtr handle, out UIntPtr size);
        internal delegate int StateSave(IntPtr handle, byte[] buf, UIntPtr cap, out UIntPtr written);

        // The object's saved state: stateSize gives its byte count, stateSave writes it (again,
        // into a buffer of the size it reports, when the first one is too small).
        internal byte[] SaveBytes(StateSize stateSize, StateSave stateSave)
        {
            UIntPtr size, written;
            MoemambaException.Check(stateSize(Ptr, out size));
            var buf = new byte[(int)size];
            int st = stateSave(Ptr, buf, size, out written);
            if (st == Native.ErrBufferTooSmall)
            {
                buf = new byte[(int)written];
                st = stateSave(Ptr, buf, written, out written);
            }
            MoemambaException.Check(st);
            if ((int)written != buf.Length) Array.Resize(ref buf, (int)written);
            return buf;
        }
    }

    /// <summary>The compute backend (MMB_BACKEND_*).</summary>
    public enum Backend
    {
        /// <summary>CUDA when a device and the plugin exist, else the CPU (the default).</summary>
        Auto = 0,
        Cpu = 1,
        Cuda = 2
    }

    /// <summary>What a runtime computes on (mmb_backend_info), from Runtime.BackendInfo.</summary>
    public struct BackendInfo
    {
        /// <summary>The backend chosen at creation: Cpu or Cuda, never Auto.</summary>
        public Backend Backend { get; internal set; }
        /// <summary>Compute threads (the CPU backend's pool; CUDA's host-side work).</summary>
        public int NThreads { get; internal set; }
        /// <summary>The GPU's index for CUDA; -1 on the CPU.</summary>
        public int DeviceIndex { get; internal set; }
        /// <summary>The GPU's name, or "CPU".</summary>
        public string DeviceName { get; internal set; }
        /// <summary>Bytes of device memory (0 on the CPU).</summary>
        public ulong DeviceMemoryTotal { get; internal set; }
        /// <summary>Bytes of device memory this runtime's models and sessions hold now (0 on the CPU).</summary>
        public ulong DeviceMemoryUsed { get; internal set; }

        public override string ToString()
        {
            return string.Format("{0} ({1}, device {2}, {3} threads, {4} of {5} bytes used)", Backend, DeviceName,
                                 DeviceIndex, NThreads, DeviceMemoryUsed, DeviceMemoryTotal);
        }
    }

    public sealed partial class Runtime : MoemambaHandle
    {
        /// <summary>nThreads: compute threads (0: one per core). jobMode: who advances jobs
        /// (JobMode.Host when runTask is given). sessionMemoryBudget: most bytes of resident
        /// session memory (0: no limit). runTask: the host's job system, given each task
        /// to run once on a thread of its choosing, e.g. <c>work => ThreadPool.QueueUserWorkItem(_ => work())</c>.
        /// backend: Auto falls back to the CPU; Cuda throws MoemambaException (ErrBackend)
        /// when it is not available. deviceIndex: the GPU for CUDA (negative: ErrInvalidArgument).</summary>
        public Runtime(int nThreads = 0, JobMode jobMode = JobMode.Worker, ulong sessionMemoryBudget = 0,
                       Action<Action> runTask = null, Backend backend = Backend.Auto, int deviceIndex = 0)
        {
            var o = new RuntimeOptions();
            MoemambaException.Check(Native.mmb_runtime_options_init(ref o, (UIntPtr)Marshal.SizeOf(typeof(RuntimeOptions))));
            o.NThreads = nThreads;
            o.Backend = (int)backend;
            o.DeviceIndex = deviceIndex;
            ApplyJobOptions(ref o, jobMode, sessionMemoryBudget, runTask);
            IntPtr p;
            MoemambaException.Check(Native.mmb_runtime_create(ref o, out p));
            Set(p);
        }
        protected override bool ReleaseHandle() { Native.mmb_runtime_destroy(handle); return true; }

        public static string Version { get { return Marshal.PtrToStringAnsi(Native.mmb_version_string()); } }

        /// <summary>What the runtime computes on: the backend chosen, its threads, the device
        /// and its memory use (a snapshot).</summary>
        public BackendInfo BackendInfo
        {
            get
            {
                var raw = new BackendInfoNative();
                raw.StructSize = (uint)Marshal.SizeOf(typeof(BackendInfoNative));
                raw.DeviceName = new byte[BackendInfoNative.DeviceNameSize];
                MoemambaException.Check(Native.mmb_runtime_get_backend_info(Ptr, ref raw));
                int n = Array.IndexOf(raw.DeviceName, (byte)0);
                if (n < 0) n = raw.DeviceName.Length;
                var info = new BackendInfo();
                info.Backend = raw.Backend == (int)Backend.Cuda ? Backend.Cuda : Backend.Cpu;
                info.NThreads = raw.NThreads;
                info.DeviceIndex = raw.DeviceIndex;
                info.DeviceName = Encoding.UTF8.GetString(raw.DeviceName, 0, n);
                info.DeviceMemoryTotal = raw.DeviceMemoryTotal;
                info.DeviceMemoryUsed = raw.DeviceMemoryUsed;
                return info;
            }
        }

        public Model LoadFile(string path)
        {
            var o = new LoadOptions();
            MoemambaException.Check(Native.mmb_load_options_init(ref o, (UIntPtr)Marshal.SizeOf(typeof(LoadOptions))));
            var bytes = Encoding.UTF8.GetBytes(path + "\0");
            IntPtr p;
            MoemambaException.Check(Native.mmb_model_load_file(Ptr, bytes, ref o, out p));
            return new Model(p) { Host = _host };
        }

        /// <summary>Loads from bytes; the library copies them, so the array may be reused.</summary>
        public Model LoadMemory(byte[] data)
        {
            var o = new LoadOptions();
            MoemambaException.Check(Native.mmb_load_options_init(ref o, (UIntPtr)Marshal.SizeOf(typeof(LoadOptions))));
            o.Flags = Native.LoadCopyMemory;
            IntPtr p;
            MoemambaException.Check(Native.mmb_model_load_memory(Ptr, data, (UIntPtr)data.Length, ref o, out p));
            return new Model(p) { Host = _host };
        }
    }

    /// <summary>An immutable loaded model; safe to share across threads.</summary>
    public sealed partial class Model : MoemambaHandle
    {
        internal Model(IntPtr p) { Set(p); }
        protected override bool ReleaseHandle() { Native.mmb_model_destroy(handle); return true; }
        // The runtime's task runner: job submission on this model's sessions may call it.
        internal HostTasks Host;

        public ModelInfo Info
        {
            get
            {
                var i = new ModelInfo();
                i.StructSize = (uint)Marshal.SizeOf(typeof(ModelInfo));
                MoemambaException.Check(Native.mmb_model_get_info(Ptr, ref i));
                return i;
            }
        }

        public int[] Tokenize(string text, uint flags = 0)
        {
            var bytes = Encoding.UTF8.GetBytes(text);
            UIntPtr n;
            int st = Native.mmb_tokenize(Ptr, bytes, (UIntPtr)bytes.Length, null, UIntPtr.Zero, out n, flags);
            if (st != Native.ErrBufferTooSmall) MoemambaException.Check(st);
            var tokens = new int[(int)n];
            if (tokens.Length == 0) return tokens;
            MoemambaException.Check(Native.mmb_tokenize(Ptr, bytes, (UIntPtr)bytes.Length, tokens, n, out n, flags));
            return tokens;
        }

        /// <summary>A new session at position 0. For models with attention layers: maxContext, the
        /// most tokens it can consume (0: Info.ContextLength; at most 16777216), after which
        /// stepping throws ContextFullException and consumes nothing; kvType, how its KV cache
        /// stores keys and values. Other models ignore both.</summary>
        public Session CreateSession(ulong maxContext = 0, KvType kvType = KvType.F16)
        {
            var o = new SessionOptions();
            MoemambaException.Check(Native.mmb_session_options_init(ref o, (UIntPtr)Marshal.SizeOf(typeof(SessionOptions))));
            o.MaxContext = maxContext;
            o.KvType = (int)kvType;
            IntPtr p;
            MoemambaException.Check(Native.mmb_session_create(Ptr, ref o, out p));
            return new Session(p, Info.VocabSize) { Host = Host };
        }

        public Detokenizer CreateDetokenizer()
        {
            IntPtr p;
            MoemambaException.Check(Native.mmb_detokenizer_create(Ptr, out p));
            return new Detokenizer(p);
        }
    }

    /// <summary>One stream of state. One call at a time per session.</summary>
    public sealed partial class Session : MoemambaHandle
    {
        internal Session(IntPtr p, int vocab) { Set(p); VocabSize = vocab; }
        // A session the library owns (Chat.Session): disposing it only ends this wrapper,
        // which keeps its owner reachable while it is in use.
        internal Session(IntPtr p, int vocab, object owner) : base(false) { Set(p); VocabSize = vocab; Owner = owner; }
        internal object Owner { get; private set; }
        internal HostTasks Host;
        protected override bool ReleaseHandle() { Native.mmb_session_destroy(handle); return true; }
        public int VocabSize { get; private set; }

        public void Step(int token, float[] logits = null)
        {
            MoemambaException.Check(Native.mmb_session_step(Ptr, token, logits,
                (UIntPtr)(logits == null ? 0 : logits.Length)));
        }

        public void Prefill(int[] tokens, float[] logits = null)
        {
            MoemambaException.Check(Native.mmb_session_prefill(Ptr, tokens, (UIntPtr)tokens.Length, logits,
                (UIntPtr)(logits == null ? 0 : logits.Length)));
        }

        /// <summary>Steps sessions[i] with tokens[i]; logits rows are VocabSize apart.</summary>
        public static void StepBatch(Session[] sessions, int[] tokens, float[] logits)
        {
            var ptrs = new IntPtr[sessions.Length];
            for (int i = 0; i < ptrs.Length; i++) ptrs[i] = sessions[i].Ptr;
            int stride = sessions.Length == 0 ? 0 : sessions[0].VocabSize;
            MoemambaException.Check(Native.mmb_step_batch(ptrs, tokens, (UIntPtr)sessions.Length, logits,
                (UIntPtr)(logits == null ? 0 : stride)));
        }

        /// <summary>Back to position 0 (an empty state and context).</summary>
        public void Reset() { MoemambaException.Check(Native.mmb_session_reset(Ptr)); }

        public ulong Position
        {
            get { ulong p; MoemambaException.Check(Native.mmb_session_get_position(Ptr, out p)); return p; }
        }

        public byte[] SaveState()
        {
            UIntPtr size, written;
            MoemambaException.Check(Native.mmb_session_state_size(Ptr, out size));
            var buf = new byte[(int)size];
            MoemambaException.Check(Native.mmb_session_state_save(Ptr, buf, size, out written));
            if ((int)written != buf.Length) Array.Resize(ref buf, (int)written);
            return buf;
        }

        public void LoadState(byte[] state)
        {
            MoemambaException.Check(Native.mmb_session_state_load(Ptr, state, (UIntPtr)state.Length));
        }

        public Session Fork()
        {
            IntPtr p;
            MoemambaException.Check(Native.mmb_session_fork(Ptr, out p));
            return new Session(p, VocabSize) { Host = Host };
        }

        /// <summary>Streams text: step, sample and detokenize on the managed side. Stops at
        /// maxTokens or at EOS (not emitted). With a grammar state, each token is chosen among
        /// those it allows, the state advances with each emitted token, and the stream ends as
        /// soon as the grammar is complete (MustEnd) or at a stop token where it may end; a
        /// stream that reaches maxTokens first leaves the grammar unfinished (check CanEnd).</summary>
        public IEnumerable<string> Stream(Model model, Sampler sampler, string prompt, int maxTokens,
                                          GrammarState grammar = null)
        {
            var logits = new float[VocabSize];
            int eos = model.Info.EosId;
            var stops = grammar == null ? new int[0] : model.StopTokens;
            Prefill(model.Tokenize(prompt, Native.TokenizeAddBos), logits);
            using (var detok = model.CreateDetokenizer())
            {
                for (int i = 0; i < maxTokens; i++)
                {
                    int token = grammar == null ? sampler.Sample(logits) : sampler.SampleGrammar(grammar, logits);
                    if (token == eos || Array.IndexOf(stops, token) >= 0) break;
                    string piece = detok.Push(token);
                    if (piece.Length > 0) yield return piece;
                    if (grammar != null && grammar.MustEnd)
                    {
                        Step(token);
                        break;
                    }
                    Step(token, logits);
                }
                string rest = detok.Flush();
                if (rest.Length > 0) yield return rest;
            }
        }

        /// <summary>Receives each generated token and its text; return false to stop.</summary>
        public delegate bool TokenHandler(int token, string text);

        // One static delegate for every call (IL2CPP cannot marshal instance delegates);
        // the handler travels through a GCHandle in user_data.
        internal static readonly TokenCallbackNative s_onToken = OnToken;

        [MonoPInvokeCallback(typeof(TokenCallbackNative))]
        private static int OnToken(IntPtr userData, int token, IntPtr text, UIntPtr len)
        {
            var handler = (TokenHandler)GCHandle.FromIntPtr(userData).Target;
            var bytes = new byte[(int)len];
            if (bytes.Length > 0) Marshal.Copy(text, bytes, 0, bytes.Length);
            try { return handler(token, Encoding.UTF8.GetString(bytes)) ? 1 : 0; }
            catch (Exception) { return 0; } // an exception must not cross into native code
        }

        /// <summary>mmb_generate with a callback. Returns false when the handler stopped it.
        /// grammar: null for free text, else a state the output follows (a JSON object, one of
        /// a list of choices...), advanced in place as Stream describes.</summary>
        public bool Generate(Sampler sampler, string prompt, int maxTokens, TokenHandler handler,
                             GrammarState grammar = null)
        {
            var o = new GenerateOptions();
            MoemambaException.Check(Native.mmb_generate_options_init(ref o, (UIntPtr)Marshal.SizeOf(typeof(GenerateOptions))));
            o.MaxTokens = maxTokens;
            o.Grammar = grammar == null ? IntPtr.Zero : grammar.Ptr;
            var bytes = Encoding.UTF8.GetBytes(prompt);
            var gch = GCHandle.Alloc(handler);
            try
            {
                int st = Native.mmb_generate(Ptr, sampler.Ptr, bytes, (UIntPtr)bytes.Length, ref o, s_onToken,
                                             GCHandle.ToIntPtr(gch));
                if (st == Native.ErrCancelled) return false;
                MoemambaException.Check(st);
                return true;
            }
            finally
            {
                gch.Free();
                GC.KeepAlive(grammar);
            }
        }
    }

    public sealed partial class Sampler : MoemambaHandle
    {
        public static SamplerParams Defaults()
        {
            var p = new SamplerParams();
            MoemambaException.Check(Native.mmb_sampler_params_init(ref p, (UIntPtr)Marshal.SizeOf(typeof(SamplerParams))));
            return p;
        }

        public Sampler(SamplerParams p)
        {
            IntPtr s;
            MoemambaException.Check(Native.mmb_sampler_create(ref p, out s));
            Set(s);
        }
        protected override bool ReleaseHandle() { Native.mmb_sampler_destroy(handle); return true; }

        public int Sample(float[] logits)
        {
            int token;
            MoemambaException.Check(Native.mmb_sampler_sample(Ptr, logits, (UIntPtr)logits.Length, out token));
            return token;
        }
    }

    /// <summary>Turns tokens into whole UTF-8 characters, holding back partial ones.</summary>
    public sealed class Detokenizer : MoemambaHandle
    {
        private byte[] _buf = new byte[256];
        internal Detokenizer(IntPtr p) { Set(p); }
        protected override bool ReleaseHandle() { Native.mmb_detokenizer_destroy(handle); return true; }

        public string Push(int token)
        {
            UIntPtr n;
            int st = Native.mmb_detokenizer_push(Ptr, token, _buf, (UIntPtr)_buf.Length, out n);
            if (st == Native.ErrBufferTooSmall)
            {
                _buf = new byte[(int)n];
                st = Native.mmb_detokenizer_push(Ptr, token, _buf, n, out n);
            }
            MoemambaException.Check(st);
            return Encoding.UTF8.GetString(_buf, 0, (int)n);
        }

        public string Flush()
        {
            UIntPtr n;
            int st = Native.mmb_detokenizer_flush(Ptr, _buf, (UIntPtr)_buf.Length, out n);
            if (st == Native.ErrBufferTooSmall)
            {
                _buf = new byte[(int)n];
                st = Native.mmb_detokenizer_flush(Ptr, _buf, n, out n);
            }
            MoemambaException.Check(st);
            return Encoding.UTF8.GetString(_buf, 0, (int)n);
        }
    }
}
