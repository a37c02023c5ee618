// Conversations in the model's own prompt format (moemamba.h section 8): Model.Render
// turns messages into the prompt its chat template makes; a Chat keeps a conversation
// and a session of its own in step, so each turn computes only the new tokens.
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;

namespace Moemamba
{
    /// <summary>One turn of a conversation: a role ("system", "user", "assistant", "tool" or
    /// whatever the template knows) and its text.</summary>
    public struct ChatMessage
    {
        public readonly string Role;
        public readonly string Content;

        public ChatMessage(string role, string content) { Role = role; Content = content; }

        public override string ToString() { return Role + ": " + Content; }
    }

    /// <summary>What Chat.Generate returns: the reply (as it joined the history) and what the
    /// turn computed.</summary>
    public sealed class ChatReply
    {
        internal ChatReply(string text, ChatStats stats) { Text = text; Stats = stats; }
        public string Text { get; private set; }
        public ChatStats Stats { get; private set; }
    }

    public sealed partial class Model
    {
        /// <summary>Chat templates in the bundle; 0: Render and CreateChat throw
        /// MoemambaException with Native.ErrUnsupported.</summary>
        public int ChatTemplateCount { get { return Info.NChatTemplates; } }

        /// <summary>The model's end-of-turn tokens besides EosId (e.g. &lt;|im_end|&gt;), at which
        /// generation, jobs and chats stop.</summary>
        public int[] StopTokens
        {
            get
            {
                UIntPtr n;
                int st = Native.mmb_model_get_stop_tokens(Ptr, null, UIntPtr.Zero, out n);
                if (st != Native.ErrBufferTooSmall) MoemambaException.Check(st);
                var tokens = new int[(int)n];
                if (tokens.Length == 0) return tokens;
                MoemambaException.Check(Native.mmb_model_get_stop_tokens(Ptr, tokens, n, out n));
                return tokens;
            }
        }

        /// <summary>The prompt text the model's chat template makes of `messages`, exactly
        /// (tokenize it with MMB_TOKENIZE_PARSE_SPECIAL and without BOS: the template adds
        /// what the model wants). addGenerationPrompt: end with the opening of the
        /// assistant's turn. templateName: null for the main template, else a named one.
        /// Throws TemplateException when the template refuses the conversation, and
        /// MoemambaException with Native.ErrUnsupported when the model has no such template.</summary>
        public string Render(IList<ChatMessage> messages, bool addGenerationPrompt = false, string templateName = null)
        {
            if (messages == null) throw new ArgumentNullException("messages");
            var raw = new ChatMessageNative[messages.Count];
            try
            {
                for (int i = 0; i < raw.Length; i++)
                {
                    raw[i].Role = Chat.AllocUtf8(messages[i].Role, "role");
                    raw[i].Content = Chat.AllocUtf8(messages[i].Content, "content");
                }
                byte[] name = templateName == null ? null : Chat.Utf8z(templateName, "templateName");
                int generation = addGenerationPrompt ? 1 : 0;
                var buf = new byte[1024];
                UIntPtr len;
                int st = Native.mmb_chat_render(Ptr, name, raw, (UIntPtr)raw.Length, generation, buf, (UIntPtr)buf.Length, out len);
                if (st == Native.ErrBufferTooSmall)
                {
                    buf = new byte[(int)len];
                    st = Native.mmb_chat_render(Ptr, name, raw, (UIntPtr)raw.Length, generation, buf, (UIntPtr)buf.Length, out len);
                }
                MoemambaException.Check(st);
                return Encoding.UTF8.GetString(buf, 0, (int)len);
            }
            finally
            {
                foreach (var m in raw)
                {
                    if (m.Role != IntPtr.Zero) Marshal.FreeHGlobal(m.Role);
                    if (m.Content != IntPtr.Zero) Marshal.FreeHGlobal(m.Content);
                }
            }
        }

