// A session: one stream of recurrent state over a borrowed model.
use crate::error::{check, Error, Result};
use crate::model::Model;
use crate::options::defaults;
use moemamba_sys as sys;
use std::marker::PhantomData;
use std::ptr::{self, NonNull};

/// Element type of a session's KV cache (MMB_KV_*): what each key and value of the
/// attention layers is stored as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum KvType {
    /// Half precision, 2 bytes per value (the default).
    #[default]
    F16,
    /// Single precision, 4 bytes per value.
    F32,
}

impl KvType {
    fn raw(self) -> i32 {
        match self {
            KvType::F16 => sys::MMB_KV_F16,
            KvType::F32 => sys::MMB_KV_F32,
        }
    }
}

/// Options of [`Model::session_with`]. Both concern models with attention layers
/// ([`ModelInfo::n_attention_layers`](crate::ModelInfo) > 0); other models ignore them.
///
/// ```no_run
/// # let runtime = moemamba::Runtime::new()?;
/// # let model = moemamba::Model::load_file(&runtime, "model.mmb")?;
/// use moemamba::{KvType, SessionOptions};
/// let session = model.session_with(&SessionOptions { max_context: 512, kv_type: KvType::F32 })?;
/// # Ok::<(), moemamba::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SessionOptions {
    /// Most tokens the session can consume; one more fails with
    /// [`Status::ContextFull`](crate::Status) and consumes nothing. 0 (the default):
    /// the model's [`context_length`](crate::ModelInfo::context_length). Key and value
    /// memory is taken as the context grows (pages of 64 tokens), not at creation. At
    /// most 16777216.
    pub max_context: u64,
    /// How the KV cache stores keys and values.
    pub kv_type: KvType,
}

impl SessionOptions {
    pub(crate) fn raw(&self) -> Result<sys::mmb_session_options> {
        let mut raw = defaults(sys::mmb_session_options_init)?;
        raw.max_context = self.max_context;
        raw.kv_type = self.kv_type.raw();
        Ok(raw)
    }
}

/// One stream of state. `Send` (move it to another thread) but not `Sync`: the header
/// allows one call at a time per session, which `&mut self` on every stepping call
/// enforces. The lifetime ties it to its model.
#[derive(Debug)]
pub struct Session<'m> {
    raw: NonNull<sys::mmb_session>,
    model: &'m Model,
    // *const () would also remove Send; Cell removes only Sync.
    _not_sync: PhantomData<std::cell::Cell<()>>,
}

// Different sessions may run on different threads; a session itself holds no
// thread-affine state.
unsafe impl Send for Session<'_> {}

