//! Keeps the hand-written declarations in sync with include/moemamba/moemamba.h:
//! compiles tests/layout.c (which prints every struct's size and field offsets and
//! every constant, as the C compiler sees them) and compares with the Rust side. Also
//! checks that every function the header exports is declared in src/lib.rs.
use moemamba_sys::*;
use std::collections::BTreeMap;
use std::mem::{offset_of, size_of};
use std::path::PathBuf;
use std::process::Command;

macro_rules! layout {
    ($table:ident; $t:ident: $($f:ident)*) => {
        $table.insert(format!("size {}", stringify!($t)), size_of::<$t>() as i64);
        $( $table.insert(format!("offset {}.{}", stringify!($t), stringify!($f)), offset_of!($t, $f) as i64); )*
    };
}
macro_rules! constants {
    ($table:ident; $($c:ident)*) => {
        $( $table.insert(format!("const {}", stringify!($c)), $c as i64); )*
    };
}

fn rust_table() -> BTreeMap<String, i64> {
    let mut t = BTreeMap::new();
    layout!(t; mmb_runtime_options: struct_size backend n_threads device_index log_level log_fn log_user_data alloc_fn free_fn alloc_user_data job_mode run_task run_task_user_data session_memory_budget page_store page_load page_drop page_user_data);
    layout!(t; mmb_backend_info: struct_size backend n_threads device_index device_name device_memory_total device_memory_used);
    layout!(t; mmb_load_options: struct_size flags progress progress_user_data);
    layout!(t; mmb_io: struct_size user_data size seek read);
    layout!(t; mmb_model_info: struct_size vocab_size d_model n_layers n_mamba_layers n_moe_layers n_mlp_layers n_experts top_k bos_id eos_id pad_id unk_id weight_dtype params_total params_active weight_bytes active_weight_bytes state_bytes fingerprint name n_attention_layers context_length kv_values_per_token n_chat_templates n_stop_tokens);
    layout!(t; mmb_session_options: struct_size flags max_context kv_type reserved);
    layout!(t; mmb_prefill_options: struct_size progress progress_user_data);
    layout!(t; mmb_sampler_params: struct_size temperature top_k top_p min_p repetition_penalty presence_penalty frequency_penalty penalty_window seed);
    layout!(t; mmb_generate_options: struct_size max_tokens stop_at_eos tokenize_flags progress progress_user_data grammar);
    layout!(t; mmb_job_options: struct_size max_tokens stop_at_eos tokenize_flags stop_text stop_text_len on_event event_user_data grammar);
    layout!(t; mmb_frame_stats: struct_size steps tokens_generated prompt_tokens time_us jobs_active jobs_finished events slices);
    layout!(t; mmb_session_memory: struct_size sessions resident_sessions paged_sessions resident_bytes paged_bytes budget_bytes page_outs page_ins);
    layout!(t; mmb_chat_message: role content);
    layout!(t; mmb_chat_options: struct_size template_name session);
    layout!(t; mmb_chat_stats: struct_size restarted prompt_tokens reused_tokens prefilled_tokens generated_tokens);
    layout!(t; mmb_grammar_options: struct_size root json_whitespace mask_cache_bytes);
    layout!(t; mmb_api: struct_size abi_version status_string last_error version version_string runtime_options_init runtime_create runtime_destroy runtime_get_backend load_options_init model_load_file model_load_memory model_load_io model_get_info model_get_meta model_destroy session_options_init session_create session_destroy session_reset session_get_position session_get_model session_step prefill_options_init session_prefill session_prefill_ex step_batch session_state_size session_state_save session_state_load session_fork tokenize token_to_bytes detokenizer_create detokenizer_destroy detokenizer_push detokenizer_flush sampler_params_init sampler_create sampler_destroy sampler_reset sampler_accept sampler_sample generate_options_init generate
        job_options_init job_submit_text job_submit_tokens job_poll job_read_text job_read_tokens job_wait job_cancel job_destroy runtime_frame runtime_get_session_memory session_page_out runtime_get_backend_info
        chat_render chat_options_init chat_create chat_destroy chat_get_session chat_add chat_get_message_count chat_get_message chat_prefill chat_generate chat_reset chat_state_size chat_state_save chat_state_load model_get_stop_tokens
        grammar_options_init grammar_create grammar_create_choice grammar_destroy grammar_state_create grammar_state_destroy grammar_state_clone grammar_state_reset grammar_state_accept grammar_state_can_end grammar_state_get_mask grammar_state_apply sampler_sample_grammar grammar_state_size grammar_state_save grammar_state_load);
    constants!(t; MMB_VERSION_NUMBER MMB_ABI_VERSION MMB_OK MMB_ERR_INVALID_ARGUMENT MMB_ERR_IO MMB_ERR_FORMAT MMB_ERR_UNSUPPORTED MMB_ERR_OUT_OF_MEMORY MMB_ERR_BACKEND MMB_ERR_CANCELLED MMB_ERR_BUFFER_TOO_SMALL MMB_ERR_STATE_MISMATCH MMB_ERR_INTERNAL MMB_ERR_BUSY MMB_ERR_BUDGET MMB_ERR_CONTEXT_FULL MMB_ERR_TEMPLATE MMB_ERR_GRAMMAR MMB_LOG_ERROR MMB_LOG_WARN MMB_LOG_INFO MMB_LOG_DEBUG MMB_BACKEND_AUTO MMB_BACKEND_CPU MMB_BACKEND_CUDA MMB_KV_F16 MMB_KV_F32 MMB_LOAD_SKIP_CHECKSUMS MMB_LOAD_COPY_MEMORY MMB_TOKENIZE_ADD_BOS MMB_TOKENIZE_PARSE_SPECIAL
        MMB_JOBS_WORKER MMB_JOBS_FRAME MMB_JOBS_HOST MMB_JOB_QUEUED MMB_JOB_PREFILL MMB_JOB_GENERATING MMB_JOB_FINISHED MMB_JOB_EVENT_TOKEN MMB_JOB_EVENT_FINISHED MMB_JOB_EVENT_ERROR MMB_GRAMMAR_GBNF MMB_GRAMMAR_JSON_SCHEMA);
    t
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../..")
}

