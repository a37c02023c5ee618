// Generation two ways: an iterator that steps the session in Rust (pull one piece at a
// time), and a callback form over mmb_generate(). Both follow mmb_generate()'s rules:
// the sampler sees the prompt, every emitted token enters the state, the final flush
// comes last.
use crate::error::{check, Result};
use crate::grammar::GrammarState;
use crate::options::defaults;
use crate::sampler::Sampler;
use crate::session::Session;
use crate::text::Detokenizer;
use moemamba_sys as sys;
use std::ffi::{c_char, c_void};
use std::panic::{self, AssertUnwindSafe};

/// Options of a generation (mmb_generate_options without the callbacks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenerateOptions {
    pub max_tokens: i32,
    /// Stop after the EOS token without emitting it.
    pub stop_at_eos: bool,
    /// Prepend BOS to the prompt (if the model has one).
    pub add_bos: bool,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions { max_tokens: 256, stop_at_eos: true, add_bos: true }
    }
}

impl GenerateOptions {
    fn tokenize_flags(&self) -> u32 {
        if self.add_bos {
            sys::MMB_TOKENIZE_ADD_BOS
        } else {
            0
        }
    }
}

/// One step of a stream: the token chosen (None for the final flush) and the text it
/// completed (whole characters, often empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    pub token: Option<i32>,
    pub text: String,
}

/// The iterator returned by [`Session::generate`]. Each `next()` samples one token and
/// steps the session; the session and sampler stay borrowed until it is dropped.
pub struct Generation<'s, 'm> {
    session: &'s mut Session<'m>,
    sampler: &'s mut Sampler,
    detok: Detokenizer<'m>,
    logits: Vec<f32>,
    eos: Option<i32>,
    // With a grammar: the state it advances, and the model's stop tokens besides EOS.
    grammar: Option<&'s mut GrammarState>,
    stop_tokens: Vec<i32>,
    options: GenerateOptions,
    emitted: i32,
    finished: bool,
}

impl<'m> Session<'m> {
    /// Reads `prompt` into the session and returns an iterator over the generated text.
    pub fn generate<'s>(
        &'s mut self,
        sampler: &'s mut Sampler,
        prompt: &str,
        options: &GenerateOptions,
    ) -> Result<Generation<'s, 'm>> {
        self.start_generation(sampler, prompt, options, None)
    }

    /// [`generate`](Session::generate) under a grammar: each token is chosen among those
    /// `grammar` allows, the state advances with each emitted token, and the stream ends
    /// as soon as the grammar is complete ([`GrammarState::must_end`]) or at a stop token
    /// where it may end (stop tokens are allowed only there; `stop_at_eos` is taken as
    /// true). A stream that reaches `max_tokens` first ends with the grammar unfinished:
    /// check [`GrammarState::can_end`].
    pub fn generate_grammar<'s>(
        &'s mut self,
        sampler: &'s mut Sampler,
        prompt: &str,
        options: &GenerateOptions,
        grammar: &'s mut GrammarState,
    ) -> Result<Generation<'s, 'm>> {
        self.start_generation(sampler, prompt, options, Some(grammar))
    }

    fn start_generation<'s>(
        &'s mut self,
        sampler: &'s mut Sampler,
        prompt: &str,
        options: &GenerateOptions,
        grammar: Option<&'s mut GrammarState>,
    ) -> Result<Generation<'s, 'm>> {
        let model = self.model();
        let stop_tokens = if grammar.is_some() { model.stop_tokens()? } else { Vec::new() };
        let mut tokens = model.tokenize_with(prompt.as_bytes(), options.tokenize_flags())?;
        if tokens.is_empty() {
            tokens.push(model.info().bos_id.unwrap_or(0));
        }
        for &t in &tokens {
            sampler.accept(t)?;
        }
        let mut logits = vec![0f32; model.vocab_size()];
        self.prefill_logits(&tokens, &mut logits)?;
        Ok(Generation {
            detok: model.detokenizer()?,
            eos: model.info().eos_id,
            session: self,
            sampler,
            logits,
            grammar,
            stop_tokens,
            options: *options,
            emitted: 0,
            finished: false,
        })
    }

    /// Generates with mmb_generate(), calling `on_piece(token, text)` as each token is
    /// chosen (token None for the final flush). Return false from it to stop.
    pub fn generate_with(
        &mut self,
        sampler: &mut Sampler,
        prompt: &str,
        options: &GenerateOptions,
        on_piece: impl FnMut(Option<i32>, &str) -> bool,
    ) -> Result<()> {
        self.generate_raw(sampler, prompt, options.raw()?, on_piece)
    }

    /// [`generate_with`](Session::generate_with) under a grammar, with the rules of
    /// [`generate_grammar`](Session::generate_grammar): `grammar` advances in place.
    pub fn generate_with_grammar(
        &mut self,
        sampler: &mut Sampler,
        prompt: &str,
        options: &GenerateOptions,
        grammar: &mut GrammarState,
        on_piece: impl FnMut(Option<i32>, &str) -> bool,
    ) -> Result<()> {
        let mut raw_options = options.raw()?;
        raw_options.grammar = grammar.as_raw();
        self.generate_raw(sampler, prompt, raw_options, on_piece)
    }

    fn generate_raw(
        &mut self,
        sampler: &mut Sampler,
        prompt: &str,
        raw_options: sys::mmb_generate_options,
        mut on_piece: impl FnMut(Option<i32>, &str) -> bool,
    ) -> Result<()> {
        let mut context = PieceCallback { on_piece: &mut on_piece, panic: None };
        let status = unsafe {
            sys::mmb_generate(
                self.as_raw(),
                sampler.as_raw(),
                prompt.as_ptr().cast(),
                prompt.len(),
                &raw_options,
                Some(piece_trampoline),
                context.user_data(),
            )
        };
        context.rethrow();
        check(status)
    }
}

