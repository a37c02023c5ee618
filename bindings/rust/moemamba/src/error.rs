// Status codes become an Error carrying the status and mmb_last_error()'s detail.
use moemamba_sys as sys;
use std::ffi::{c_void, CStr};
use std::fmt;

/// What kind of failure a call met (the header's MMB_ERR_* values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    InvalidArgument,
    Io,
    Format,
    Unsupported,
    OutOfMemory,
    Backend,
    Cancelled,
    BufferTooSmall,
    StateMismatch,
    Internal,
    /// The session runs a job (Rust's borrows keep the safe API from meeting it).
    Busy,
    /// The runtime's session memory budget cannot hold this now.
    Budget,
    /// The session's context ([`SessionOptions::max_context`](crate::SessionOptions))
    /// cannot take these tokens; nothing was consumed. Reset the session, or use one
    /// with a larger context. Only models with attention layers have a context limit.
    ContextFull,
    /// The model's chat template refused the conversation (its `raise_exception()`, e.g.
    /// roles that do not alternate) or ran past its limits; the message is the
    /// template's own.
    Template,
    /// A grammar, JSON Schema or choice list is malformed or unusable (the message gives
    /// the line and column, or the schema path), a grammar does not allow a token, or no
    /// token of the vocabulary can continue it.
    Grammar,
    /// A status this binding does not know (from a newer library).
    Other(i32),
}

impl Status {
    fn from_raw(status: sys::mmb_status) -> Status {
        match status {
            sys::MMB_ERR_INVALID_ARGUMENT => Status::InvalidArgument,
            sys::MMB_ERR_IO => Status::Io,
            sys::MMB_ERR_FORMAT => Status::Format,
            sys::MMB_ERR_UNSUPPORTED => Status::Unsupported,
            sys::MMB_ERR_OUT_OF_MEMORY => Status::OutOfMemory,
            sys::MMB_ERR_BACKEND => Status::Backend,
            sys::MMB_ERR_CANCELLED => Status::Cancelled,
            sys::MMB_ERR_BUFFER_TOO_SMALL => Status::BufferTooSmall,
            sys::MMB_ERR_STATE_MISMATCH => Status::StateMismatch,
            sys::MMB_ERR_INTERNAL => Status::Internal,
            sys::MMB_ERR_BUSY => Status::Busy,
            sys::MMB_ERR_BUDGET => Status::Budget,
            sys::MMB_ERR_CONTEXT_FULL => Status::ContextFull,
            sys::MMB_ERR_TEMPLATE => Status::Template,
            sys::MMB_ERR_GRAMMAR => Status::Grammar,
            other => Status::Other(other),
        }
    }
}

/// A failed call: its status, the status's name ("MMB_ERR_FORMAT") and the library's
/// message (which argument, which tensor, which offset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    raw: sys::mmb_status,
    message: String,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Reads mmb_last_error(): call right after the failed call, on the same thread.
    pub(crate) fn last(raw: sys::mmb_status) -> Error {
        let message = unsafe { CStr::from_ptr(sys::mmb_last_error()) }.to_string_lossy().into_owned();
        Error { raw, message }
    }

    /// An error raised by the binding itself, before reaching the library.
    pub(crate) fn new(raw: sys::mmb_status, message: impl Into<String>) -> Error {
        Error { raw, message: message.into() }
    }

    pub fn status(&self) -> Status {
        Status::from_raw(self.raw)
    }

    /// The raw MMB_ERR_* value.
    pub fn raw_status(&self) -> i32 {
        self.raw
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn status_name(&self) -> &'static str {
        let name = unsafe { CStr::from_ptr(sys::mmb_status_string(self.raw)) };
        name.to_str().unwrap_or("MMB_ERR_UNKNOWN")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status_name(), self.message)
    }
}

impl std::error::Error for Error {}

/// Turns a status into a Result, reading the message on failure.
pub(crate) fn check(status: sys::mmb_status) -> Result<()> {
    if status == sys::MMB_OK {
        Ok(())
    } else {
        Err(Error::last(status))
    }
}

/// A C object's saved state: `size` gives its byte count and `save` writes it into a
/// buffer of that size (again, into a buffer of the size it reports, when it finds the
/// first one too small).
pub(crate) fn saved_state<T>(
    raw: *const T,
    size: unsafe extern "C" fn(*const T, *mut usize) -> sys::mmb_status,
    save: unsafe extern "C" fn(*const T, *mut c_void, usize, *mut usize) -> sys::mmb_status,
) -> Result<Vec<u8>> {
    let mut bytes = 0usize;
    check(unsafe { size(raw, &mut bytes) })?;
    let mut blob = vec![0u8; bytes];
    let mut written = 0usize;
    let mut status = unsafe { save(raw, blob.as_mut_ptr().cast(), blob.len(), &mut written) };
    if status == sys::MMB_ERR_BUFFER_TOO_SMALL {
        blob.resize(written, 0);
        status = unsafe { save(raw, blob.as_mut_ptr().cast(), blob.len(), &mut written) };
    }
    check(status)?;
    blob.truncate(written);
    Ok(blob)
}
