"""ctypes declarations of libmoemamba (include/moemamba/moemamba.h is the contract).

The library is, in this order: MOEMAMBA_LIB (a path to libmoemamba.so) when set;
$MOEMAMBA_PREFIX/lib/libmoemamba.so.0 when MOEMAMBA_PREFIX (an installed prefix, what
`cmake --install BUILD --prefix P` made) is set; this repository's release build when
the package runs from its source folder; else what the system loader finds
(ctypes.util.find_library, then "libmoemamba.so.0" through LD_LIBRARY_PATH and the
loader's cache).
"""
import ctypes
import ctypes.util
import os
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char, c_char_p, c_float, c_int32,
                    c_size_t, c_uint32, c_uint64, c_void_p)

MMB_OK = 0
MMB_ERR_INVALID_ARGUMENT = 1
MMB_ERR_UNSUPPORTED = 4
MMB_ERR_BUFFER_TOO_SMALL = 8
MMB_ERR_INTERNAL = 10
MMB_ERR_TEMPLATE = 14
MMB_ERR_GRAMMAR = 15
MMB_GRAMMAR_GBNF = 1
MMB_GRAMMAR_JSON_SCHEMA = 2
MMB_LOAD_COPY_MEMORY = 1 << 1
MMB_TOKENIZE_ADD_BOS = 1 << 0
MMB_TOKENIZE_PARSE_SPECIAL = 1 << 1
MMB_JOBS_WORKER = 0
MMB_JOBS_FRAME = 1
MMB_JOBS_HOST = 2
MMB_BACKEND_AUTO = 0
MMB_BACKEND_CPU = 1
MMB_BACKEND_CUDA = 2
MMB_KV_F16 = 0
MMB_KV_F32 = 1

status_t = c_int32


class mmb_runtime(Structure):
    pass


class mmb_model(Structure):
    pass


class mmb_session(Structure):
    pass


class mmb_detokenizer(Structure):
    pass


class mmb_sampler(Structure):
    pass


class mmb_job(Structure):
    pass


class mmb_chat(Structure):
    pass


class mmb_grammar(Structure):
    pass


class mmb_grammar_state(Structure):
    pass


runtime_p = POINTER(mmb_runtime)
model_p = POINTER(mmb_model)
session_p = POINTER(mmb_session)
detok_p = POINTER(mmb_detokenizer)
sampler_p = POINTER(mmb_sampler)
job_p = POINTER(mmb_job)
chat_p = POINTER(mmb_chat)
grammar_p = POINTER(mmb_grammar)
grammar_state_p = POINTER(mmb_grammar_state)

log_fn = CFUNCTYPE(None, c_void_p, c_int32, c_char_p)
alloc_fn = CFUNCTYPE(c_void_p, c_void_p, c_size_t, c_size_t)
free_fn = CFUNCTYPE(None, c_void_p, c_void_p, c_size_t)
progress_fn = CFUNCTYPE(c_int32, c_void_p, c_uint64, c_uint64)
token_callback = CFUNCTYPE(c_int32, c_void_p, c_int32, POINTER(c_char), c_size_t)
task_fn = CFUNCTYPE(None, c_void_p)
run_task_fn = CFUNCTYPE(None, c_void_p, c_void_p, c_void_p)
job_event_fn = CFUNCTYPE(None, c_void_p, c_void_p, c_int32, c_int32, POINTER(c_char), c_size_t, c_int32)


class mmb_runtime_options(Structure):
    _fields_ = [("struct_size", c_uint32), ("backend", c_int32), ("n_threads", c_int32),
                ("device_index", c_int32), ("log_level", c_int32), ("log_fn", log_fn),
                ("log_user_data", c_void_p), ("alloc_fn", alloc_fn), ("free_fn", free_fn),
                ("alloc_user_data", c_void_p),
                # Appended for jobs and session paging.
                ("job_mode", c_int32), ("run_task", run_task_fn), ("run_task_user_data", c_void_p),
                ("session_memory_budget", c_uint64),
                # Appended in 0.3: the host page store (not used by this binding).
                ("page_store", c_void_p), ("page_load", c_void_p), ("page_drop", c_void_p),
                ("page_user_data", c_void_p)]


