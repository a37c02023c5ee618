// P/Invoke declarations and blittable mirrors of the header's structs.
using System;
using System.Runtime.InteropServices;

namespace Moemamba
{
    /// <summary>Marks a static method called back from native code (IL2CPP looks for this name).</summary>
    [AttributeUsage(AttributeTargets.Method)]
    public sealed class MonoPInvokeCallbackAttribute : Attribute
    {
        public MonoPInvokeCallbackAttribute(Type delegateType) { DelegateType = delegateType; }
        public Type DelegateType { get; private set; }
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct RuntimeOptions
    {
        public uint StructSize; public int Backend; public int NThreads; public int DeviceIndex; public int LogLevel;
        public IntPtr LogFn; public IntPtr LogUserData; public IntPtr AllocFn; public IntPtr FreeFn; public IntPtr AllocUserData;
        // Appended for jobs and session paging.
        public int JobMode; public IntPtr RunTask; public IntPtr RunTaskUserData; public ulong SessionMemoryBudget;
        // Appended in 0.3: the host page store (not used by this binding).
        public IntPtr PageStore; public IntPtr PageLoad; public IntPtr PageDrop; public IntPtr PageUserData;
    }

    /// <summary>mmb_backend_info as the library writes it; Runtime.BackendInfo turns it into a BackendInfo.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct BackendInfoNative
    {
        public const int DeviceNameSize = 128;
        public uint StructSize; public int Backend; public int NThreads; public int DeviceIndex;
        [MarshalAs(UnmanagedType.ByValArray, SizeConst = DeviceNameSize)] public byte[] DeviceName;
        public ulong DeviceMemoryTotal; public ulong DeviceMemoryUsed;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct LoadOptions
    {
        public uint StructSize; public uint Flags; public IntPtr Progress; public IntPtr ProgressUserData;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct ModelInfo
    {
        public uint StructSize; public int VocabSize; public int DModel; public int NLayers; public int NMambaLayers;
        public int NMoeLayers; public int NMlpLayers; public int NExperts; public int TopK; public int BosId; public int EosId;
        public int PadId; public int UnkId; public int WeightDtype; public ulong ParamsTotal; public ulong ParamsActive;
        public ulong WeightBytes; public ulong ActiveWeightBytes; public ulong StateBytes; public ulong Fingerprint;
        public IntPtr NamePtr;
        // Appended in 0.5: attention layers.
        /// <summary>Attention blocks (0: the session state is constant in size).</summary>
        public int NAttentionLayers;
        /// <summary>A session's default context limit (maxContext 0); 0 for a model without attention layers.</summary>
        public uint ContextLength;
        /// <summary>Key and value elements one token adds to a session's KV cache (2 or 4 bytes each, by KvType).</summary>
        public ulong KvValuesPerToken;
        // Appended in 0.6: chat templates.
        /// <summary>Chat templates in the bundle (0: Model.CreateChat and Model.Render throw
        /// MoemambaException with Native.ErrUnsupported).</summary>
        public int NChatTemplates;
        /// <summary>End-of-turn tokens besides EosId at which generation stops (Model.StopTokens).</summary>
        public int NStopTokens;
    }

    /// <summary>mmb_session_options; Model.CreateSession fills it.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct SessionOptions
    {
        public uint StructSize; public uint Flags;
        // Appended in 0.5: the context of models with attention layers.
        public ulong MaxContext; public int KvType; public uint Reserved;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct SamplerParams
    {
        public uint StructSize; public float Temperature; public int TopK; public float TopP; public float MinP;
        public float RepetitionPenalty; public float PresencePenalty; public float FrequencyPenalty; public int PenaltyWindow;
        public ulong Seed;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct GenerateOptions
    {
        public uint StructSize; public int MaxTokens; public int StopAtEos; public uint TokenizeFlags;
        public IntPtr Progress; public IntPtr ProgressUserData;
        // Appended in 0.7: structured output (an mmb_grammar_state*; IntPtr.Zero: free text).
        public IntPtr Grammar;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct JobOptions
    {
        public uint StructSize; public int MaxTokens; public int StopAtEos; public uint TokenizeFlags;
        public IntPtr StopText; public UIntPtr StopTextLen; public IntPtr OnEvent; public IntPtr EventUserData;
        // Appended in 0.7: structured output (an mmb_grammar_state*; IntPtr.Zero: free text).
        public IntPtr Grammar;
    }

    /// <summary>mmb_grammar_options; Grammar.FromGbnf, FromJsonSchema and FromChoices fill it.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct GrammarOptions
    {
        public uint StructSize; public IntPtr Root; public int JsonWhitespace; public UIntPtr MaskCacheBytes;
    }

    /// <summary>What one Runtime.Frame call did (mmb_frame_stats).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct FrameStats
    {
        public uint StructSize; public uint Steps; public ulong TokensGenerated; public ulong PromptTokens; public ulong TimeUs;
        public uint JobsActive; public uint JobsFinished; public uint Events;
        public uint Slices;  // slices of steps and prompt chunks run (a layer, the embedding or the head)
    }

    /// <summary>The session memory of a runtime (mmb_session_memory).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct SessionMemory
    {
        public uint StructSize; public uint Sessions; public uint ResidentSessions; public uint PagedSessions;
        public ulong ResidentBytes; public ulong PagedBytes; public ulong BudgetBytes; public ulong PageOuts; public ulong PageIns;
    }

    /// <summary>mmb_chat_message: NUL-terminated UTF-8 strings the binding allocates for one call.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct ChatMessageNative
    {
        public IntPtr Role; public IntPtr Content;
    }

    /// <summary>mmb_chat_options; Model.CreateChat fills it.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct ChatOptions
    {
        public uint StructSize; public IntPtr TemplateName; public IntPtr Session;
    }

    /// <summary>What one Chat.Prefill or Chat.Generate did (mmb_chat_stats).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct ChatStats
    {
        public uint StructSize;
        /// <summary>1: the new rendering did not continue what the session had seen, so it started over.</summary>
        public int Restarted;
        /// <summary>Tokens of the whole rendered conversation.</summary>
        public ulong PromptTokens;
        /// <summary>Of those, already in the session: not computed again.</summary>
        public ulong ReusedTokens;
        /// <summary>Fed to the session by this call.</summary>
        public ulong PrefilledTokens;
        /// <summary>Tokens of the reply (Chat.Generate).</summary>
        public ulong GeneratedTokens;

        public override string ToString()
        {
            return string.Format("prompt {0} tokens: {1} reused, {2} prefilled{3}; {4} generated", PromptTokens,
                                 ReusedTokens, PrefilledTokens, Restarted != 0 ? " (restarted)" : "", GeneratedTokens);
        }
    }

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    public delegate int TokenCallbackNative(IntPtr userData, int token, IntPtr text, UIntPtr len);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    public delegate void JobEventNative(IntPtr userData, IntPtr job, int kind, int token, IntPtr text, UIntPtr len, int status);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    public delegate void RunTaskNative(IntPtr userData, IntPtr task, IntPtr taskData);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    public delegate void TaskNative(IntPtr taskData);

    public static class Native
    {
#if UNITY_IOS && !UNITY_EDITOR
        public const string Library = "__Internal";
#else
        public const string Library = "moemamba";
#endif
        public const int Ok = 0, ErrInvalidArgument = 1, ErrIo = 2, ErrFormat = 3, ErrUnsupported = 4, ErrBackend = 6,
                         ErrCancelled = 7, ErrBufferTooSmall = 8, ErrStateMismatch = 9, ErrBusy = 11, ErrBudget = 12,
                         ErrContextFull = 13, ErrTemplate = 14, ErrGrammar = 15;
        public const int GrammarGbnf = 1, GrammarJsonSchema = 2;
        public const uint LoadCopyMemory = 1u << 1, TokenizeAddBos = 1u << 0;

        [DllImport(Library)] public static extern IntPtr mmb_status_string(int status);
        [DllImport(Library)] public static extern IntPtr mmb_last_error();
        [DllImport(Library)] public static extern IntPtr mmb_version_string();
        [DllImport(Library)] public static extern int mmb_runtime_options_init(ref RuntimeOptions o, UIntPtr structSize);
        [DllImport(Library)] public static extern int mmb_runtime_create(ref RuntimeOptions o, out IntPtr rt);
        [DllImport(Library)] public static extern void mmb_runtime_destroy(IntPtr rt);
        [DllImport(Library)] public static extern int mmb_runtime_get_backend(IntPtr rt, out int backend, out int nThreads);
        [DllImport(Library)] public static extern int mmb_runtime_get_backend_info(IntPtr rt, ref BackendInfoNative info);
        [DllImport(Library)] public static extern int mmb_load_options_init(ref LoadOptions o, UIntPtr structSize);
        [DllImport(Library)] public static extern int mmb_model_load_file(IntPtr rt, byte[] utf8Path, ref LoadOptions o, out IntPtr model);
        [DllImport(Library)] public static extern int mmb_model_load_memory(IntPtr rt, byte[] data, UIntPtr size, ref LoadOptions o, out IntPtr model);
        [DllImport(Library)] public static extern int mmb_model_get_info(IntPtr model, ref ModelInfo info);
        [DllImport(Library)] public static extern void mmb_model_destroy(IntPtr model);
        [DllImport(Library)] public static extern int mmb_session_options_init(ref SessionOptions o, UIntPtr structSize);
        [DllImport(Library)] public static extern int mmb_session_create(IntPtr model, IntPtr options, out IntPtr session);
        [DllImport(Library)] public static extern int mmb_session_create(IntPtr model, ref SessionOptions options, out IntPtr session);
        [DllImport(Library)] public static extern void mmb_session_destroy(IntPtr session);
        [DllImport(Library)] public static extern int mmb_session_reset(IntPtr session);
        [DllImport(Library)] public static extern int mmb_session_get_position(IntPtr session, out ulong position);
        [DllImport(Library)] public static extern int mmb_session_step(IntPtr session, int token, float[] logits, UIntPtr cap);
        [DllImport(Library)] public static extern int mmb_session_prefill(IntPtr session, int[] tokens, UIntPtr n, float[] logits, UIntPtr cap);
        [DllImport(Library)] public static extern int mmb_step_batch(IntPtr[] sessions, int[] tokens, UIntPtr n, float[] logits, UIntPtr stride);
        [DllImport(Library)] public static extern int mmb_session_state_size(IntPtr session, out UIntPtr bytes);
        [DllImport(Library)] public static extern int mmb_session_state_save(IntPtr session, byte[] buf, UIntPtr cap, out UIntPtr written);
        [DllImport(Library)] public static extern int mmb_session_state_load(IntPtr session, byte[] buf, UIntPtr size);
        [DllImport(Library)] public static extern int mmb_session_fork(IntPtr session, out IntPtr fork);
        [DllImport(Library)] public static extern int mmb_tokenize(IntPtr model, byte[] text, UIntPtr len, int[] tokens, UIntPtr cap, out UIntPtr n, uint flags);
        [DllImport(Library)] public static extern int mmb_detokenizer_create(IntPtr model, out IntPtr detok);
        [DllImport(Library)] public static extern void mmb_detokenizer_destroy(IntPtr detok);
        [DllImport(Library)] public static extern int mmb_detokenizer_push(IntPtr detok, int token, byte[] buf, UIntPtr cap, out UIntPtr len);
        [DllImport(Library)] public static extern int mmb_detokenizer_flush(IntPtr detok, byte[] buf, UIntPtr cap, out UIntPtr len);
        [DllImport(Library)] public static extern int mmb_sampler_params_init(ref SamplerParams p, UIntPtr structSize);
        [DllImport(Library)] public static extern int mmb_sampler_create(ref SamplerParams p, out IntPtr sampler);
        [DllImport(Library)] public static extern void mmb_sampler_destroy(IntPtr sampler);
        [DllImport(Library)] public static extern int mmb_sampler_sample(IntPtr sampler, float[] logits, UIntPtr n, out int token);
        [DllImport(Library)] public static extern int mmb_generate_options_init(ref GenerateOptions o, UIntPtr structSize);
        [DllImport(Library)] public static extern int mmb_generate(IntPtr session, IntPtr sampler, byte[] prompt, UIntPtr len, ref GenerateOptions o, TokenCallbackNative cb, IntPtr userData);
        // Jobs, frames and session paging. JobOptions is filled field by field (every one
        // is set), so mmb_job_options_init is not needed.
        [DllImport(Library)] public static extern int mmb_job_submit_text(IntPtr session, IntPtr sampler, byte[] prompt, UIntPtr len, ref JobOptions o, out IntPtr job);
        [DllImport(Library)] public static extern int mmb_job_submit_tokens(IntPtr session, IntPtr sampler, int[] tokens, UIntPtr n, ref JobOptions o, out IntPtr job);
        [DllImport(Library)] public static extern int mmb_job_poll(IntPtr job, out int state, out int result);
        [DllImport(Library)] public static extern int mmb_job_read_text(IntPtr job, byte[] buf, UIntPtr cap, out UIntPtr len);
        [DllImport(Library)] public static extern int mmb_job_read_tokens(IntPtr job, int[] tokens, UIntPtr cap, out UIntPtr n);
        [DllImport(Library)] public static extern int mmb_job_wait(IntPtr job, uint timeoutMs, out int state);
        [DllImport(Library)] public static extern int mmb_job_cancel(IntPtr job);
        [DllImport(Library)] public static extern void mmb_job_destroy(IntPtr job);
        [DllImport(Library)] public static extern int mmb_runtime_frame(IntPtr runtime, ulong budgetUs, ref FrameStats stats);
        [DllImport(Library)] public static extern int mmb_runtime_get_session_memory(IntPtr runtime, ref SessionMemory memory);
        [DllImport(Library)] public static extern int mmb_session_page_out(IntPtr session);
        // Chat (0.6).
        [DllImport(Library)] public static extern int mmb_model_get_stop_tokens(IntPtr model, int[] tokens, UIntPtr cap, out UIntPtr n);
        [DllImport(Library)] public static extern int mmb_chat_render(IntPtr model, byte[] templateName, ChatMessageNative[] messages, UIntPtr n, int addGenerationPrompt, byte[] buf, UIntPtr cap, out UIntPtr len);
        [DllImport(Library)] public static extern int mmb_chat_options_init(ref ChatOptions o, UIntPtr structSize);
        [DllImport(Library)] public static extern int mmb_chat_create(IntPtr model, ref ChatOptions o, out IntPtr chat);
        [DllImport(Library)] public static extern void mmb_chat_destroy(IntPtr chat);
        [DllImport(Library)] public static extern IntPtr mmb_chat_get_session(IntPtr chat);
        [DllImport(Library)] public static extern int mmb_chat_add(IntPtr chat, byte[] role, byte[] content);
        [DllImport(Library)] public static extern int mmb_chat_get_message_count(IntPtr chat, out UIntPtr count);
        [DllImport(Library)] public static extern int mmb_chat_get_message(IntPtr chat, UIntPtr index, byte[] role, UIntPtr roleCap, out UIntPtr roleLen, byte[] content, UIntPtr contentCap, out UIntPtr contentLen);
        [DllImport(Library)] public static extern int mmb_chat_prefill(IntPtr chat, ref ChatStats stats);
        [DllImport(Library)] public static extern int mmb_chat_generate(IntPtr chat, IntPtr sampler, ref GenerateOptions o, TokenCallbackNative cb, IntPtr userData, ref ChatStats stats);
        [DllImport(Library)] public static extern int mmb_chat_reset(IntPtr chat);
        [DllImport(Library)] public static extern int mmb_chat_state_size(IntPtr chat, out UIntPtr bytes);
        [DllImport(Library)] public static extern int mmb_chat_state_save(IntPtr chat, byte[] buf, UIntPtr cap, out UIntPtr written);
        [DllImport(Library)] public static extern int mmb_chat_state_load(IntPtr chat, byte[] buf, UIntPtr size);
        // Structured output (0.7).
        [DllImport(Library)] public static extern int mmb_grammar_options_init(ref GrammarOptions o, UIntPtr structSize);
        [DllImport(Library)] public static extern int mmb_grammar_create(IntPtr model, int kind, byte[] text, UIntPtr len, ref GrammarOptions o, out IntPtr grammar);
        [DllImport(Library)] public static extern int mmb_grammar_create_choice(IntPtr model, IntPtr[] items, UIntPtr[] lens, UIntPtr n, ref GrammarOptions o, out IntPtr grammar);
        [DllImport(Library)] public static extern void mmb_grammar_destroy(IntPtr grammar);
        [DllImport(Library)] public static extern int mmb_grammar_state_create(IntPtr grammar, out IntPtr state);
        [DllImport(Library)] public static extern void mmb_grammar_state_destroy(IntPtr state);
        [DllImport(Library)] public static extern int mmb_grammar_state_clone(IntPtr state, out IntPtr clone);
        [DllImport(Library)] public static extern int mmb_grammar_state_reset(IntPtr state);
        [DllImport(Library)] public static extern int mmb_grammar_state_accept(IntPtr state, int token);
        [DllImport(Library)] public static extern int mmb_grammar_state_can_end(IntPtr state, out int canEnd, out int mustEnd);
        [DllImport(Library)] public static extern int mmb_grammar_state_get_mask(IntPtr state, uint[] words, UIntPtr nWords);
        [DllImport(Library)] public static extern int mmb_grammar_state_apply(IntPtr state, float[] logits, UIntPtr n);
        [DllImport(Library)] public static extern int mmb_sampler_sample_grammar(IntPtr sampler, IntPtr state, float[] logits, UIntPtr n, out int token);
        [DllImport(Library)] public static extern int mmb_grammar_state_size(IntPtr state, out UIntPtr size);
        [DllImport(Library)] public static extern int mmb_grammar_state_save(IntPtr state, byte[] buf, UIntPtr cap, out UIntPtr len);
        [DllImport(Library)] public static extern int mmb_grammar_state_load(IntPtr state, byte[] buf, UIntPtr len);
    }
}
