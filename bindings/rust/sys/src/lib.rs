//! Raw declarations of the libmoemamba C interface, written by hand from
//! `include/moemamba/moemamba.h` (the manual: read it for every function's contract).
//! `tests/layout.rs` checks these structs and constants against the header by compiling
//! `tests/layout.c` with the system C compiler.
#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_void};

pub type mmb_status = i32;

pub const MMB_VERSION_MAJOR: u32 = 0;
pub const MMB_VERSION_MINOR: u32 = 8;
pub const MMB_VERSION_PATCH: u32 = 0;
pub const MMB_VERSION_NUMBER: u32 = MMB_VERSION_MAJOR * 10000 + MMB_VERSION_MINOR * 100 + MMB_VERSION_PATCH;
pub const MMB_ABI_VERSION: u32 = 2;

pub const MMB_OK: mmb_status = 0;
pub const MMB_ERR_INVALID_ARGUMENT: mmb_status = 1;
pub const MMB_ERR_IO: mmb_status = 2;
pub const MMB_ERR_FORMAT: mmb_status = 3;
pub const MMB_ERR_UNSUPPORTED: mmb_status = 4;
pub const MMB_ERR_OUT_OF_MEMORY: mmb_status = 5;
pub const MMB_ERR_BACKEND: mmb_status = 6;
pub const MMB_ERR_CANCELLED: mmb_status = 7;
pub const MMB_ERR_BUFFER_TOO_SMALL: mmb_status = 8;
pub const MMB_ERR_STATE_MISMATCH: mmb_status = 9;
pub const MMB_ERR_INTERNAL: mmb_status = 10;
pub const MMB_ERR_BUSY: mmb_status = 11;
pub const MMB_ERR_BUDGET: mmb_status = 12;
pub const MMB_ERR_CONTEXT_FULL: mmb_status = 13;
pub const MMB_ERR_TEMPLATE: mmb_status = 14;
pub const MMB_ERR_GRAMMAR: mmb_status = 15;

pub const MMB_LOG_ERROR: i32 = 0;
pub const MMB_LOG_WARN: i32 = 1;
pub const MMB_LOG_INFO: i32 = 2;
pub const MMB_LOG_DEBUG: i32 = 3;

pub const MMB_BACKEND_AUTO: i32 = 0;
pub const MMB_BACKEND_CPU: i32 = 1;
pub const MMB_BACKEND_CUDA: i32 = 2;

pub const MMB_KV_F16: i32 = 0;
pub const MMB_KV_F32: i32 = 1;

pub const MMB_LOAD_SKIP_CHECKSUMS: u32 = 1 << 0;
pub const MMB_LOAD_COPY_MEMORY: u32 = 1 << 1;

pub const MMB_TOKENIZE_ADD_BOS: u32 = 1 << 0;
pub const MMB_TOKENIZE_PARSE_SPECIAL: u32 = 1 << 1;

pub const MMB_JOBS_WORKER: i32 = 0;
pub const MMB_JOBS_FRAME: i32 = 1;
pub const MMB_JOBS_HOST: i32 = 2;

pub const MMB_JOB_QUEUED: i32 = 0;
pub const MMB_JOB_PREFILL: i32 = 1;
pub const MMB_JOB_GENERATING: i32 = 2;
pub const MMB_JOB_FINISHED: i32 = 3;

pub const MMB_JOB_EVENT_TOKEN: i32 = 0;
pub const MMB_JOB_EVENT_FINISHED: i32 = 1;
pub const MMB_JOB_EVENT_ERROR: i32 = 2;

pub const MMB_GRAMMAR_GBNF: i32 = 1;
pub const MMB_GRAMMAR_JSON_SCHEMA: i32 = 2;