class mmb_backend_info(Structure):
    _fields_ = [("struct_size", c_uint32), ("backend", c_int32), ("n_threads", c_int32),
                ("device_index", c_int32), ("device_name", c_char * 128),
                ("device_memory_total", c_uint64), ("device_memory_used", c_uint64)]


class mmb_load_options(Structure):
    _fields_ = [("struct_size", c_uint32), ("flags", c_uint32), ("progress", progress_fn),
                ("progress_user_data", c_void_p)]


class mmb_model_info(Structure):
    _fields_ = [("struct_size", c_uint32), ("vocab_size", c_int32), ("d_model", c_int32),
                ("n_layers", c_int32), ("n_mamba_layers", c_int32), ("n_moe_layers", c_int32),
                ("n_mlp_layers", c_int32), ("n_experts", c_int32), ("top_k", c_int32),
                ("bos_id", c_int32), ("eos_id", c_int32), ("pad_id", c_int32), ("unk_id", c_int32),
                ("weight_dtype", c_int32), ("params_total", c_uint64), ("params_active", c_uint64),
                ("weight_bytes", c_uint64), ("active_weight_bytes", c_uint64),
                ("state_bytes", c_uint64), ("fingerprint", c_uint64), ("name", c_char_p),
                # Appended in 0.5: attention layers.
                ("n_attention_layers", c_int32), ("context_length", c_uint32),
                ("kv_values_per_token", c_uint64),
                # Appended in 0.6: chat templates.
                ("n_chat_templates", c_int32), ("n_stop_tokens", c_int32)]


class mmb_session_options(Structure):
    _fields_ = [("struct_size", c_uint32), ("flags", c_uint32),
                # Appended in 0.5: the context of models with attention layers.
                ("max_context", c_uint64), ("kv_type", c_int32), ("reserved", c_uint32)]


class mmb_sampler_params(Structure):
    _fields_ = [("struct_size", c_uint32), ("temperature", c_float), ("top_k", c_int32),
                ("top_p", c_float), ("min_p", c_float), ("repetition_penalty", c_float),
                ("presence_penalty", c_float), ("frequency_penalty", c_float),
                ("penalty_window", c_int32), ("seed", c_uint64)]


class mmb_generate_options(Structure):
    _fields_ = [("struct_size", c_uint32), ("max_tokens", c_int32), ("stop_at_eos", c_int32),
                ("tokenize_flags", c_uint32), ("progress", progress_fn),
                ("progress_user_data", c_void_p),
                # Appended in 0.7: structured output.
                ("grammar", grammar_state_p)]


class mmb_job_options(Structure):
    _fields_ = [("struct_size", c_uint32), ("max_tokens", c_int32), ("stop_at_eos", c_int32),
                ("tokenize_flags", c_uint32), ("stop_text", c_char_p), ("stop_text_len", c_size_t),
                ("on_event", job_event_fn), ("event_user_data", c_void_p),
                # Appended in 0.7: structured output.
                ("grammar", grammar_state_p)]


class mmb_grammar_options(Structure):
    _fields_ = [("struct_size", c_uint32), ("root", c_char_p), ("json_whitespace", c_int32),
                ("mask_cache_bytes", c_size_t)]


class mmb_frame_stats(Structure):
    _fields_ = [("struct_size", c_uint32), ("steps", c_uint32), ("tokens_generated", c_uint64),
                ("prompt_tokens", c_uint64), ("time_us", c_uint64), ("jobs_active", c_uint32),
                ("jobs_finished", c_uint32), ("events", c_uint32), ("slices", c_uint32)]