impl<'m> Session<'m> {
    pub(crate) fn new(model: &'m Model, options: &SessionOptions) -> Result<Session<'m>> {
        let raw_options = options.raw()?;
        let mut raw = ptr::null_mut();
        check(unsafe { sys::mmb_session_create(model.as_raw(), &raw_options, &mut raw) })?;
        Ok(Session::adopt(raw, model))
    }

    pub(crate) fn adopt(raw: *mut sys::mmb_session, model: &'m Model) -> Session<'m> {
        Session { raw: NonNull::new(raw).expect("MMB_OK with a NULL session"), model, _not_sync: PhantomData }
    }

    pub fn model(&self) -> &'m Model {
        self.model
    }

    /// Feeds one token without computing logits (the fast path while reading a prompt).
    pub fn step(&mut self, token: i32) -> Result<()> {
        check(unsafe { sys::mmb_session_step(self.raw.as_ptr(), token, ptr::null_mut(), 0) })
    }

    /// Feeds one token and writes the next-token logits (vocab_size floats) into `logits`.
    pub fn step_logits(&mut self, token: i32, logits: &mut [f32]) -> Result<()> {
        check(unsafe { sys::mmb_session_step(self.raw.as_ptr(), token, logits.as_mut_ptr(), logits.len()) })
    }

    /// Feeds many tokens at once (same state as stepping each), without logits.
    pub fn prefill(&mut self, tokens: &[i32]) -> Result<()> {
        check(unsafe { sys::mmb_session_prefill(self.raw.as_ptr(), tokens.as_ptr(), tokens.len(), ptr::null_mut(), 0) })
    }

    /// Feeds many tokens at once and writes the logits after the last one.
    pub fn prefill_logits(&mut self, tokens: &[i32], logits: &mut [f32]) -> Result<()> {
        check(unsafe {
            sys::mmb_session_prefill(
                self.raw.as_ptr(),
                tokens.as_ptr(),
                tokens.len(),
                logits.as_mut_ptr(),
                logits.len(),
            )
        })
    }

    /// Back to position 0.
    pub fn reset(&mut self) -> Result<()> {
        check(unsafe { sys::mmb_session_reset(self.raw.as_ptr()) })
    }

    /// Tokens consumed so far.
    pub fn position(&self) -> Result<u64> {
        let mut position = 0u64;
        check(unsafe { sys::mmb_session_get_position(self.raw.as_ptr(), &mut position) })?;
        Ok(position)
    }

    /// The state as a versioned, checksummed blob bound to the model.
    pub fn save_state(&self) -> Result<Vec<u8>> {
        let mut size = 0usize;
        check(unsafe { sys::mmb_session_state_size(self.raw.as_ptr(), &mut size) })?;
        let mut blob = vec![0u8; size];
        let mut written = 0usize;
        check(unsafe {
            sys::mmb_session_state_save(self.raw.as_ptr(), blob.as_mut_ptr().cast(), blob.len(), &mut written)
        })?;
        blob.truncate(written);
        Ok(blob)
    }

    /// Replaces the state with a saved one; on error the session is unchanged.
    pub fn load_state(&mut self, blob: &[u8]) -> Result<()> {
        check(unsafe { sys::mmb_session_state_load(self.raw.as_ptr(), blob.as_ptr().cast(), blob.len()) })
    }

    /// An independent copy at the same state and position.
    pub fn fork(&self) -> Result<Session<'m>> {
        let mut raw = ptr::null_mut();
        check(unsafe { sys::mmb_session_fork(self.raw.as_ptr(), &mut raw) })?;
        Ok(Session::adopt(raw, self.model))
    }

    /// Pages the session out now: its state is compressed into host memory and its
    /// memory freed until the next call that needs it (a character leaving the scene).
    pub fn page_out(&mut self) -> Result<()> {
        check(unsafe { sys::mmb_session_page_out(self.raw.as_ptr()) })
    }

    pub fn as_raw(&self) -> *mut sys::mmb_session {
        self.raw.as_ptr()
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        unsafe { sys::mmb_session_destroy(self.raw.as_ptr()) }
    }
}

/// Steps each session by its token in one batched call. `logits`: None, or
/// `sessions.len()` rows of `stride` floats (stride >= vocab_size).
pub fn step_batch(
    sessions: &mut [&mut Session<'_>],
    tokens: &[i32],
    logits: Option<(&mut [f32], usize)>,
) -> Result<()> {
    if sessions.len() != tokens.len() {
        return Err(Error::new(
            sys::MMB_ERR_INVALID_ARGUMENT,
            format!("{} sessions but {} tokens", sessions.len(), tokens.len()),
        ));
    }
    let raws: Vec<*mut sys::mmb_session> = sessions.iter().map(|s| s.as_raw()).collect();
    let (ptr, stride) = match logits {
        None => (ptr::null_mut(), 0),
        Some((rows, stride)) => {
            if rows.len() < stride * sessions.len() {
                return Err(Error::new(
                    sys::MMB_ERR_BUFFER_TOO_SMALL,
                    format!(
                        "logits hold {} floats, {} rows of {} need {}",
                        rows.len(),
                        sessions.len(),
                        stride,
                        stride * sessions.len()
                    ),
                ));
            }
            (rows.as_mut_ptr(), stride)
        }
    };
    check(unsafe { sys::mmb_step_batch(raws.as_ptr(), tokens.as_ptr(), raws.len(), ptr, stride) })
}