/// Opaque objects: only ever handled through pointers.
#[repr(C)]
pub struct mmb_runtime {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct mmb_model {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct mmb_session {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct mmb_detokenizer {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct mmb_sampler {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct mmb_job {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct mmb_chat {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct mmb_grammar {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct mmb_grammar_state {
    _opaque: [u8; 0],
}

pub type mmb_alloc_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, size: usize, alignment: usize) -> *mut c_void>;
pub type mmb_free_fn = Option<unsafe extern "C" fn(user_data: *mut c_void, ptr: *mut c_void, size: usize)>;
pub type mmb_log_fn = Option<unsafe extern "C" fn(user_data: *mut c_void, level: i32, message: *const c_char)>;
pub type mmb_progress_fn = Option<unsafe extern "C" fn(user_data: *mut c_void, done: u64, total: u64) -> i32>;
pub type mmb_task_fn = Option<unsafe extern "C" fn(task_data: *mut c_void)>;
pub type mmb_run_task_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, task: mmb_task_fn, task_data: *mut c_void)>;
pub type mmb_page_store_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, key: u64, data: *const c_void, size: usize) -> i32>;
pub type mmb_page_load_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, key: u64, data: *mut c_void, size: usize) -> i32>;
pub type mmb_page_drop_fn = Option<unsafe extern "C" fn(user_data: *mut c_void, key: u64)>;
pub type mmb_job_event_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        job: *mut mmb_job,
        kind: i32,
        token: i32,
        text: *const c_char,
        len: usize,
        status: mmb_status,
    ),
>;
pub type mmb_token_callback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, token: i32, text: *const c_char, len: usize) -> i32>;

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mmb_runtime_options {
    pub struct_size: u32,
    pub backend: i32,
    pub n_threads: i32,
    pub device_index: i32,
    pub log_level: i32,
    pub log_fn: mmb_log_fn,
    pub log_user_data: *mut c_void,
    pub alloc_fn: mmb_alloc_fn,
    pub free_fn: mmb_free_fn,
    pub alloc_user_data: *mut c_void,
    // Appended for jobs and session paging.
    pub job_mode: i32,
    pub run_task: mmb_run_task_fn,
    pub run_task_user_data: *mut c_void,
    pub session_memory_budget: u64,
    // Appended in 0.3: the host page store.
    pub page_store: mmb_page_store_fn,
    pub page_load: mmb_page_load_fn,
    pub page_drop: mmb_page_drop_fn,
    pub page_user_data: *mut c_void,
}

/// What a runtime computes on (mmb_runtime_get_backend_info()).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mmb_backend_info {
    pub struct_size: u32,
    pub backend: i32,
    pub n_threads: i32,
    pub device_index: i32,
    pub device_name: [c_char; 128],
    pub device_memory_total: u64,
    pub device_memory_used: u64,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mmb_job_options {
    pub struct_size: u32,
    pub max_tokens: i32,
    pub stop_at_eos: i32,
    pub tokenize_flags: u32,
    pub stop_text: *const c_char,
    pub stop_text_len: usize,
    pub on_event: mmb_job_event_fn,
    pub event_user_data: *mut c_void,
    // Appended in 0.7: structured output.
    pub grammar: *const mmb_grammar_state,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mmb_frame_stats {
    pub struct_size: u32,
    pub steps: u32,
    pub tokens_generated: u64,
    pub prompt_tokens: u64,
    pub time_us: u64,
    pub jobs_active: u32,
    pub jobs_finished: u32,
    pub events: u32,
    pub slices: u32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mmb_session_memory {
    pub struct_size: u32,
    pub sessions: u32,
    pub resident_sessions: u32,
    pub paged_sessions: u32,
    pub resident_bytes: u64,
    pub paged_bytes: u64,
    pub budget_bytes: u64,
    pub page_outs: u64,
    pub page_ins: u64,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mmb_load_options {
    pub struct_size: u32,
    pub flags: u32,
    pub progress: mmb_progress_fn,
    pub progress_user_data: *mut c_void,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mmb_io {
    pub struct_size: u32,
    pub user_data: *mut c_void,
    pub size: Option<unsafe extern "C" fn(user_data: *mut c_void, size: *mut u64) -> i32>,
    pub seek: Option<unsafe extern "C" fn(user_data: *mut c_void, offset: u64) -> i32>,
    pub read: Option<unsafe extern "C" fn(user_data: *mut c_void, dst: *mut c_void, n: usize) -> i64>,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mmb_model_info {
    pub struct_size: u32,
    pub vocab_size: i32,
    pub d_model: i32,
    pub n_layers: i32,
    pub n_mamba_layers: i32,
    pub n_moe_layers: i32,
    pub n_mlp_layers: i32,
    pub n_experts: i32,
    pub top_k: i32,
    pub bos_id: i32,
    pub eos_id: i32,
    pub pad_id: i32,
    pub unk_id: i32,
    pub weight_dtype: i32,
    pub params_total: u64,
    pub params_active: u64,
    pub weight_bytes: u64,
    pub active_weight_bytes: u64,
    pub state_bytes: u64,
    pub fingerprint: u64,
    pub name: *const c_char,
    // Appended in 0.5: attention layers.
    pub n_attention_layers: i32,
    pub context_length: u32,
    pub kv_values_per_token: u64,
    // Appended in 0.6: chat templates.
    pub n_chat_templates: i32,
    pub n_stop_tokens: i32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mmb_session_options {
    pub struct_size: u32,
    pub flags: u32,
    // Appended in 0.5: the context of models with attention layers.
    pub max_context: u64,
    pub kv_type: i32,
    pub reserved: u32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mmb_prefill_options {
    pub struct_size: u32,
    pub progress: mmb_progress_fn,
    pub progress_user_data: *mut c_void,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mmb_sampler_params {
    pub struct_size: u32,
    pub temperature: f32,
    pub top_k: i32,
    pub top_p: f32,
    pub min_p: f32,
    pub repetition_penalty: f32,
    pub presence_penalty: f32,
    pub frequency_penalty: f32,
    pub penalty_window: i32,
    pub seed: u64,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mmb_generate_options {
    pub struct_size: u32,
    pub max_tokens: i32,
    pub stop_at_eos: i32,
    pub tokenize_flags: u32,
    pub progress: mmb_progress_fn,
    pub progress_user_data: *mut c_void,
    // Appended in 0.7: structured output.
    pub grammar: *mut mmb_grammar_state,
}

/// Options of mmb_grammar_create() and mmb_grammar_create_choice().
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mmb_grammar_options {
    pub struct_size: u32,
    pub root: *const c_char,
    pub json_whitespace: i32,
    pub mask_cache_bytes: usize,
}

/// One turn of a conversation: NUL-terminated UTF-8.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mmb_chat_message {
    pub role: *const c_char,
    pub content: *const c_char,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mmb_chat_options {
    pub struct_size: u32,
    pub template_name: *const c_char,
    pub session: *const mmb_session_options,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mmb_chat_stats {
    pub struct_size: u32,
    pub restarted: i32,
    pub prompt_tokens: u64,
    pub reused_tokens: u64,
    pub prefilled_tokens: u64,
    pub generated_tokens: u64,
}

/// The function table of mmb_get_api(), members in the header's order.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mmb_api {
    pub struct_size: u32,
    pub abi_version: u32,
    pub status_string: Option<unsafe extern "C" fn(mmb_status) -> *const c_char>,
    pub last_error: Option<unsafe extern "C" fn() -> *const c_char>,
    pub version: Option<unsafe extern "C" fn() -> u32>,
    pub version_string: Option<unsafe extern "C" fn() -> *const c_char>,
    pub runtime_options_init: Option<unsafe extern "C" fn(*mut mmb_runtime_options, usize) -> mmb_status>,
    pub runtime_create: Option<unsafe extern "C" fn(*const mmb_runtime_options, *mut *mut mmb_runtime) -> mmb_status>,
    pub runtime_destroy: Option<unsafe extern "C" fn(*mut mmb_runtime)>,
    pub runtime_get_backend: Option<unsafe extern "C" fn(*const mmb_runtime, *mut i32, *mut i32) -> mmb_status>,
    pub load_options_init: Option<unsafe extern "C" fn(*mut mmb_load_options, usize) -> mmb_status>,
    pub model_load_file: Option<
        unsafe extern "C" fn(
            *mut mmb_runtime,
            *const c_char,
            *const mmb_load_options,
            *mut *mut mmb_model,
        ) -> mmb_status,
    >,
    pub model_load_memory: Option<
        unsafe extern "C" fn(
            *mut mmb_runtime,
            *const c_void,
            usize,
            *const mmb_load_options,
            *mut *mut mmb_model,
        ) -> mmb_status,
    >,
    pub model_load_io: Option<
        unsafe extern "C" fn(
            *mut mmb_runtime,
            *const mmb_io,
            *const mmb_load_options,
            *mut *mut mmb_model,
        ) -> mmb_status,
    >,
    pub model_get_info: Option<unsafe extern "C" fn(*const mmb_model, *mut mmb_model_info) -> mmb_status>,
    pub model_get_meta:
        Option<unsafe extern "C" fn(*const mmb_model, *const c_char, *mut c_char, usize, *mut usize) -> mmb_status>,
    pub model_destroy: Option<unsafe extern "C" fn(*mut mmb_model)>,
    pub session_options_init: Option<unsafe extern "C" fn(*mut mmb_session_options, usize) -> mmb_status>,
    pub session_create:
        Option<unsafe extern "C" fn(*mut mmb_model, *const mmb_session_options, *mut *mut mmb_session) -> mmb_status>,
    pub session_destroy: Option<unsafe extern "C" fn(*mut mmb_session)>,
    pub session_reset: Option<unsafe extern "C" fn(*mut mmb_session) -> mmb_status>,
    pub session_get_position: Option<unsafe extern "C" fn(*const mmb_session, *mut u64) -> mmb_status>,
    pub session_get_model: Option<unsafe extern "C" fn(*const mmb_session) -> *mut mmb_model>,
    pub session_step: Option<unsafe extern "C" fn(*mut mmb_session, i32, *mut f32, usize) -> mmb_status>,
    pub prefill_options_init: Option<unsafe extern "C" fn(*mut mmb_prefill_options, usize) -> mmb_status>,
    pub session_prefill:
        Option<unsafe extern "C" fn(*mut mmb_session, *const i32, usize, *mut f32, usize) -> mmb_status>,
    pub session_prefill_ex: Option<
        unsafe extern "C" fn(
            *mut mmb_session,
            *const i32,
            usize,
            *mut f32,
            usize,
            *const mmb_prefill_options,
        ) -> mmb_status,
    >,
    pub step_batch:
        Option<unsafe extern "C" fn(*const *mut mmb_session, *const i32, usize, *mut f32, usize) -> mmb_status>,
    pub session_state_size: Option<unsafe extern "C" fn(*const mmb_session, *mut usize) -> mmb_status>,
    pub session_state_save:
        Option<unsafe extern "C" fn(*const mmb_session, *mut c_void, usize, *mut usize) -> mmb_status>,
    pub session_state_load: Option<unsafe extern "C" fn(*mut mmb_session, *const c_void, usize) -> mmb_status>,
    pub session_fork: Option<unsafe extern "C" fn(*const mmb_session, *mut *mut mmb_session) -> mmb_status>,
    pub tokenize: Option<
        unsafe extern "C" fn(*const mmb_model, *const c_char, usize, *mut i32, usize, *mut usize, u32) -> mmb_status,
    >,
    pub token_to_bytes:
        Option<unsafe extern "C" fn(*const mmb_model, i32, *mut c_char, usize, *mut usize) -> mmb_status>,
    pub detokenizer_create: Option<unsafe extern "C" fn(*const mmb_model, *mut *mut mmb_detokenizer) -> mmb_status>,
    pub detokenizer_destroy: Option<unsafe extern "C" fn(*mut mmb_detokenizer)>,
    pub detokenizer_push:
        Option<unsafe extern "C" fn(*mut mmb_detokenizer, i32, *mut c_char, usize, *mut usize) -> mmb_status>,
    pub detokenizer_flush:
        Option<unsafe extern "C" fn(*mut mmb_detokenizer, *mut c_char, usize, *mut usize) -> mmb_status>,
    pub sampler_params_init: Option<unsafe extern "C" fn(*mut mmb_sampler_params, usize) -> mmb_status>,
    pub sampler_create: Option<unsafe extern "C" fn(*const mmb_sampler_params, *mut *mut mmb_sampler) -> mmb_status>,
    pub sampler_destroy: Option<unsafe extern "C" fn(*mut mmb_sampler)>,
    pub sampler_reset: Option<unsafe extern "C" fn(*mut mmb_sampler) -> mmb_status>,
    pub sampler_accept: Option<unsafe extern "C" fn(*mut mmb_sampler, i32) -> mmb_status>,
    pub sampler_sample: Option<unsafe extern "C" fn(*mut mmb_sampler, *const f32, usize, *mut i32) -> mmb_status>,
    pub generate_options_init: Option<unsafe extern "C" fn(*mut mmb_generate_options, usize) -> mmb_status>,
    pub generate: Option<
        unsafe extern "C" fn(
            *mut mmb_session,
            *mut mmb_sampler,
            *const c_char,
            usize,
            *const mmb_generate_options,
            mmb_token_callback,
            *mut c_void,
        ) -> mmb_status,
    >,
    pub job_options_init: Option<unsafe extern "C" fn(*mut mmb_job_options, usize) -> mmb_status>,
    pub job_submit_text: Option<
        unsafe extern "C" fn(
            *mut mmb_session,
            *mut mmb_sampler,
            *const c_char,
            usize,
            *const mmb_job_options,
            *mut *mut mmb_job,
        ) -> mmb_status,
    >,
    pub job_submit_tokens: Option<
        unsafe extern "C" fn(
            *mut mmb_session,
            *mut mmb_sampler,
            *const i32,
            usize,
            *const mmb_job_options,
            *mut *mut mmb_job,
        ) -> mmb_status,
    >,
    pub job_poll: Option<unsafe extern "C" fn(*mut mmb_job, *mut i32, *mut mmb_status) -> mmb_status>,
    pub job_read_text: Option<unsafe extern "C" fn(*mut mmb_job, *mut c_char, usize, *mut usize) -> mmb_status>,
    pub job_read_tokens: Option<unsafe extern "C" fn(*mut mmb_job, *mut i32, usize, *mut usize) -> mmb_status>,
    pub job_wait: Option<unsafe extern "C" fn(*mut mmb_job, u32, *mut i32) -> mmb_status>,
    pub job_cancel: Option<unsafe extern "C" fn(*mut mmb_job) -> mmb_status>,
    pub job_destroy: Option<unsafe extern "C" fn(*mut mmb_job)>,
    pub runtime_frame: Option<unsafe extern "C" fn(*mut mmb_runtime, u64, *mut mmb_frame_stats) -> mmb_status>,
    pub runtime_get_session_memory:
        Option<unsafe extern "C" fn(*const mmb_runtime, *mut mmb_session_memory) -> mmb_status>,
    pub session_page_out: Option<unsafe extern "C" fn(*mut mmb_session) -> mmb_status>,
    // Appended in 0.3: the backend's description.
    pub runtime_get_backend_info: Option<unsafe extern "C" fn(*const mmb_runtime, *mut mmb_backend_info) -> mmb_status>,
    // Appended in 0.6: chat templates and conversations.
    pub chat_render: Option<
        unsafe extern "C" fn(
            *const mmb_model,
            *const c_char,
            *const mmb_chat_message,
            usize,
            i32,
            *mut c_char,
            usize,
            *mut usize,
        ) -> mmb_status,
    >,
    pub chat_options_init: Option<unsafe extern "C" fn(*mut mmb_chat_options, usize) -> mmb_status>,
    pub chat_create:
        Option<unsafe extern "C" fn(*mut mmb_model, *const mmb_chat_options, *mut *mut mmb_chat) -> mmb_status>,
    pub chat_destroy: Option<unsafe extern "C" fn(*mut mmb_chat)>,
    pub chat_get_session: Option<unsafe extern "C" fn(*mut mmb_chat) -> *mut mmb_session>,
    pub chat_add: Option<unsafe extern "C" fn(*mut mmb_chat, *const c_char, *const c_char) -> mmb_status>,
    pub chat_get_message_count: Option<unsafe extern "C" fn(*const mmb_chat, *mut usize) -> mmb_status>,
    pub chat_get_message: Option<
        unsafe extern "C" fn(
            *const mmb_chat,
            usize,
            *mut c_char,
            usize,
            *mut usize,
            *mut c_char,
            usize,
            *mut usize,
        ) -> mmb_status,
    >,
    pub chat_prefill: Option<unsafe extern "C" fn(*mut mmb_chat, *mut mmb_chat_stats) -> mmb_status>,
    pub chat_generate: Option<
        unsafe extern "C" fn(
            *mut mmb_chat,
            *mut mmb_sampler,
            *const mmb_generate_options,
            mmb_token_callback,
            *mut c_void,
            *mut mmb_chat_stats,
        ) -> mmb_status,
    >,
    pub chat_reset: Option<unsafe extern "C" fn(*mut mmb_chat) -> mmb_status>,
    pub chat_state_size: Option<unsafe extern "C" fn(*const mmb_chat, *mut usize) -> mmb_status>,
    pub chat_state_save: Option<unsafe extern "C" fn(*const mmb_chat, *mut c_void, usize, *mut usize) -> mmb_status>,
    pub chat_state_load: Option<unsafe extern "C" fn(*mut mmb_chat, *const c_void, usize) -> mmb_status>,
    pub model_get_stop_tokens:
        Option<unsafe extern "C" fn(*const mmb_model, *mut i32, usize, *mut usize) -> mmb_status>,
    // Appended in 0.7: structured output.
    pub grammar_options_init: Option<unsafe extern "C" fn(*mut mmb_grammar_options, usize) -> mmb_status>,
    pub grammar_create: Option<
        unsafe extern "C" fn(
            *const mmb_model,
            i32,
            *const c_char,
            usize,
            *const mmb_grammar_options,
            *mut *mut mmb_grammar,
        ) -> mmb_status,
    >,
    pub grammar_create_choice: Option<
        unsafe extern "C" fn(
            *const mmb_model,
            *const *const c_char,
            *const usize,
            usize,
            *const mmb_grammar_options,
            *mut *mut mmb_grammar,
        ) -> mmb_status,
    >,
    pub grammar_destroy: Option<unsafe extern "C" fn(*mut mmb_grammar)>,
    pub grammar_state_create: Option<unsafe extern "C" fn(*mut mmb_grammar, *mut *mut mmb_grammar_state) -> mmb_status>,
    pub grammar_state_destroy: Option<unsafe extern "C" fn(*mut mmb_grammar_state)>,
    pub grammar_state_clone:
        Option<unsafe extern "C" fn(*const mmb_grammar_state, *mut *mut mmb_grammar_state) -> mmb_status>,
    pub grammar_state_reset: Option<unsafe extern "C" fn(*mut mmb_grammar_state) -> mmb_status>,
    pub grammar_state_accept: Option<unsafe extern "C" fn(*mut mmb_grammar_state, i32) -> mmb_status>,
    pub grammar_state_can_end: Option<unsafe extern "C" fn(*const mmb_grammar_state, *mut i32, *mut i32) -> mmb_status>,
    pub grammar_state_get_mask: Option<unsafe extern "C" fn(*mut mmb_grammar_state, *mut u32, usize) -> mmb_status>,
    pub grammar_state_apply: Option<unsafe extern "C" fn(*mut mmb_grammar_state, *mut f32, usize) -> mmb_status>,
    pub sampler_sample_grammar: Option<
        unsafe extern "C" fn(*mut mmb_sampler, *mut mmb_grammar_state, *const f32, usize, *mut i32) -> mmb_status,
    >,
    pub grammar_state_size: Option<unsafe extern "C" fn(*const mmb_grammar_state, *mut usize) -> mmb_status>,
    pub grammar_state_save:
        Option<unsafe extern "C" fn(*const mmb_grammar_state, *mut c_void, usize, *mut usize) -> mmb_status>,
    pub grammar_state_load: Option<unsafe extern "C" fn(*mut mmb_grammar_state, *const c_void, usize) -> mmb_status>,
}

extern "C" {
    pub fn mmb_status_string(status: mmb_status) -> *const c_char;
    pub fn mmb_last_error() -> *const c_char;
    pub fn mmb_version() -> u32;
    pub fn mmb_version_string() -> *const c_char;

    pub fn mmb_runtime_options_init(options: *mut mmb_runtime_options, struct_size: usize) -> mmb_status;
    pub fn mmb_runtime_create(options: *const mmb_runtime_options, out: *mut *mut mmb_runtime) -> mmb_status;
    pub fn mmb_runtime_destroy(runtime: *mut mmb_runtime);
    pub fn mmb_runtime_get_backend(runtime: *const mmb_runtime, backend: *mut i32, n_threads: *mut i32) -> mmb_status;
    pub fn mmb_runtime_get_backend_info(runtime: *const mmb_runtime, out: *mut mmb_backend_info) -> mmb_status;

    pub fn mmb_load_options_init(options: *mut mmb_load_options, struct_size: usize) -> mmb_status;
    pub fn mmb_model_load_file(
        runtime: *mut mmb_runtime,
        path: *const c_char,
        options: *const mmb_load_options,
        out: *mut *mut mmb_model,
    ) -> mmb_status;
    pub fn mmb_model_load_memory(
        runtime: *mut mmb_runtime,
        data: *const c_void,
        size: usize,
        options: *const mmb_load_options,
        out: *mut *mut mmb_model,
    ) -> mmb_status;
    pub fn mmb_model_load_io(
        runtime: *mut mmb_runtime,
        io: *const mmb_io,
        options: *const mmb_load_options,
        out: *mut *mut mmb_model,
    ) -> mmb_status;
    pub fn mmb_model_get_info(model: *const mmb_model, out: *mut mmb_model_info) -> mmb_status;
    pub fn mmb_model_get_meta(
        model: *const mmb_model,
        key: *const c_char,
        buf: *mut c_char,
        cap: usize,
        len: *mut usize,
    ) -> mmb_status;
    pub fn mmb_model_get_stop_tokens(
        model: *const mmb_model,
        tokens: *mut i32,
        cap: usize,
        n: *mut usize,
    ) -> mmb_status;
    pub fn mmb_model_destroy(model: *mut mmb_model);

    pub fn mmb_session_options_init(options: *mut mmb_session_options, struct_size: usize) -> mmb_status;
    pub fn mmb_session_create(
        model: *mut mmb_model,
        options: *const mmb_session_options,
        out: *mut *mut mmb_session,
    ) -> mmb_status;
    pub fn mmb_session_destroy(session: *mut mmb_session);
    pub fn mmb_session_reset(session: *mut mmb_session) -> mmb_status;
    pub fn mmb_session_get_position(session: *const mmb_session, position: *mut u64) -> mmb_status;
    pub fn mmb_session_get_model(session: *const mmb_session) -> *mut mmb_model;
    pub fn mmb_session_step(session: *mut mmb_session, token: i32, logits: *mut f32, logits_cap: usize) -> mmb_status;
    pub fn mmb_prefill_options_init(options: *mut mmb_prefill_options, struct_size: usize) -> mmb_status;
    pub fn mmb_session_prefill(
        session: *mut mmb_session,
        tokens: *const i32,
        n: usize,
        logits: *mut f32,
        logits_cap: usize,
    ) -> mmb_status;
    pub fn mmb_session_prefill_ex(
        session: *mut mmb_session,
        tokens: *const i32,
        n: usize,
        logits: *mut f32,
        logits_cap: usize,
        options: *const mmb_prefill_options,
    ) -> mmb_status;
    pub fn mmb_step_batch(
        sessions: *const *mut mmb_session,
        tokens: *const i32,
        n: usize,
        logits: *mut f32,
        logits_stride: usize,
    ) -> mmb_status;
    pub fn mmb_session_state_size(session: *const mmb_session, bytes: *mut usize) -> mmb_status;
    pub fn mmb_session_state_save(
        session: *const mmb_session,
        buf: *mut c_void,
        cap: usize,
        written: *mut usize,
    ) -> mmb_status;
    pub fn mmb_session_state_load(session: *mut mmb_session, buf: *const c_void, size: usize) -> mmb_status;
    pub fn mmb_session_fork(session: *const mmb_session, out: *mut *mut mmb_session) -> mmb_status;

    pub fn mmb_tokenize(
        model: *const mmb_model,
        text: *const c_char,
        len: usize,
        tokens: *mut i32,
        cap: usize,
        n: *mut usize,
        flags: u32,
    ) -> mmb_status;
    pub fn mmb_token_to_bytes(
        model: *const mmb_model,
        token: i32,
        buf: *mut c_char,
        cap: usize,
        len: *mut usize,
    ) -> mmb_status;
    pub fn mmb_detokenizer_create(model: *const mmb_model, out: *mut *mut mmb_detokenizer) -> mmb_status;
    pub fn mmb_detokenizer_destroy(detok: *mut mmb_detokenizer);
    pub fn mmb_detokenizer_push(
        detok: *mut mmb_detokenizer,
        token: i32,
        buf: *mut c_char,
        cap: usize,
        len: *mut usize,
    ) -> mmb_status;
    pub fn mmb_detokenizer_flush(
        detok: *mut mmb_detokenizer,
        buf: *mut c_char,
        cap: usize,
        len: *mut usize,
    ) -> mmb_status;

    pub fn mmb_sampler_params_init(params: *mut mmb_sampler_params, struct_size: usize) -> mmb_status;
    pub fn mmb_sampler_create(params: *const mmb_sampler_params, out: *mut *mut mmb_sampler) -> mmb_status;
    pub fn mmb_sampler_destroy(sampler: *mut mmb_sampler);
    pub fn mmb_sampler_reset(sampler: *mut mmb_sampler) -> mmb_status;
    pub fn mmb_sampler_accept(sampler: *mut mmb_sampler, token: i32) -> mmb_status;
    pub fn mmb_sampler_sample(sampler: *mut mmb_sampler, logits: *const f32, n: usize, token: *mut i32) -> mmb_status;

    pub fn mmb_generate_options_init(options: *mut mmb_generate_options, struct_size: usize) -> mmb_status;
    pub fn mmb_generate(
        session: *mut mmb_session,
        sampler: *mut mmb_sampler,
        prompt: *const c_char,
        len: usize,
        options: *const mmb_generate_options,
        cb: mmb_token_callback,
        user_data: *mut c_void,
    ) -> mmb_status;

    pub fn mmb_job_options_init(options: *mut mmb_job_options, struct_size: usize) -> mmb_status;
    pub fn mmb_job_submit_text(
        session: *mut mmb_session,
        sampler: *mut mmb_sampler,
        prompt: *const c_char,
        len: usize,
        options: *const mmb_job_options,
        out: *mut *mut mmb_job,
    ) -> mmb_status;
    pub fn mmb_job_submit_tokens(
        session: *mut mmb_session,
        sampler: *mut mmb_sampler,
        tokens: *const i32,
        n: usize,
        options: *const mmb_job_options,
        out: *mut *mut mmb_job,
    ) -> mmb_status;
    pub fn mmb_job_poll(job: *mut mmb_job, state: *mut i32, result: *mut mmb_status) -> mmb_status;
    pub fn mmb_job_read_text(job: *mut mmb_job, buf: *mut c_char, cap: usize, len: *mut usize) -> mmb_status;
    pub fn mmb_job_read_tokens(job: *mut mmb_job, tokens: *mut i32, cap: usize, n: *mut usize) -> mmb_status;
    pub fn mmb_job_wait(job: *mut mmb_job, timeout_ms: u32, state: *mut i32) -> mmb_status;
    pub fn mmb_job_cancel(job: *mut mmb_job) -> mmb_status;
    pub fn mmb_job_destroy(job: *mut mmb_job);
    pub fn mmb_runtime_frame(runtime: *mut mmb_runtime, budget_us: u64, stats: *mut mmb_frame_stats) -> mmb_status;
    pub fn mmb_runtime_get_session_memory(runtime: *const mmb_runtime, out: *mut mmb_session_memory) -> mmb_status;
    pub fn mmb_session_page_out(session: *mut mmb_session) -> mmb_status;

    pub fn mmb_chat_render(
        model: *const mmb_model,
        template_name: *const c_char,
        messages: *const mmb_chat_message,
        n_messages: usize,
        add_generation_prompt: i32,
        buf: *mut c_char,
        cap: usize,
        len: *mut usize,
    ) -> mmb_status;
    pub fn mmb_chat_options_init(options: *mut mmb_chat_options, struct_size: usize) -> mmb_status;
    pub fn mmb_chat_create(
        model: *mut mmb_model,
        options: *const mmb_chat_options,
        out: *mut *mut mmb_chat,
    ) -> mmb_status;
    pub fn mmb_chat_destroy(chat: *mut mmb_chat);
    pub fn mmb_chat_get_session(chat: *mut mmb_chat) -> *mut mmb_session;
    pub fn mmb_chat_add(chat: *mut mmb_chat, role: *const c_char, content: *const c_char) -> mmb_status;
    pub fn mmb_chat_get_message_count(chat: *const mmb_chat, count: *mut usize) -> mmb_status;
    pub fn mmb_chat_get_message(
        chat: *const mmb_chat,
        index: usize,
        role: *mut c_char,
        role_cap: usize,
        role_len: *mut usize,
        content: *mut c_char,
        content_cap: usize,
        content_len: *mut usize,
    ) -> mmb_status;
    pub fn mmb_chat_prefill(chat: *mut mmb_chat, stats: *mut mmb_chat_stats) -> mmb_status;
    pub fn mmb_chat_generate(
        chat: *mut mmb_chat,
        sampler: *mut mmb_sampler,
        options: *const mmb_generate_options,
        cb: mmb_token_callback,
        user_data: *mut c_void,
        stats: *mut mmb_chat_stats,
    ) -> mmb_status;
    pub fn mmb_chat_reset(chat: *mut mmb_chat) -> mmb_status;
    pub fn mmb_chat_state_size(chat: *const mmb_chat, bytes: *mut usize) -> mmb_status;
    pub fn mmb_chat_state_save(chat: *const mmb_chat, buf: *mut c_void, cap: usize, written: *mut usize) -> mmb_status;
    pub fn mmb_chat_state_load(chat: *mut mmb_chat, buf: *const c_void, size: usize) -> mmb_status;

    pub fn mmb_grammar_options_init(options: *mut mmb_grammar_options, struct_size: usize) -> mmb_status;
    pub fn mmb_grammar_create(
        model: *const mmb_model,
        kind: i32,
        text: *const c_char,
        len: usize,
        options: *const mmb_grammar_options,
        out: *mut *mut mmb_grammar,
    ) -> mmb_status;
    pub fn mmb_grammar_create_choice(
        model: *const mmb_model,
        items: *const *const c_char,
        lens: *const usize,
        n: usize,
        options: *const mmb_grammar_options,
        out: *mut *mut mmb_grammar,
    ) -> mmb_status;
    pub fn mmb_grammar_destroy(grammar: *mut mmb_grammar);
    pub fn mmb_grammar_state_create(grammar: *mut mmb_grammar, out: *mut *mut mmb_grammar_state) -> mmb_status;
    pub fn mmb_grammar_state_destroy(state: *mut mmb_grammar_state);
    pub fn mmb_grammar_state_clone(state: *const mmb_grammar_state, out: *mut *mut mmb_grammar_state) -> mmb_status;
    pub fn mmb_grammar_state_reset(state: *mut mmb_grammar_state) -> mmb_status;
    pub fn mmb_grammar_state_accept(state: *mut mmb_grammar_state, token: i32) -> mmb_status;
    pub fn mmb_grammar_state_can_end(
        state: *const mmb_grammar_state,
        can_end: *mut i32,
        must_end: *mut i32,
    ) -> mmb_status;
    pub fn mmb_grammar_state_get_mask(state: *mut mmb_grammar_state, words: *mut u32, n_words: usize) -> mmb_status;
    pub fn mmb_grammar_state_apply(state: *mut mmb_grammar_state, logits: *mut f32, n: usize) -> mmb_status;
    pub fn mmb_sampler_sample_grammar(
        sampler: *mut mmb_sampler,
        state: *mut mmb_grammar_state,
        logits: *const f32,
        n: usize,
        token: *mut i32,
    ) -> mmb_status;
    pub fn mmb_grammar_state_size(state: *const mmb_grammar_state, size: *mut usize) -> mmb_status;
    pub fn mmb_grammar_state_save(
        state: *const mmb_grammar_state,
        buf: *mut c_void,
        cap: usize,
        len: *mut usize,
    ) -> mmb_status;
    pub fn mmb_grammar_state_load(state: *mut mmb_grammar_state, buf: *const c_void, len: usize) -> mmb_status;

    pub fn mmb_get_api(abi_version: u32) -> *const mmb_api;
}
