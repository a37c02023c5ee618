// Conversations in the model's own prompt format (moemamba.h section 8): Model::render
// turns messages into the prompt its chat template makes; a Chat keeps a conversation
// and a session of its own in step, so each turn computes only the new tokens.
use crate::error::{check, saved_state, Error, Result};
use crate::generate::{piece_trampoline, GenerateOptions, PieceCallback};
use crate::grammar::GrammarState;
use crate::model::Model;
use crate::options::defaults;
use crate::sampler::Sampler;
use crate::session::{Session, SessionOptions};
use moemamba_sys as sys;
use std::ffi::{c_char, CString};
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ptr::{self, NonNull};

/// One turn of a conversation: a role ("system", "user", "assistant", "tool" or whatever
/// the template knows) and its text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> ChatMessage {
        ChatMessage { role: role.into(), content: content.into() }
    }

    pub fn system(content: impl Into<String>) -> ChatMessage {
        ChatMessage::new("system", content)
    }

    pub fn user(content: impl Into<String>) -> ChatMessage {
        ChatMessage::new("user", content)
    }

    pub fn assistant(content: impl Into<String>) -> ChatMessage {
        ChatMessage::new("assistant", content)
    }
}

/// Options of [`Model::chat_with`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatOptions {
    /// None (the default): the model's main template; else a named one from its
    /// tokenizer_config.json ("tool_use", ...).
    pub template_name: Option<String>,
    /// The options of the chat's session.
    pub session: SessionOptions,
}

/// What one [`Chat::prefill`] or [`Chat::generate`] did (mmb_chat_stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ChatStats {
    /// The new rendering did not continue what the session had seen, so it started over.
    pub restarted: bool,
    /// Tokens of the whole rendered conversation.
    pub prompt_tokens: u64,
    /// Of those, already in the session: not computed again.
    pub reused_tokens: u64,
    /// Fed to the session by this call.
    pub prefilled_tokens: u64,
    /// Tokens of the reply ([`Chat::generate`]).
    pub generated_tokens: u64,
}

impl ChatStats {
    fn raw() -> sys::mmb_chat_stats {
        sys::mmb_chat_stats {
            struct_size: std::mem::size_of::<sys::mmb_chat_stats>() as u32,
            restarted: 0,
            prompt_tokens: 0,
            reused_tokens: 0,
            prefilled_tokens: 0,
            generated_tokens: 0,
        }
    }

    fn from_raw(s: &sys::mmb_chat_stats) -> ChatStats {
        ChatStats {
            restarted: s.restarted != 0,
            prompt_tokens: s.prompt_tokens,
            reused_tokens: s.reused_tokens,
            prefilled_tokens: s.prefilled_tokens,
            generated_tokens: s.generated_tokens,
        }
    }
}

/// What [`Chat::generate`] returns: the reply as it joined the history, and what the turn
/// computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatReply {
    pub text: String,
    pub stats: ChatStats,
}

/// The C API takes NUL-terminated strings.
fn c_string(text: &str, what: &str) -> Result<CString> {
    CString::new(text)
        .map_err(|_| Error::new(sys::MMB_ERR_INVALID_ARGUMENT, format!("{what} {text:?} holds a NUL byte")))
}

impl Model {
    /// The model's end-of-turn tokens besides EOS (e.g. `<|im_end|>`), at which
    /// generation, jobs and chats stop.
    pub fn stop_tokens(&self) -> Result<Vec<i32>> {
        let mut n = 0usize;
        let status = unsafe { sys::mmb_model_get_stop_tokens(self.as_raw(), ptr::null_mut(), 0, &mut n) };
        if status != sys::MMB_ERR_BUFFER_TOO_SMALL {
            check(status)?;
        }
        let mut tokens = vec![0i32; n];
        if n > 0 {
            check(unsafe { sys::mmb_model_get_stop_tokens(self.as_raw(), tokens.as_mut_ptr(), n, &mut n) })?;
            tokens.truncate(n);
        }
        Ok(tokens)
    }

