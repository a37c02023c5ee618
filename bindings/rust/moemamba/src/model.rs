// A loaded model: immutable, shared between threads; the factory of sessions and
// detokenizers, and the tokenizer.
use crate::error::{check, Error, Result};
use crate::options::defaults;
use crate::runtime::{HostTasks, Runtime};
use crate::session::{Session, SessionOptions};
use crate::text::Detokenizer;
use moemamba_sys as sys;
use std::ffi::{CStr, CString};
use std::path::Path;
use std::ptr::{self, NonNull};
use std::sync::Arc;

/// What a model is (mmb_model_info, with the name copied out).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelInfo {
    pub vocab_size: i32,
    pub d_model: i32,
    pub n_layers: i32,
    pub n_mamba_layers: i32,
    pub n_moe_layers: i32,
    pub n_mlp_layers: i32,
    pub n_experts: i32,
    pub top_k: i32,
    /// None when the tokenizer has no such token.
    pub bos_id: Option<i32>,
    pub eos_id: Option<i32>,
    pub pad_id: Option<i32>,
    pub unk_id: Option<i32>,
    /// 0 f32, 1 f16, 2 bf16, 3 q8 (int8 with a scale per 32 values), 4 q4 (4-bit codes with a
    /// scale per 32 values).
    pub weight_dtype: i32,
    pub params_total: u64,
    pub params_active: u64,
    pub weight_bytes: u64,
    pub active_weight_bytes: u64,
    pub state_bytes: u64,
    pub fingerprint: u64,
    pub name: String,
    /// Attention blocks; 0: the session state is constant in size.
    pub n_attention_layers: i32,
    /// A session's default context limit (what a [`SessionOptions::max_context`] of 0
    /// takes); 0 for a model without attention layers.
    pub context_length: u32,
    /// Key and value elements one token adds to a session's KV cache (2 or 4 bytes
    /// each, by [`KvType`](crate::KvType)); 0 without attention layers.
    pub kv_values_per_token: u64,
    /// Chat templates in the bundle; 0: [`Model::chat`] and [`Model::render`] fail with
    /// [`Status::Unsupported`](crate::Status).
    pub n_chat_templates: i32,
    /// End-of-turn tokens besides `eos_id` at which generation stops
    /// ([`Model::stop_tokens`]).
    pub n_stop_tokens: i32,
}

/// An immutable loaded model; `Send + Sync`: share it between threads by reference.
#[derive(Debug)]
pub struct Model {
    raw: NonNull<sys::mmb_model>,
    info: ModelInfo,
    // The runtime's task runner: job submission on this model's sessions may call it,
    // also after the Runtime is dropped.
    _host: Option<Arc<HostTasks>>,
}

// The header: "A model is immutable once loaded and may be used from any number of
// threads at once."
unsafe impl Send for Model {}
unsafe impl Sync for Model {}

fn optional_id(id: i32) -> Option<i32> {
    (id >= 0).then_some(id)
}

impl Model {
    /// Loads a bundle file, verifying everything (checksums included).
    pub fn load_file(runtime: &Runtime, path: impl AsRef<Path>) -> Result<Model> {
        let path = path.as_ref();
        let text = path.to_str().ok_or_else(|| {
            Error::new(sys::MMB_ERR_INVALID_ARGUMENT, format!("path {} is not UTF-8", path.display()))
        })?;
        let c_path = CString::new(text)
            .map_err(|_| Error::new(sys::MMB_ERR_INVALID_ARGUMENT, format!("path {text:?} holds a NUL byte")))?;
        let mut raw = ptr::null_mut();
        check(unsafe { sys::mmb_model_load_file(runtime.as_raw(), c_path.as_ptr(), ptr::null(), &mut raw) })?;
        Model::adopt(raw, runtime)
    }

    /// Loads a bundle from bytes. The library copies what it needs
    /// (MMB_LOAD_COPY_MEMORY), so `bytes` may be dropped afterwards.
    pub fn load_memory(runtime: &Runtime, bytes: &[u8]) -> Result<Model> {
        let mut options = defaults(sys::mmb_load_options_init)?;
        options.flags |= sys::MMB_LOAD_COPY_MEMORY;
        let mut raw = ptr::null_mut();
        check(unsafe {
            sys::mmb_model_load_memory(runtime.as_raw(), bytes.as_ptr().cast(), bytes.len(), &options, &mut raw)
        })?;
        Model::adopt(raw, runtime)
    }

    fn adopt(raw: *mut sys::mmb_model, runtime: &Runtime) -> Result<Model> {
        let raw = NonNull::new(raw).expect("a load returned MMB_OK and NULL");
        // Owned from here on, so an error below still destroys it.
        let mut model = Model { raw, info: ModelInfo::default(), _host: runtime.host_tasks() };
        model.info = model.read_info()?;
        Ok(model)
    }