class mmb_session_memory(Structure):
    _fields_ = [("struct_size", c_uint32), ("sessions", c_uint32), ("resident_sessions", c_uint32),
                ("paged_sessions", c_uint32), ("resident_bytes", c_uint64), ("paged_bytes", c_uint64),
                ("budget_bytes", c_uint64), ("page_outs", c_uint64), ("page_ins", c_uint64)]


class mmb_chat_message(Structure):
    _fields_ = [("role", c_char_p), ("content", c_char_p)]


class mmb_chat_options(Structure):
    _fields_ = [("struct_size", c_uint32), ("template_name", c_char_p),
                ("session", POINTER(mmb_session_options))]


class mmb_chat_stats(Structure):
    _fields_ = [("struct_size", c_uint32), ("restarted", c_int32), ("prompt_tokens", c_uint64),
                ("reused_tokens", c_uint64), ("prefilled_tokens", c_uint64), ("generated_tokens", c_uint64)]


def _find_library():
    explicit = os.environ.get("MOEMAMBA_LIB")
    if explicit:
        return explicit
    prefix = os.environ.get("MOEMAMBA_PREFIX")
    if prefix:
        # The SONAME: present in every install, the development link only with headers.
        return os.path.join(prefix, "lib", "libmoemamba.so.0")
    here = os.path.dirname(os.path.abspath(__file__))
    built = os.path.join(here, "..", "..", "..", "build", "release", "src", "libmoemamba.so")
    if os.path.exists(built):
        return os.path.normpath(built)
    # find_library reads the loader's cache (a prefix such as /usr/local after ldconfig);
    # the bare SONAME then lets dlopen search LD_LIBRARY_PATH as well.
    return ctypes.util.find_library("moemamba") or "libmoemamba.so.0"


def _load():
    path = _find_library()
    try:
        return ctypes.CDLL(path)
    except OSError as e:
        raise OSError(f"libmoemamba not found ({e}): set MOEMAMBA_PREFIX to the folder you installed it "
                      "into (cmake --install BUILD --prefix P), or MOEMAMBA_LIB to the path of "
                      "libmoemamba.so, or build it (cmake --build --preset release --target moemamba)") from e


lib = _load()