impl GenerateOptions {
    pub(crate) fn raw(&self) -> Result<sys::mmb_generate_options> {
        let mut raw = defaults(sys::mmb_generate_options_init)?;
        raw.max_tokens = self.max_tokens;
        raw.stop_at_eos = self.stop_at_eos as i32;
        raw.tokenize_flags = self.tokenize_flags();
        Ok(raw)
    }
}

/// The `user_data` of [`piece_trampoline`]: a Rust closure called with each token and
/// its text, and the panic it raised, if any.
pub(crate) struct PieceCallback<'f> {
    pub(crate) on_piece: &'f mut dyn FnMut(Option<i32>, &str) -> bool,
    pub(crate) panic: Option<Box<dyn std::any::Any + Send>>,
}

impl PieceCallback<'_> {
    pub(crate) fn user_data(&mut self) -> *mut c_void {
        (self as *mut Self).cast()
    }

    /// Raises again, on the caller's side of the C call, a panic of the closure.
    pub(crate) fn rethrow(&mut self) {
        if let Some(payload) = self.panic.take() {
            panic::resume_unwind(payload);
        }
    }
}

/// The mmb_token_callback of every call that streams text; `user` is a PieceCallback.
pub(crate) unsafe extern "C" fn piece_trampoline(
    user: *mut c_void,
    token: i32,
    text: *const c_char,
    len: usize,
) -> i32 {
    let context = &mut *(user as *mut PieceCallback);
    let bytes = if len == 0 { &[][..] } else { std::slice::from_raw_parts(text as *const u8, len) };
    let text = String::from_utf8_lossy(bytes);
    let token = (token >= 0).then_some(token);
    // A panic must not unwind through C: stop the generation and rethrow after.
    match panic::catch_unwind(AssertUnwindSafe(|| (context.on_piece)(token, &text))) {
        Ok(go_on) => go_on as i32,
        Err(payload) => {
            context.panic = Some(payload);
            0
        }
    }
}

impl Generation<'_, '_> {
    fn next_piece(&mut self) -> Result<Option<Piece>> {
        if self.finished {
            return Ok(None);
        }
        if self.emitted < self.options.max_tokens {
            let (token, stops) = match self.grammar.as_deref_mut() {
                Some(state) => {
                    let token = self.sampler.sample_grammar(state, &self.logits)?;
                    (token, Some(token) == self.eos || self.stop_tokens.contains(&token))
                }
                None => {
                    let token = self.sampler.sample(&self.logits)?;
                    (token, self.options.stop_at_eos && Some(token) == self.eos)
                }
            };
            if !stops {
                let text = self.detok.push(token)?;
                self.emitted += 1;
                let complete = self.grammar.as_deref().is_some_and(|state| state.must_end());
                if complete {
                    // The grammar is complete: the token enters the state, and the stream ends.
                    self.emitted = self.options.max_tokens;
                }
                if self.emitted < self.options.max_tokens {
                    self.session.step_logits(token, &mut self.logits)?;
                } else {
                    self.session.step(token)?;
                }
                return Ok(Some(Piece { token: Some(token), text }));
            }
        }
        self.finished = true;
        let text = self.detok.flush()?;
        Ok((!text.is_empty()).then_some(Piece { token: None, text }))
    }
}

impl Iterator for Generation<'_, '_> {
    type Item = Result<Piece>;

    /// The next piece; after an error the stream ends.
    fn next(&mut self) -> Option<Result<Piece>> {
        match self.next_piece() {
            Ok(piece) => piece.map(Ok),
            Err(e) => {
                self.finished = true;
                Some(Err(e))
            }
        }
    }
}