    fn read_info(&self) -> Result<ModelInfo> {
        let mut i: sys::mmb_model_info = unsafe { std::mem::zeroed() };
        i.struct_size = std::mem::size_of::<sys::mmb_model_info>() as u32;
        check(unsafe { sys::mmb_model_get_info(self.raw.as_ptr(), &mut i) })?;
        let name = if i.name.is_null() {
            String::new()
        } else {
            unsafe { CStr::from_ptr(i.name) }.to_string_lossy().into_owned()
        };
        Ok(ModelInfo {
            vocab_size: i.vocab_size,
            d_model: i.d_model,
            n_layers: i.n_layers,
            n_mamba_layers: i.n_mamba_layers,
            n_moe_layers: i.n_moe_layers,
            n_mlp_layers: i.n_mlp_layers,
            n_experts: i.n_experts,
            top_k: i.top_k,
            bos_id: optional_id(i.bos_id),
            eos_id: optional_id(i.eos_id),
            pad_id: optional_id(i.pad_id),
            unk_id: optional_id(i.unk_id),
            weight_dtype: i.weight_dtype,
            params_total: i.params_total,
            params_active: i.params_active,
            weight_bytes: i.weight_bytes,
            active_weight_bytes: i.active_weight_bytes,
            state_bytes: i.state_bytes,
            fingerprint: i.fingerprint,
            name,
            n_attention_layers: i.n_attention_layers,
            context_length: i.context_length,
            kv_values_per_token: i.kv_values_per_token,
            n_chat_templates: i.n_chat_templates,
            n_stop_tokens: i.n_stop_tokens,
        })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Entries in every logits vector.
    pub fn vocab_size(&self) -> usize {
        self.info.vocab_size as usize
    }

    /// A metadata value ("name", "license", ...).
    pub fn meta(&self, key: &str) -> Result<String> {
        let c_key = CString::new(key)
            .map_err(|_| Error::new(sys::MMB_ERR_INVALID_ARGUMENT, format!("key {key:?} holds a NUL byte")))?;
        let mut len = 0usize;
        let status =
            unsafe { sys::mmb_model_get_meta(self.raw.as_ptr(), c_key.as_ptr(), ptr::null_mut(), 0, &mut len) };
        if status != sys::MMB_ERR_BUFFER_TOO_SMALL {
            check(status)?;
        }
        let mut buf = vec![0u8; len + 1];
        check(unsafe {
            sys::mmb_model_get_meta(self.raw.as_ptr(), c_key.as_ptr(), buf.as_mut_ptr().cast(), buf.len(), &mut len)
        })?;
        buf.truncate(len);
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// Token ids of `text` (any bytes; invalid UTF-8 becomes byte tokens).
    /// `flags`: sys::MMB_TOKENIZE_* bits.
    pub fn tokenize_with(&self, text: &[u8], flags: u32) -> Result<Vec<i32>> {
        let mut n = 0usize;
        let status = unsafe {
            sys::mmb_tokenize(self.raw.as_ptr(), text.as_ptr().cast(), text.len(), ptr::null_mut(), 0, &mut n, flags)
        };
        if status != sys::MMB_ERR_BUFFER_TOO_SMALL {
            check(status)?;
        }
        let mut tokens = vec![0i32; n];
        if n > 0 {
            check(unsafe {
                sys::mmb_tokenize(
                    self.raw.as_ptr(),
                    text.as_ptr().cast(),
                    text.len(),
                    tokens.as_mut_ptr(),
                    n,
                    &mut n,
                    flags,
                )
            })?;
            tokens.truncate(n);
        }
        Ok(tokens)
    }

    /// Token ids of `text`, with the BOS token first (if the model has one) when `add_bos`.
    pub fn tokenize(&self, text: &str, add_bos: bool) -> Result<Vec<i32>> {
        self.tokenize_with(text.as_bytes(), if add_bos { sys::MMB_TOKENIZE_ADD_BOS } else { 0 })
    }

    /// The raw bytes of one token (possibly part of a UTF-8 character).
    pub fn token_bytes(&self, token: i32) -> Result<Vec<u8>> {
        let mut len = 0usize;
        let status = unsafe { sys::mmb_token_to_bytes(self.raw.as_ptr(), token, ptr::null_mut(), 0, &mut len) };
        if status != sys::MMB_ERR_BUFFER_TOO_SMALL {
            check(status)?;
        }
        let mut buf = vec![0u8; len];
        check(unsafe {
            sys::mmb_token_to_bytes(self.raw.as_ptr(), token, buf.as_mut_ptr().cast(), buf.len(), &mut len)
        })?;
        buf.truncate(len);
        Ok(buf)
    }

    /// Opens a session at position 0 with the default options. It borrows the model.
    pub fn session(&self) -> Result<Session<'_>> {
        Session::new(self, &SessionOptions::default())
    }

    /// Opens a session at position 0 with a context limit and KV cache type of its own.
    /// Errors: `Status::InvalidArgument` for a `max_context` above 16777216.
    pub fn session_with(&self, options: &SessionOptions) -> Result<Session<'_>> {
        Session::new(self, options)
    }

    pub fn detokenizer(&self) -> Result<Detokenizer<'_>> {
        Detokenizer::new(self)
    }

    pub fn as_raw(&self) -> *mut sys::mmb_model {
        self.raw.as_ptr()
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        unsafe { sys::mmb_model_destroy(self.raw.as_ptr()) }
    }
}