fn include_dir() -> PathBuf {
    std::env::var_os("MOEMAMBA_INCLUDE_DIR").map(PathBuf::from).unwrap_or_else(|| repo_root().join("include"))
}

fn c_table() -> BTreeMap<String, i64> {
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let exe = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("moemamba_layout");
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/layout.c");
    let status = Command::new(&compiler)
        .arg("-std=c11")
        .arg("-I")
        .arg(include_dir())
        .arg(&source)
        .arg("-o")
        .arg(&exe)
        .status()
        .unwrap_or_else(|e| panic!("cannot run the C compiler `{compiler}` (set CC): {e}"));
    assert!(status.success(), "{compiler} failed on {}", source.display());
    let out = Command::new(&exe).output().expect("running the layout program");
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let (key, value) = line.rsplit_once(' ').unwrap();
            (key.to_string(), value.parse().unwrap())
        })
        .collect()
}

#[test]
fn structs_and_constants_match_the_header() {
    let c = c_table();
    let rust = rust_table();
    let mut problems = Vec::new();
    for (key, value) in &c {
        match rust.get(key) {
            Some(v) if v == value => {}
            Some(v) => problems.push(format!("{key}: C says {value}, Rust says {v}")),
            None => problems.push(format!("{key}: not checked on the Rust side")),
        }
    }
    for key in rust.keys().filter(|k| !c.contains_key(*k)) {
        problems.push(format!("{key}: not printed by layout.c"));
    }
    assert!(c.len() > 100, "layout.c printed only {} lines", c.len());
    assert!(problems.is_empty(), "declarations out of sync with moemamba.h:\n{}", problems.join("\n"));
}

#[test]
fn every_exported_function_is_declared() {
    let header = std::fs::read_to_string(include_dir().join("moemamba/moemamba.h")).expect("reading moemamba.h");
    let declared = include_str!("../src/lib.rs");
    let mut missing = Vec::new();
    let mut count = 0;
    for line in header.lines().filter(|l| l.starts_with("MMB_API ")) {
        let name = line.split('(').next().unwrap().rsplit([' ', '*']).next().unwrap();
        count += 1;
        if !declared.contains(&format!("pub fn {name}(")) {
            missing.push(name.to_string());
        }
    }
    assert!(count >= 45, "found only {count} functions in the header");
    assert!(missing.is_empty(), "functions of moemamba.h missing from moemamba-sys: {missing:?}");
}

#[test]
fn the_loaded_library_matches_this_header_version() {
    assert_eq!(unsafe { mmb_version() }, MMB_VERSION_NUMBER);
    let api = unsafe { mmb_get_api(MMB_ABI_VERSION) };
    assert!(!api.is_null());
    let api = unsafe { &*api };
    assert_eq!(api.abi_version, MMB_ABI_VERSION);
    assert!(api.struct_size as usize >= size_of::<mmb_api>());
    assert!(api.generate.is_some());
    assert!(api.chat_generate.is_some() && api.model_get_stop_tokens.is_some());
    assert!(api.grammar_create.is_some() && api.grammar_state_load.is_some());
}
