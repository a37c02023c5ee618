// Structured output (moemamba.h section 9): a Grammar compiled from GBNF text, a JSON
// Schema or a list of choices, shared by any number of generations; each generation
// keeps a GrammarState, which says which tokens may come next.
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;

namespace Moemamba
{
    /// <summary>Native.ErrGrammar: a grammar, JSON Schema or choice list is malformed or
    /// unusable (Detail gives the line and column, or the schema path), a grammar does not
    /// allow a token (GrammarState.Accept), or no token can continue it.</summary>
    public sealed class GrammarException : MoemambaException
    {
        public GrammarException(string name, string detail) : base(Native.ErrGrammar, name, detail) { }
    }

    /// <summary>A grammar, JSON Schema or choice list compiled for one model's vocabulary
    /// (Grammar.FromGbnf, FromJsonSchema, FromChoices). Immutable: share it between threads
    /// freely; each generation takes its own state (CreateState). The library keeps the
    /// model alive for as long as the grammar, and every state made from it, lives.</summary>
    public sealed class Grammar : MoemambaHandle
    {
        private Grammar(IntPtr p, int vocab) { Set(p); VocabSize = vocab; }
        protected override bool ReleaseHandle() { Native.mmb_grammar_destroy(handle); return true; }

        /// <summary>The vocabulary size of the model the grammar was compiled for.</summary>
        public int VocabSize { get; private set; }

        /// <summary>Compiles grammar text in the GBNF dialect; the start rule is "root" unless
        /// root names another. A malformed grammar throws GrammarException whose Detail gives
        /// the line and column.</summary>
        public static Grammar FromGbnf(Model model, string text, string root = null, ulong? maskCacheBytes = null)
        {
            return Create(model, Native.GrammarGbnf, text, root, null, maskCacheBytes);
        }

        /// <summary>Compiles a JSON Schema (JSON text): the output is JSON the schema accepts,
        /// properties in the schema's order. jsonWhitespace: the most whitespace characters at
        /// each place JSON allows them (0: compact; library default 1; up to 64). An
        /// unsupported or malformed schema throws GrammarException naming its path.</summary>
        public static Grammar FromJsonSchema(Model model, string schema, int? jsonWhitespace = null,
                                             ulong? maskCacheBytes = null)
        {
            return Create(model, Native.GrammarJsonSchema, schema, null, jsonWhitespace, maskCacheBytes);
        }

        /// <summary>The output is exactly one of items (at least one, none empty).</summary>
        public static Grammar FromChoices(Model model, IList<string> items, ulong? maskCacheBytes = null)
        {
            if (model == null) throw new ArgumentNullException("model");
            if (items == null) throw new ArgumentNullException("items");
            var o = Options(null, maskCacheBytes);
            int n = items.Count;
            var ptrs = new IntPtr[Math.Max(n, 1)];
            var lens = new UIntPtr[Math.Max(n, 1)];
            try
            {
                for (int i = 0; i < n; i++)
                {
                    if (items[i] == null) throw new ArgumentNullException("items", "item " + i + " is null");
                    var bytes = Encoding.UTF8.GetBytes(items[i]);
                    ptrs[i] = Marshal.AllocHGlobal(Math.Max(bytes.Length, 1));
                    Marshal.Copy(bytes, 0, ptrs[i], bytes.Length);
                    lens[i] = (UIntPtr)bytes.Length;
                }
                IntPtr p;
                MoemambaException.Check(Native.mmb_grammar_create_choice(model.Ptr, ptrs, lens, (UIntPtr)n, ref o, out p));
                return new Grammar(p, model.Info.VocabSize);
            }
            finally
            {
                foreach (var ptr in ptrs) if (ptr != IntPtr.Zero) Marshal.FreeHGlobal(ptr);
            }
        }

        private static GrammarOptions Options(int? jsonWhitespace, ulong? maskCacheBytes)
        {
            var o = new GrammarOptions();
            MoemambaException.Check(Native.mmb_grammar_options_init(ref o, (UIntPtr)Marshal.SizeOf(typeof(GrammarOptions))));
            if (jsonWhitespace.HasValue) o.JsonWhitespace = jsonWhitespace.Value;
            if (maskCacheBytes.HasValue) o.MaskCacheBytes = (UIntPtr)maskCacheBytes.Value;
            return o;
        }

        private static Grammar Create(Model model, int kind, string text, string root, int? jsonWhitespace,
                                      ulong? maskCacheBytes)
        {
            if (model == null) throw new ArgumentNullException("model");
            if (text == null) throw new ArgumentNullException("text");
            var o = Options(jsonWhitespace, maskCacheBytes);
            IntPtr rootPtr = IntPtr.Zero;
            try
            {
                if (root != null)
                {
                    var bytes = Encoding.UTF8.GetBytes(root + "\0");
                    rootPtr = Marshal.AllocHGlobal(bytes.Length);
                    Marshal.Copy(bytes, 0, rootPtr, bytes.Length);
                    o.Root = rootPtr;
                }
                var utf8 = Encoding.UTF8.GetBytes(text);
                IntPtr p;
                MoemambaException.Check(Native.mmb_grammar_create(model.Ptr, kind, utf8, (UIntPtr)utf8.Length, ref o, out p));
                return new Grammar(p, model.Info.VocabSize);
            }
            finally
            {
                if (rootPtr != IntPtr.Zero) Marshal.FreeHGlobal(rootPtr);
            }
        }