    /// The prompt text the model's chat template makes of `messages`, exactly (tokenize
    /// it with `MMB_TOKENIZE_PARSE_SPECIAL` and without BOS: the template adds what the
    /// model wants). `add_generation_prompt`: end with the opening of the assistant's
    /// turn. `template_name`: None for the main template, else a named one.
    ///
    /// Errors: [`Status::Template`](crate::Status) when the template refuses the
    /// conversation (the message is its own); [`Status::Unsupported`](crate::Status)
    /// when the model has no template of that name.
    pub fn render(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
        template_name: Option<&str>,
    ) -> Result<String> {
        let mut strings = Vec::with_capacity(messages.len());
        for m in messages {
            strings.push((c_string(&m.role, "role")?, c_string(&m.content, "content")?));
        }
        let raw: Vec<sys::mmb_chat_message> = strings
            .iter()
            .map(|(role, content)| sys::mmb_chat_message { role: role.as_ptr(), content: content.as_ptr() })
            .collect();
        let name = template_name.map(|n| c_string(n, "template name")).transpose()?;
        let name_ptr = name.as_ref().map_or(ptr::null(), |n| n.as_ptr());
        let mut buf = vec![0u8; 1024];
        let mut len = 0usize;
        let call = |buf: &mut Vec<u8>, len: &mut usize| unsafe {
            sys::mmb_chat_render(
                self.as_raw(),
                name_ptr,
                raw.as_ptr(),
                raw.len(),
                add_generation_prompt as i32,
                buf.as_mut_ptr().cast(),
                buf.len(),
                len,
            )
        };
        let mut status = call(&mut buf, &mut len);
        if status == sys::MMB_ERR_BUFFER_TOO_SMALL {
            buf.resize(len, 0);
            status = call(&mut buf, &mut len);
        }
        check(status)?;
        buf.truncate(len);
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// A conversation with an empty history and a session of its own, on the model's
    /// main template. Errors: [`Status::Unsupported`](crate::Status) for a model
    /// without chat templates ([`ModelInfo::n_chat_templates`](crate::ModelInfo) 0).
    pub fn chat(&self) -> Result<Chat<'_>> {
        Chat::new(self, &ChatOptions::default())
    }

    /// A conversation on a named template, or with session options of its own.
    pub fn chat_with(&self, options: &ChatOptions) -> Result<Chat<'_>> {
        Chat::new(self, options)
    }
}

/// A conversation bound to a session of its own. Each turn renders the whole history
/// with the model's chat template and computes only the tokens the session has not seen.
/// `Send` but not `Sync`: one call at a time, which `&mut self` enforces. It borrows its
/// model.
#[derive(Debug)]
pub struct Chat<'m> {
    raw: NonNull<sys::mmb_chat>,
    // Owned by the chat: mmb_chat_destroy() destroys it.
    session: ManuallyDrop<Session<'m>>,
    _not_sync: PhantomData<std::cell::Cell<()>>,
}

unsafe impl Send for Chat<'_> {}

impl<'m> Chat<'m> {
    fn new(model: &'m Model, options: &ChatOptions) -> Result<Chat<'m>> {
        let session_options = options.session.raw()?;
        let name = options.template_name.as_deref().map(|n| c_string(n, "template name")).transpose()?;
        let mut raw_options = defaults(sys::mmb_chat_options_init)?;
        raw_options.template_name = name.as_ref().map_or(ptr::null(), |n| n.as_ptr());
        raw_options.session = &session_options;
        let mut raw = ptr::null_mut();
        check(unsafe { sys::mmb_chat_create(model.as_raw(), &raw_options, &mut raw) })?;
        let raw = NonNull::new(raw).expect("MMB_OK with a NULL chat");
        let session = unsafe { sys::mmb_chat_get_session(raw.as_ptr()) };
        Ok(Chat { raw, session: ManuallyDrop::new(Session::adopt(session, model)), _not_sync: PhantomData })
    }

    /// The chat's session, for its position, state or a fork. Stepping it directly
    /// (through [`as_raw`](Session::as_raw)) puts it out of step with the history; the
    /// next turn then starts over ([`ChatStats::restarted`]).
    pub fn session(&self) -> &Session<'m> {
        &self.session
    }

    /// Pages the chat's session out now (see [`Session::page_out`]).
    pub fn page_out(&mut self) -> Result<()> {
        self.session.page_out()
    }

    /// Appends a message to the history; nothing is computed until the next
    /// [`prefill`](Chat::prefill) or [`generate`](Chat::generate).
    pub fn add(&mut self, role: &str, content: &str) -> Result<()> {
        let (role, content) = (c_string(role, "role")?, c_string(content, "content")?);
        check(unsafe { sys::mmb_chat_add(self.raw.as_ptr(), role.as_ptr(), content.as_ptr()) })
    }

    /// Messages in the history, the replies of [`generate`](Chat::generate) included.
    pub fn message_count(&self) -> Result<usize> {
        let mut n = 0usize;
        check(unsafe { sys::mmb_chat_get_message_count(self.raw.as_ptr(), &mut n) })?;
        Ok(n)
    }

