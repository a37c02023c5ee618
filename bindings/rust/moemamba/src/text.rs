// The streaming detokenizer: token ids in, whole UTF-8 characters out.
use crate::error::{check, Error, Result};
use crate::model::Model;
use moemamba_sys as sys;
use std::marker::PhantomData;
use std::ptr::{self, NonNull};

/// Turns a stream of token ids into text, holding back the bytes of an unfinished
/// character until a later token completes it. `Send`, not `Sync`.
#[derive(Debug)]
pub struct Detokenizer<'m> {
    raw: NonNull<sys::mmb_detokenizer>,
    buf: Vec<u8>,
    _model: PhantomData<&'m Model>,
    _not_sync: PhantomData<std::cell::Cell<()>>,
}

unsafe impl Send for Detokenizer<'_> {}

impl<'m> Detokenizer<'m> {
    pub(crate) fn new(model: &'m Model) -> Result<Detokenizer<'m>> {
        let mut raw = ptr::null_mut();
        check(unsafe { sys::mmb_detokenizer_create(model.as_raw(), &mut raw) })?;
        Ok(Detokenizer {
            raw: NonNull::new(raw).expect("MMB_OK with a NULL detokenizer"),
            buf: vec![0u8; 64],
            _model: PhantomData,
            _not_sync: PhantomData,
        })
    }

    /// Adds a token; returns the text now complete (often empty).
    pub fn push(&mut self, token: i32) -> Result<String> {
        let raw = self.raw.as_ptr();
        self.fill(|buf, cap, len| unsafe { sys::mmb_detokenizer_push(raw, token, buf, cap, len) })
    }

    /// Ends the stream: the waiting bytes (an unfinished character becomes U+FFFD).
    pub fn flush(&mut self) -> Result<String> {
        let raw = self.raw.as_ptr();
        self.fill(|buf, cap, len| unsafe { sys::mmb_detokenizer_flush(raw, buf, cap, len) })
    }

    // Size-then-copy: a too-small buffer consumes nothing, so grow and call again.
    fn fill(
        &mut self,
        mut call: impl FnMut(*mut std::ffi::c_char, usize, *mut usize) -> sys::mmb_status,
    ) -> Result<String> {
        let mut len = 0usize;
        let mut status = call(self.buf.as_mut_ptr().cast(), self.buf.len(), &mut len);
        if status == sys::MMB_ERR_BUFFER_TOO_SMALL {
            self.buf.resize(len, 0);
            status = call(self.buf.as_mut_ptr().cast(), self.buf.len(), &mut len);
        }
        check(status)?;
        String::from_utf8(self.buf[..len].to_vec())
            .map_err(|e| Error::new(sys::MMB_ERR_INTERNAL, format!("the detokenizer wrote invalid UTF-8: {e}")))
    }
}

impl Drop for Detokenizer<'_> {
    fn drop(&mut self) {
        unsafe { sys::mmb_detokenizer_destroy(self.raw.as_ptr()) }
    }
}