        /// <summary>A conversation with an empty history and a session of its own.
        /// templateName: null for the main template, else a named one (unknown:
        /// MoemambaException with Native.ErrUnsupported, as for a model without templates).
        /// maxContext and kvType: the session's, as for CreateSession.</summary>
        public Chat CreateChat(string templateName = null, ulong maxContext = 0, KvType kvType = KvType.F16)
        {
            var so = new SessionOptions();
            MoemambaException.Check(Native.mmb_session_options_init(ref so, (UIntPtr)Marshal.SizeOf(typeof(SessionOptions))));
            so.MaxContext = maxContext;
            so.KvType = (int)kvType;
            var o = new ChatOptions();
            MoemambaException.Check(Native.mmb_chat_options_init(ref o, (UIntPtr)Marshal.SizeOf(typeof(ChatOptions))));
            IntPtr name = IntPtr.Zero, session = IntPtr.Zero;
            try
            {
                if (templateName != null) name = Chat.AllocUtf8(templateName, "templateName");
                session = Marshal.AllocHGlobal(Marshal.SizeOf(typeof(SessionOptions)));
                Marshal.StructureToPtr(so, session, false);
                o.TemplateName = name;
                o.Session = session;
                IntPtr p;
                MoemambaException.Check(Native.mmb_chat_create(Ptr, ref o, out p));
                return new Chat(p, Info.VocabSize, Host);
            }
            finally
            {
                if (name != IntPtr.Zero) Marshal.FreeHGlobal(name);
                if (session != IntPtr.Zero) Marshal.FreeHGlobal(session);
            }
        }
    }

    /// <summary>A conversation bound to a session of its own (Model.CreateChat). Each turn
    /// renders the whole history with the model's chat template and computes only the tokens
    /// the session has not seen. One thread at a time.</summary>
    public sealed class Chat : MoemambaHandle
    {
        private readonly Session _session;

        internal Chat(IntPtr p, int vocab, HostTasks host)
        {
            Set(p);
            _session = new Session(Native.mmb_chat_get_session(p), vocab, this) { Host = host };
        }

        protected override bool ReleaseHandle() { Native.mmb_chat_destroy(handle); return true; }

        protected override void Dispose(bool disposing)
        {
            if (disposing) _session.Dispose();
            base.Dispose(disposing);
        }

        /// <summary>The chat's session, owned by the chat (disposed with it): for Position,
        /// PageOut or memory figures. Stepping it directly puts it out of step with the
        /// history; the next turn then starts over (ChatStats.Restarted).</summary>
        public Session Session
        {
            get
            {
                if (IsClosed) throw new ObjectDisposedException(GetType().Name);
                return _session;
            }
        }

        /// <summary>Appends a message to the history; nothing is computed until the next
        /// Prefill or Generate.</summary>
        public void Add(string role, string content)
        {
            MoemambaException.Check(Native.mmb_chat_add(Ptr, Utf8z(role, "role"), Utf8z(content, "content")));
        }

        /// <summary>Messages in the history, the replies of Generate included.</summary>
        public int MessageCount
        {
            get
            {
                UIntPtr n;
                MoemambaException.Check(Native.mmb_chat_get_message_count(Ptr, out n));
                return (int)n;
            }
        }

        public ChatMessage GetMessage(int index)
        {
            if (index < 0) throw new ArgumentOutOfRangeException("index");
            UIntPtr roleLen, contentLen;
            int st = Native.mmb_chat_get_message(Ptr, (UIntPtr)index, null, UIntPtr.Zero, out roleLen, null, UIntPtr.Zero,
                                                 out contentLen);
            if (st != Native.ErrBufferTooSmall) MoemambaException.Check(st);
            var role = new byte[(int)roleLen];
            var content = new byte[(int)contentLen];
            if (st == Native.ErrBufferTooSmall)
                MoemambaException.Check(Native.mmb_chat_get_message(Ptr, (UIntPtr)index, role, roleLen, out roleLen, content,
                                                                    contentLen, out contentLen));
            return new ChatMessage(Encoding.UTF8.GetString(role, 0, (int)roleLen), Encoding.UTF8.GetString(content, 0, (int)contentLen));
        }