        /// <summary>A new state at the grammar's start.</summary>
        public GrammarState CreateState()
        {
            IntPtr p;
            MoemambaException.Check(Native.mmb_grammar_state_create(Ptr, out p));
            return new GrammarState(p, VocabSize);
        }
    }

    /// <summary>Where one generation stands in a grammar: which tokens may come next. Pass
    /// it to Session.Generate, Session.Stream, Session.Submit or Chat.Generate, or drive it
    /// by hand (Accept, GetMask, Apply, Sampler.SampleGrammar). One thread at a time.</summary>
    public sealed class GrammarState : MoemambaHandle
    {
        internal GrammarState(IntPtr p, int vocab) { Set(p); VocabSize = vocab; }
        protected override bool ReleaseHandle() { Native.mmb_grammar_state_destroy(handle); return true; }

        /// <summary>The vocabulary size of the grammar's model: the length of GetMask().</summary>
        public int VocabSize { get; private set; }

        /// <summary>An independent copy at the same place (to fork a generation with its session).</summary>
        public GrammarState Clone()
        {
            IntPtr p;
            MoemambaException.Check(Native.mmb_grammar_state_clone(Ptr, out p));
            return new GrammarState(p, VocabSize);
        }

        /// <summary>Back to the grammar's start.</summary>
        public void Reset() { MoemambaException.Check(Native.mmb_grammar_state_reset(Ptr)); }

        /// <summary>Advances past token. A token the grammar does not allow here throws
        /// GrammarException and changes nothing; a stop token where the grammar may end
        /// changes nothing.</summary>
        public void Accept(int token) { MoemambaException.Check(Native.mmb_grammar_state_accept(Ptr, token)); }

        /// <summary>Whether the text so far is a complete output.</summary>
        public bool CanEnd
        {
            get { int can, must; MoemambaException.Check(Native.mmb_grammar_state_can_end(Ptr, out can, out must)); return can != 0; }
        }

        /// <summary>Whether the output is complete and no token can continue it.</summary>
        public bool MustEnd
        {
            get { int can, must; MoemambaException.Check(Native.mmb_grammar_state_can_end(Ptr, out can, out must)); return must != 0; }
        }

        /// <summary>The tokens that may come next as a bitset: bit t % 32 of word t / 32 is set
        /// when token t is allowed (stop tokens only where the grammar may end).</summary>
        public uint[] GetMaskWords()
        {
            var words = new uint[(VocabSize + 31) / 32];
            MoemambaException.Check(Native.mmb_grammar_state_get_mask(Ptr, words, (UIntPtr)words.Length));
            return words;
        }

        /// <summary>The tokens that may come next: entry t is true when token t is allowed.</summary>
        public bool[] GetMask()
        {
            var words = GetMaskWords();
            var mask = new bool[VocabSize];
            for (int t = 0; t < mask.Length; t++) mask[t] = ((words[t >> 5] >> (t & 31)) & 1u) != 0;
            return mask;
        }

        /// <summary>Sets every logit whose token the grammar does not allow here to
        /// float.NegativeInfinity, in place (VocabSize values), for hosts that sample
        /// themselves.</summary>
        public void Apply(float[] logits)
        {
            if (logits == null) throw new ArgumentNullException("logits");
            MoemambaException.Check(Native.mmb_grammar_state_apply(Ptr, logits, (UIntPtr)logits.Length));
        }

        /// <summary>The state as bytes, for Load into a state of the same grammar.</summary>
        public byte[] Save()
        {
            return SaveBytes(Native.mmb_grammar_state_size, Native.mmb_grammar_state_save);
        }

        /// <summary>Replaces the state with a saved one of the same grammar; on error nothing
        /// changes (ErrStateMismatch: another grammar's; ErrFormat: damaged).</summary>
        public void Load(byte[] state)
        {
            if (state == null) throw new ArgumentNullException("state");
            MoemambaException.Check(Native.mmb_grammar_state_load(Ptr, state, (UIntPtr)state.Length));
        }
    }

    public sealed partial class Sampler
    {
        /// <summary>Chooses a token as Sample does, among the tokens state allows, and advances
        /// the state past it (a stop token leaves it unchanged). GrammarException: no token can
        /// continue the grammar.</summary>
        public int SampleGrammar(GrammarState state, float[] logits)
        {
            if (state == null) throw new ArgumentNullException("state");
            int token;
            MoemambaException.Check(Native.mmb_sampler_sample_grammar(Ptr, state.Ptr, logits, (UIntPtr)logits.Length, out token));
            return token;
        }
    }
}