# name: (result, argument types) of each function this package calls.
_SIGNATURES = {
    "mmb_status_string": (c_char_p, [status_t]),
    "mmb_last_error": (c_char_p, []),
    "mmb_version": (c_uint32, []),
    "mmb_version_string": (c_char_p, []),
    "mmb_runtime_options_init": (status_t, [POINTER(mmb_runtime_options), c_size_t]),
    "mmb_runtime_create": (status_t, [POINTER(mmb_runtime_options), POINTER(runtime_p)]),
    "mmb_runtime_destroy": (None, [runtime_p]),
    "mmb_runtime_get_backend": (status_t, [runtime_p, POINTER(c_int32), POINTER(c_int32)]),
    "mmb_runtime_get_backend_info": (status_t, [runtime_p, POINTER(mmb_backend_info)]),
    "mmb_load_options_init": (status_t, [POINTER(mmb_load_options), c_size_t]),
    "mmb_model_load_file": (status_t, [runtime_p, c_char_p, POINTER(mmb_load_options), POINTER(model_p)]),
    "mmb_model_load_memory": (status_t, [runtime_p, c_void_p, c_size_t, POINTER(mmb_load_options),
                                         POINTER(model_p)]),
    "mmb_model_get_info": (status_t, [model_p, POINTER(mmb_model_info)]),
    "mmb_model_get_meta": (status_t, [model_p, c_char_p, c_void_p, c_size_t, POINTER(c_size_t)]),
    "mmb_model_destroy": (None, [model_p]),
    "mmb_session_options_init": (status_t, [POINTER(mmb_session_options), c_size_t]),
    "mmb_session_create": (status_t, [model_p, POINTER(mmb_session_options), POINTER(session_p)]),
    "mmb_session_destroy": (None, [session_p]),
    "mmb_session_reset": (status_t, [session_p]),
    "mmb_session_get_position": (status_t, [session_p, POINTER(c_uint64)]),
    "mmb_session_step": (status_t, [session_p, c_int32, c_void_p, c_size_t]),
    "mmb_session_prefill": (status_t, [session_p, POINTER(c_int32), c_size_t, c_void_p, c_size_t]),
    "mmb_step_batch": (status_t, [POINTER(session_p), POINTER(c_int32), c_size_t, c_void_p, c_size_t]),
    "mmb_session_state_size": (status_t, [session_p, POINTER(c_size_t)]),
    "mmb_session_state_save": (status_t, [session_p, c_void_p, c_size_t, POINTER(c_size_t)]),
    "mmb_session_state_load": (status_t, [session_p, c_void_p, c_size_t]),
    "mmb_session_fork": (status_t, [session_p, POINTER(session_p)]),
    "mmb_tokenize": (status_t, [model_p, c_char_p, c_size_t, POINTER(c_int32), c_size_t,
                                POINTER(c_size_t), c_uint32]),
    "mmb_token_to_bytes": (status_t, [model_p, c_int32, c_void_p, c_size_t, POINTER(c_size_t)]),
    "mmb_detokenizer_create": (status_t, [model_p, POINTER(detok_p)]),
    "mmb_detokenizer_destroy": (None, [detok_p]),
    "mmb_detokenizer_push": (status_t, [detok_p, c_int32, c_void_p, c_size_t, POINTER(c_size_t)]),
    "mmb_detokenizer_flush": (status_t, [detok_p, c_void_p, c_size_t, POINTER(c_size_t)]),
    "mmb_sampler_params_init": (status_t, [POINTER(mmb_sampler_params), c_size_t]),
    "mmb_sampler_create": (status_t, [POINTER(mmb_sampler_params), POINTER(sampler_p)]),
    "mmb_sampler_destroy": (None, [sampler_p]),
    "mmb_sampler_reset": (status_t, [sampler_p]),
    "mmb_sampler_accept": (status_t, [sampler_p, c_int32]),
    "mmb_sampler_sample": (status_t, [sampler_p, c_void_p, c_size_t, POINTER(c_int32)]),
    "mmb_generate_options_init": (status_t, [POINTER(mmb_generate_options), c_size_t]),
    "mmb_generate": (status_t, [session_p, sampler_p, c_char_p, c_size_t, POINTER(mmb_generate_options),
                                token_callback, c_void_p]),
    # Jobs, frames and session paging. mmb_job_options is filled field by field (the
    # binding sets every one), so mmb_job_options_init is not needed.
    "mmb_job_submit_text": (status_t, [session_p, sampler_p, c_char_p, c_size_t, POINTER(mmb_job_options),
                                       POINTER(job_p)]),
    "mmb_job_submit_tokens": (status_t, [session_p, sampler_p, POINTER(c_int32), c_size_t,
                                         POINTER(mmb_job_options), POINTER(job_p)]),
    "mmb_job_poll": (status_t, [job_p, POINTER(c_int32), POINTER(status_t)]),
    "mmb_job_read_text": (status_t, [job_p, c_void_p, c_size_t, POINTER(c_size_t)]),
    "mmb_job_read_tokens": (status_t, [job_p, POINTER(c_int32), c_size_t, POINTER(c_size_t)]),
    "mmb_job_wait": (status_t, [job_p, c_uint32, POINTER(c_int32)]),
    "mmb_job_cancel": (status_t, [job_p]),
    "mmb_job_destroy": (None, [job_p]),
    "mmb_runtime_frame": (status_t, [runtime_p, c_uint64, POINTER(mmb_frame_stats)]),
    "mmb_runtime_get_session_memory": (status_t, [runtime_p, POINTER(mmb_session_memory)]),
    "mmb_session_page_out": (status_t, [session_p]),
    # Chat templates and conversations (0.6).
    "mmb_model_get_stop_tokens": (status_t, [model_p, POINTER(c_int32), c_size_t, POINTER(c_size_t)]),
    "mmb_chat_render": (status_t, [model_p, c_char_p, POINTER(mmb_chat_message), c_size_t, c_int32, c_void_p,
                                   c_size_t, POINTER(c_size_t)]),
    "mmb_chat_options_init": (status_t, [POINTER(mmb_chat_options), c_size_t]),
    "mmb_chat_create": (status_t, [model_p, POINTER(mmb_chat_options), POINTER(chat_p)]),
    "mmb_chat_destroy": (None, [chat_p]),
    "mmb_chat_get_session": (session_p, [chat_p]),
    "mmb_chat_add": (status_t, [chat_p, c_char_p, c_char_p]),
    "mmb_chat_get_message_count": (status_t, [chat_p, POINTER(c_size_t)]),
    "mmb_chat_get_message": (status_t, [chat_p, c_size_t, c_void_p, c_size_t, POINTER(c_size_t), c_void_p, c_size_t,
                                        POINTER(c_size_t)]),
    "mmb_chat_prefill": (status_t, [chat_p, POINTER(mmb_chat_stats)]),
    "mmb_chat_generate": (status_t, [chat_p, sampler_p, POINTER(mmb_generate_options), token_callback, c_void_p,
                                     POINTER(mmb_chat_stats)]),
    "mmb_chat_reset": (status_t, [chat_p]),
    "mmb_chat_state_size": (status_t, [chat_p, POINTER(c_size_t)]),
    "mmb_chat_state_save": (status_t, [chat_p, c_void_p, c_size_t, POINTER(c_size_t)]),
    "mmb_chat_state_load": (status_t, [chat_p, c_void_p, c_size_t]),
    # Structured output (0.7).
    "mmb_grammar_options_init": (status_t, [POINTER(mmb_grammar_options), c_size_t]),
    "mmb_grammar_create": (status_t, [model_p, c_int32, c_char_p, c_size_t, POINTER(mmb_grammar_options),
                                      POINTER(grammar_p)]),
    "mmb_grammar_create_choice": (status_t, [model_p, POINTER(c_char_p), POINTER(c_size_t), c_size_t,
                                             POINTER(mmb_grammar_options), POINTER(grammar_p)]),
    "mmb_grammar_destroy": (None, [grammar_p]),
    "mmb_grammar_state_create": (status_t, [grammar_p, POINTER(grammar_state_p)]),
    "mmb_grammar_state_destroy": (None, [grammar_state_p]),
    "mmb_grammar_state_clone": (status_t, [grammar_state_p, POINTER(grammar_state_p)]),
    "mmb_grammar_state_reset": (status_t, [grammar_state_p]),
    "mmb_grammar_state_accept": (status_t, [grammar_state_p, c_int32]),
    "mmb_grammar_state_can_end": (status_t, [grammar_state_p, POINTER(c_int32), POINTER(c_int32)]),
    "mmb_grammar_state_get_mask": (status_t, [grammar_state_p, POINTER(c_uint32), c_size_t]),
    "mmb_grammar_state_apply": (status_t, [grammar_state_p, c_void_p, c_size_t]),
    "mmb_sampler_sample_grammar": (status_t, [sampler_p, grammar_state_p, c_void_p, c_size_t, POINTER(c_int32)]),
    "mmb_grammar_state_size": (status_t, [grammar_state_p, POINTER(c_size_t)]),
    "mmb_grammar_state_save": (status_t, [grammar_state_p, c_void_p, c_size_t, POINTER(c_size_t)]),
    "mmb_grammar_state_load": (status_t, [grammar_state_p, c_void_p, c_size_t]),
}

for _name, (_result, _args) in _SIGNATURES.items():
    _function = getattr(lib, _name)
    _function.restype = _result
    _function.argtypes = _args

del _name, _result, _args, _function