        /// <summary>A copy of the history.</summary>
        public ChatMessage[] Messages
        {
            get
            {
                var messages = new ChatMessage[MessageCount];
                for (int i = 0; i < messages.Length; i++) messages[i] = GetMessage(i);
                return messages;
            }
        }

        /// <summary>Brings the session up to date with the history (without the generation
        /// prompt), e.g. a character's system prompt at load time, so the first reply starts
        /// at once. Throws TemplateException, ContextFullException.</summary>
        public ChatStats Prefill()
        {
            var stats = NewStats();
            MoemambaException.Check(Native.mmb_chat_prefill(Ptr, ref stats));
            return stats;
        }

        /// <summary>Generates the assistant's reply to the history: prefills only what the
        /// session has not seen, then samples until the model ends its turn (not emitted),
        /// maxTokens, or onToken returns false. The reply streams to onToken (whole UTF-8
        /// characters) and joins the history as an "assistant" message, also when stopped
        /// early. grammar: null, or a state the reply follows (a JSON object, one of a list of
        /// choices...), advanced in place as Session.Stream describes. Throws
        /// TemplateException, ContextFullException.</summary>
        public ChatReply Generate(Sampler sampler, int maxTokens = 256, Session.TokenHandler onToken = null,
                                  GrammarState grammar = null)
        {
            if (sampler == null) throw new ArgumentNullException("sampler");
            var o = new GenerateOptions();
            MoemambaException.Check(Native.mmb_generate_options_init(ref o, (UIntPtr)Marshal.SizeOf(typeof(GenerateOptions))));
            o.MaxTokens = maxTokens;
            o.Grammar = grammar == null ? IntPtr.Zero : grammar.Ptr;
            var stats = NewStats();
            GCHandle gch = onToken == null ? default(GCHandle) : GCHandle.Alloc(onToken);
            try
            {
                MoemambaException.Check(Native.mmb_chat_generate(Ptr, sampler.Ptr, ref o, onToken == null ? null : Session.s_onToken,
                                                                 onToken == null ? IntPtr.Zero : GCHandle.ToIntPtr(gch), ref stats));
            }
            finally
            {
                if (gch.IsAllocated) gch.Free();
                GC.KeepAlive(grammar);
            }
            return new ChatReply(GetMessage(MessageCount - 1).Content, stats);
        }

        /// <summary>Empties the history and resets the session.</summary>
        public void Reset() { MoemambaException.Check(Native.mmb_chat_reset(Ptr)); }

        /// <summary>The conversation (history and session state) as bytes, for LoadState in this
        /// process or another with the same bundle.</summary>
        public byte[] SaveState()
        {
            return SaveBytes(Native.mmb_chat_state_size, Native.mmb_chat_state_save);
        }

        /// <summary>Replaces the history and session state with a saved conversation; on error
        /// nothing changes (ErrFormat: not a chat state; ErrStateMismatch: another model's).</summary>
        public void LoadState(byte[] state)
        {
            if (state == null) throw new ArgumentNullException("state");
            MoemambaException.Check(Native.mmb_chat_state_load(Ptr, state, (UIntPtr)state.Length));
        }

        private static ChatStats NewStats()
        {
            var stats = new ChatStats();
            stats.StructSize = (uint)Marshal.SizeOf(typeof(ChatStats));
            return stats;
        }

        // The C API takes NUL-terminated UTF-8: a string holding NUL cannot pass whole.
        internal static byte[] Utf8z(string text, string what)
        {
            if (text == null) throw new ArgumentNullException(what);
            if (text.IndexOf('\0') >= 0) throw new ArgumentException(what + " holds a NUL character", what);
            return Encoding.UTF8.GetBytes(text + "\0");
        }

        internal static IntPtr AllocUtf8(string text, string what)
        {
            var bytes = Utf8z(text, what);
            IntPtr p = Marshal.AllocHGlobal(bytes.Length);
            Marshal.Copy(bytes, 0, p, bytes.Length);
            return p;
        }
    }
}
