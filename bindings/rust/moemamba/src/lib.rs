//! Safe Rust binding of libmoemamba (see include/moemamba/moemamba.h for the contract).
//!
//! ```no_run
//! use moemamba::{Model, Runtime, SamplerParams, Sampler, GenerateOptions};
//! let runtime = Runtime::new()?;
//! let model = Model::load_file(&runtime, "model.mmb")?;
//! let mut session = model.session()?;
//! let mut sampler = Sampler::new(&SamplerParams::default())?;
//! for piece in session.generate(&mut sampler, "Once upon a time", &GenerateOptions::default())? {
//!     print!("{}", piece?.text);
//! }
//! # Ok::<(), moemamba::Error>(())
//! ```
//!
//! Conversations in the model's own prompt format: [`Model::chat`] returns a [`Chat`]
//! that renders its history with the bundle's chat template and computes only the new
//! tokens of each turn; [`Model::render`] gives the prompt text alone.
//!
//! Structured output: a [`Grammar`] (GBNF text, a JSON Schema or a list of choices) is
//! compiled once per model and shared; each generation keeps a [`GrammarState`] and
//! produces only text the grammar accepts ([`Session::generate_grammar`],
//! [`JobOptions::grammar`], [`Chat::generate_grammar`], [`Sampler::sample_grammar`]).
//!
//! ```no_run
//! # use moemamba::*;
//! # let runtime = Runtime::new()?;
//! # let model = Model::load_file(&runtime, "model.mmb")?;
//! # let mut session = model.session()?;
//! # let mut sampler = Sampler::new(&SamplerParams::default())?;
//! let schema = r#"{"type":"object","properties":{"action":{"enum":["attack","flee"]}},"required":["action"]}"#;
//! let grammar = Grammar::json_schema(&model, schema, &GrammarOptions::default())?;
//! let mut state = grammar.state()?;
//! let mut json = String::new();
//! session.generate_with_grammar(&mut sampler, "Orc: ", &GenerateOptions::default(), &mut state, |_, text| {
//!     json.push_str(text);
//!     true
//! })?;
//! assert!(state.can_end());
//! # Ok::<(), moemamba::Error>(())
//! ```
//!
//! Non-blocking generation for game loops: [`Session::submit_text`] returns a [`Job`] at
//! once; [`Job::poll`] returns the new text, [`Runtime::frame`] advances every job within
//! a time budget (with [`JobMode::Frame`]) and delivers their events.
//!
//! Thread rules follow the header: a [`Runtime`] and a [`Model`] are `Send + Sync` (share
//! a model between threads by reference); a [`Session`], [`Sampler`] and [`Detokenizer`]
//! are `Send` but not `Sync` (one call at a time each; move them to another thread freely).
//! A session borrows its model, so the model outlives every session made from it.
//!
//! The compiler holds these rules. A session cannot outlive its model:
//!
//! ```compile_fail
//! let runtime = moemamba::Runtime::new().unwrap();
//! let session = {
//!     let model = moemamba::Model::load_file(&runtime, "model.mmb").unwrap();
//!     model.session().unwrap()
//! };
//! ```
//!
//! A model may be shared between threads; sessions, samplers and detokenizers may not:
//!
//! ```
//! fn shareable<T: Sync>() {}
//! shareable::<moemamba::Model>();
//! shareable::<moemamba::Runtime>();
//! ```
//! ```compile_fail
//! fn shareable<T: Sync>() {}
//! shareable::<moemamba::Session<'static>>();
//! ```
//! ```compile_fail
//! fn shareable<T: Sync>() {}
//! shareable::<moemamba::Sampler>();
//! ```
//! ```compile_fail
//! fn shareable<T: Sync>() {}
//! shareable::<moemamba::Detokenizer<'static>>();
//! ```
//! ```compile_fail
//! fn shareable<T: Sync>() {}
//! shareable::<moemamba::Chat<'static>>();
//! ```

mod chat;
mod error;
mod generate;
mod grammar;
mod job;
mod model;
mod options;
mod runtime;
mod sampler;
mod session;
mod text;

pub use chat::{Chat, ChatMessage, ChatOptions, ChatReply, ChatStats};
pub use error::{Error, Result, Status};
pub use generate::{GenerateOptions, Generation, Piece};
pub use grammar::{Grammar, GrammarOptions, GrammarState};
pub use job::{EventHandler, Job, JobEvent, JobOptions, JobState};
pub use model::{Model, ModelInfo};
pub use runtime::{Backend, BackendInfo, FrameStats, JobMode, Runtime, RuntimeOptions, SessionMemory, Task};
pub use sampler::{Sampler, SamplerParams};
pub use session::{step_batch, KvType, Session, SessionOptions};
pub use text::Detokenizer;

/// The raw C declarations, for what the safe layer does not cover.
pub use moemamba_sys as sys;

/// The loaded library's version as "major.minor.patch".
pub fn version() -> String {
    unsafe { std::ffi::CStr::from_ptr(sys::mmb_version_string()) }.to_string_lossy().into_owned()
}