    /// Message `index` of the history.
    pub fn message(&self, index: usize) -> Result<ChatMessage> {
        let (mut role_len, mut content_len) = (0usize, 0usize);
        let status = unsafe {
            sys::mmb_chat_get_message(
                self.raw.as_ptr(),
                index,
                ptr::null_mut(),
                0,
                &mut role_len,
                ptr::null_mut(),
                0,
                &mut content_len,
            )
        };
        if status != sys::MMB_ERR_BUFFER_TOO_SMALL {
            check(status)?;
        }
        let mut role = vec![0u8; role_len];
        let mut content = vec![0u8; content_len];
        if status == sys::MMB_ERR_BUFFER_TOO_SMALL {
            check(unsafe {
                sys::mmb_chat_get_message(
                    self.raw.as_ptr(),
                    index,
                    role.as_mut_ptr().cast::<c_char>(),
                    role.len(),
                    &mut role_len,
                    content.as_mut_ptr().cast::<c_char>(),
                    content.len(),
                    &mut content_len,
                )
            })?;
        }
        role.truncate(role_len);
        content.truncate(content_len);
        Ok(ChatMessage {
            role: String::from_utf8_lossy(&role).into_owned(),
            content: String::from_utf8_lossy(&content).into_owned(),
        })
    }

    /// A copy of the history.
    pub fn messages(&self) -> Result<Vec<ChatMessage>> {
        (0..self.message_count()?).map(|i| self.message(i)).collect()
    }

    /// Brings the session up to date with the history (without the generation prompt),
    /// e.g. a character's system prompt at load time, so the first reply starts at once.
    /// Errors: [`Status::Template`](crate::Status), [`Status::ContextFull`](crate::Status).
    pub fn prefill(&mut self) -> Result<ChatStats> {
        let mut stats = ChatStats::raw();
        check(unsafe { sys::mmb_chat_prefill(self.raw.as_ptr(), &mut stats) })?;
        Ok(ChatStats::from_raw(&stats))
    }

    /// Generates the assistant's reply to the history: prefills only what the session has
    /// not seen, then samples until the model ends its turn (not emitted),
    /// `options.max_tokens`, or `on_piece(token, text)` returns false (token None for
    /// the final flush; `options.add_bos` is not used). The reply joins the history as
    /// an "assistant" message, also when stopped early. A panic of `on_piece` stops the
    /// generation and is raised again here.
    pub fn generate(
        &mut self,
        sampler: &mut Sampler,
        options: &GenerateOptions,
        on_piece: impl FnMut(Option<i32>, &str) -> bool,
    ) -> Result<ChatReply> {
        self.generate_raw(sampler, options.raw()?, on_piece)
    }

    /// [`generate`](Chat::generate) under a grammar: the reply is text `grammar` accepts
    /// (a JSON object, one of a list of choices...), with the rules of
    /// [`Session::generate_grammar`](crate::Session::generate_grammar); the state
    /// advances in place.
    pub fn generate_grammar(
        &mut self,
        sampler: &mut Sampler,
        options: &GenerateOptions,
        grammar: &mut GrammarState,
        on_piece: impl FnMut(Option<i32>, &str) -> bool,
    ) -> Result<ChatReply> {
        let mut raw_options = options.raw()?;
        raw_options.grammar = grammar.as_raw();
        self.generate_raw(sampler, raw_options, on_piece)
    }

    fn generate_raw(
        &mut self,
        sampler: &mut Sampler,
        raw_options: sys::mmb_generate_options,
        mut on_piece: impl FnMut(Option<i32>, &str) -> bool,
    ) -> Result<ChatReply> {
        let mut stats = ChatStats::raw();
        let mut context = PieceCallback { on_piece: &mut on_piece, panic: None };
        let status = unsafe {
            sys::mmb_chat_generate(
                self.raw.as_ptr(),
                sampler.as_raw(),
                &raw_options,
                Some(piece_trampoline),
                context.user_data(),
                &mut stats,
            )
        };
        context.rethrow();
        check(status)?;
        let reply = self.message(self.message_count()? - 1)?;
        Ok(ChatReply { text: reply.content, stats: ChatStats::from_raw(&stats) })
    }

    /// Empties the history and resets the session.
    pub fn reset(&mut self) -> Result<()> {
        check(unsafe { sys::mmb_chat_reset(self.raw.as_ptr()) })
    }

    /// The conversation (history and session state) as bytes, for
    /// [`load_state`](Chat::load_state) in this process or another with the same bundle.
    pub fn save_state(&self) -> Result<Vec<u8>> {
        saved_state(self.raw.as_ptr(), sys::mmb_chat_state_size, sys::mmb_chat_state_save)
    }

    /// Replaces the history and session state with a saved conversation; on error nothing
    /// changes ([`Status::Format`](crate::Status): not a chat state;
    /// [`Status::StateMismatch`](crate::Status): another model's).
    pub fn load_state(&mut self, blob: &[u8]) -> Result<()> {
        check(unsafe { sys::mmb_chat_state_load(self.raw.as_ptr(), blob.as_ptr().cast(), blob.len()) })
    }

    pub fn as_raw(&self) -> *mut sys::mmb_chat {
        self.raw.as_ptr()
    }
}

impl Drop for Chat<'_> {
    fn drop(&mut self) {
        unsafe { sys::mmb_chat_destroy(self.raw.as_ptr()) }
    }
}
