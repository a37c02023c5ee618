// Structured output (moemamba.h section 9): a compiled grammar, JSON Schema or choice
// list, and the per-generation state that says which tokens may come next.
use crate::error::{check, saved_state, Error, Result};
use crate::model::Model;
use crate::options::defaults;
use crate::sampler::Sampler;
use moemamba_sys as sys;
use std::ffi::{c_char, CString};
use std::ptr::{self, NonNull};

/// Options of a grammar (mmb_grammar_options); `default()` gives the library's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrammarOptions {
    /// GBNF: the start rule; None: "root".
    pub root: Option<String>,
    /// JSON Schema: the most whitespace characters allowed at each place JSON allows
    /// them; 0 = compact JSON; default 1; up to 64.
    pub json_whitespace: i32,
    /// Most bytes of token masks the grammar keeps for reuse (default 16 MiB; 0 = none).
    pub mask_cache_bytes: usize,
}

impl Default for GrammarOptions {
    /// Panics only when the loaded library has no mmb_grammar_options (a library older
    /// than 0.7).
    fn default() -> Self {
        let raw = defaults(sys::mmb_grammar_options_init).expect("mmb_grammar_options_init");
        GrammarOptions { root: None, json_whitespace: raw.json_whitespace, mask_cache_bytes: raw.mask_cache_bytes }
    }
}

impl GrammarOptions {
    /// The C struct, and the root name it points to (keep it alive with the struct).
    fn raw(&self) -> Result<(sys::mmb_grammar_options, Option<CString>)> {
        let mut raw = defaults(sys::mmb_grammar_options_init)?;
        let root =
            match &self.root {
                Some(name) => Some(CString::new(name.as_str()).map_err(|_| {
                    Error::new(sys::MMB_ERR_INVALID_ARGUMENT, format!("root {name:?} holds a NUL byte"))
                })?),
                None => None,
            };
        raw.root = root.as_ref().map_or(ptr::null(), |r| r.as_ptr());
        raw.json_whitespace = self.json_whitespace;
        raw.mask_cache_bytes = self.mask_cache_bytes;
        Ok((raw, root))
    }
}

/// A grammar, JSON Schema or choice list compiled for one model's vocabulary. `Send +
/// Sync`: share it between threads by reference; each generation keeps its own
/// [`GrammarState`]. The library keeps the model alive for as long as the grammar (and
/// every state made from it) lives.
#[derive(Debug)]
pub struct Grammar {
    raw: NonNull<sys::mmb_grammar>,
    vocab: usize,
}

unsafe impl Send for Grammar {}
unsafe impl Sync for Grammar {}

impl Grammar {
    /// Compiles grammar text in the GBNF dialect (start rule "root" unless
    /// `options.root` names another). A malformed grammar gives
    /// [`Status::Grammar`](crate::Status) with the line and column in its message.
    pub fn gbnf(model: &Model, text: &str, options: &GrammarOptions) -> Result<Grammar> {
        Self::create(model, sys::MMB_GRAMMAR_GBNF, text, options)
    }

    /// Compiles a JSON Schema (JSON text): the output is JSON that the schema accepts,
    /// properties in the schema's order. An unsupported or malformed schema gives
    /// [`Status::Grammar`](crate::Status) naming its path.
    pub fn json_schema(model: &Model, schema: &str, options: &GrammarOptions) -> Result<Grammar> {
        Self::create(model, sys::MMB_GRAMMAR_JSON_SCHEMA, schema, options)
    }

    /// The output is exactly one of `items` (at least one, none empty).
    pub fn choice<S: AsRef<str>>(model: &Model, items: &[S], options: &GrammarOptions) -> Result<Grammar> {
        let (raw_options, _root) = options.raw()?;
        let pointers: Vec<*const c_char> = items.iter().map(|s| s.as_ref().as_ptr().cast()).collect();
        let lens: Vec<usize> = items.iter().map(|s| s.as_ref().len()).collect();
        let mut raw = ptr::null_mut();
        check(unsafe {
            sys::mmb_grammar_create_choice(
                model.as_raw(),
                pointers.as_ptr(),
                lens.as_ptr(),
                items.len(),
                &raw_options,
                &mut raw,
            )
        })?;
        Ok(Grammar { raw: NonNull::new(raw).expect("MMB_OK with a NULL grammar"), vocab: model.vocab_size() })
    }

    fn create(model: &Model, kind: i32, text: &str, options: &GrammarOptions) -> Result<Grammar> {
        let (raw_options, _root) = options.raw()?;
        let mut raw = ptr::null_mut();
        check(unsafe {
            sys::mmb_grammar_create(model.as_raw(), kind, text.as_ptr().cast(), text.len(), &raw_options, &mut raw)
        })?;
        Ok(Grammar { raw: NonNull::new(raw).expect("MMB_OK with a NULL grammar"), vocab: model.vocab_size() })
    }

    /// A new state at the grammar's start.
    pub fn state(&self) -> Result<GrammarState> {
        let mut raw = ptr::null_mut();
        check(unsafe { sys::mmb_grammar_state_create(self.raw.as_ptr(), &mut raw) })?;
        Ok(GrammarState::wrap(raw, self.vocab))
    }

    /// The vocabulary size of the model the grammar was compiled for.
    pub fn vocab_size(&self) -> usize {
        self.vocab
    }

    pub fn as_raw(&self) -> *mut sys::mmb_grammar {
        self.raw.as_ptr()
    }
}

impl Drop for Grammar {
    fn drop(&mut self) {
        unsafe { sys::mmb_grammar_destroy(self.raw.as_ptr()) }
    }
}

/// Where one generation stands in a grammar: which tokens may come next. `Send` but not
/// `Sync` (one thread at a time). Keeps its grammar alive.
#[derive(Debug)]
pub struct GrammarState {
    raw: NonNull<sys::mmb_grammar_state>,
    vocab: usize,
    _not_sync: std::marker::PhantomData<std::cell::Cell<()>>,
}

unsafe impl Send for GrammarState {}

impl GrammarState {
    fn wrap(raw: *mut sys::mmb_grammar_state, vocab: usize) -> GrammarState {
        GrammarState {
            raw: NonNull::new(raw).expect("MMB_OK with a NULL grammar state"),
            vocab,
            _not_sync: std::marker::PhantomData,
        }
    }

    /// A new state at `grammar`'s start (as [`Grammar::state`]).
    pub fn new(grammar: &Grammar) -> Result<GrammarState> {
        grammar.state()
    }

    /// An independent copy at the same place (to fork a generation with its session).
    pub fn try_clone(&self) -> Result<GrammarState> {
        let mut raw = ptr::null_mut();
        check(unsafe { sys::mmb_grammar_state_clone(self.raw.as_ptr(), &mut raw) })?;
        Ok(GrammarState::wrap(raw, self.vocab))
    }

    /// Back to the grammar's start.
    pub fn reset(&mut self) -> Result<()> {
        check(unsafe { sys::mmb_grammar_state_reset(self.raw.as_ptr()) })
    }

    /// Advances past `token` (chosen by the host, or a prompt the output continues). A
    /// token the grammar does not allow here gives [`Status::Grammar`](crate::Status) and
    /// changes nothing; a stop token where the grammar may end changes nothing.
    pub fn accept(&mut self, token: i32) -> Result<()> {
        check(unsafe { sys::mmb_grammar_state_accept(self.raw.as_ptr(), token) })
    }

    fn ends(&self) -> (bool, bool) {
        let (mut can, mut must) = (0i32, 0i32);
        // Only a NULL state fails, and self.raw is never NULL.
        let status = unsafe { sys::mmb_grammar_state_can_end(self.raw.as_ptr(), &mut can, &mut must) };
        debug_assert_eq!(status, sys::MMB_OK);
        (can != 0, must != 0)
    }

    /// Whether the text so far is a complete output.
    pub fn can_end(&self) -> bool {
        self.ends().0
    }

    /// Whether the output is complete and no token can continue it.
    pub fn must_end(&self) -> bool {
        self.ends().1
    }

    /// The tokens that may come next as a bitset: bit `t % 32` of word `t / 32` is set
    /// when token `t` is allowed (stop tokens only where the grammar may end).
    pub fn mask_words(&mut self) -> Result<Vec<u32>> {
        let mut words = vec![0u32; self.vocab.div_ceil(32)];
        check(unsafe { sys::mmb_grammar_state_get_mask(self.raw.as_ptr(), words.as_mut_ptr(), words.len()) })?;
        Ok(words)
    }

    /// The tokens that may come next: entry `t` is true when token `t` is allowed.
    pub fn mask(&mut self) -> Result<Vec<bool>> {
        let words = self.mask_words()?;
        Ok((0..self.vocab).map(|t| words[t / 32] >> (t % 32) & 1 != 0).collect())
    }

    /// Sets every logit whose token the grammar does not allow here to -inf (`logits`
    /// holds the model's vocab_size values), for hosts that sample themselves.
    pub fn apply(&mut self, logits: &mut [f32]) -> Result<()> {
        check(unsafe { sys::mmb_grammar_state_apply(self.raw.as_ptr(), logits.as_mut_ptr(), logits.len()) })
    }

    /// The state as bytes, for [`load`](GrammarState::load) into a state of the same
    /// grammar (e.g. kept beside a session's saved state).
    pub fn save(&self) -> Result<Vec<u8>> {
        saved_state(self.raw.as_ptr(), sys::mmb_grammar_state_size, sys::mmb_grammar_state_save)
    }

    /// Replaces the state with a saved one of the same grammar; on error nothing changes
    /// ([`Status::StateMismatch`](crate::Status): another grammar's;
    /// [`Status::Format`](crate::Status): damaged).
    pub fn load(&mut self, blob: &[u8]) -> Result<()> {
        check(unsafe { sys::mmb_grammar_state_load(self.raw.as_ptr(), blob.as_ptr().cast(), blob.len()) })
    }

    pub fn as_raw(&self) -> *mut sys::mmb_grammar_state {
        self.raw.as_ptr()
    }
}

impl Drop for GrammarState {
    fn drop(&mut self) {
        unsafe { sys::mmb_grammar_state_destroy(self.raw.as_ptr()) }
    }
}

impl Sampler {
    /// Chooses a token as [`sample`](Sampler::sample) does, among the tokens `state`
    /// allows, and advances the state past it (a stop token leaves it unchanged).
    /// [`Status::Grammar`](crate::Status): no token can continue the grammar.
    pub fn sample_grammar(&mut self, state: &mut GrammarState, logits: &[f32]) -> Result<i32> {
        let mut token = 0i32;
        check(unsafe {
            sys::mmb_sampler_sample_grammar(self.as_raw(), state.as_raw(), logits.as_ptr(), logits.len(), &mut token)
        })?;
        Ok(token)
    }
}
