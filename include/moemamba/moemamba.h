/*
 * moemamba.h: the C interface of libmoemamba.
 *
 * moemamba runs MoE-Mamba language models token by token inside a host program.
 * A model ships as one bundle file (.mmb); a host loads it once, opens as many
 * streaming sessions on it as it likes, and steps each session one token at a time.
 * A Mamba session's state has a fixed size, whatever the length of the text so far.
 *
 * This header is the manual. Read it top to bottom:
 *   1. Conventions: status codes, errors, ownership, threads, versions.
 *   2. Runtime: the host's policy (allocator, log, threads, backend).
 *   3. Model: loading a bundle, asking what is inside.
 *   4. Session: stepping, prefill, batches, save/load/fork of state.
 *   5. Text: tokenizer and streaming detokenizer.
 *   6. Sampler and generation.
 *   7. Jobs and frames: non-blocking generation for game loops, session paging.
 *   8. Chat: conversations in the model's own prompt format (its chat template).
 *   9. The function table for hosts that dlopen the library.
 *
 * Conventions that hold for every function below:
 *   - Every fallible function returns an mmb_status. MMB_OK (0) is success; any other
 *     value is an error, and mmb_last_error() then describes it on the calling thread.
 *   - Outputs (pointers passed to receive a result) are written only on success.
 *   - No exception, abort, exit or signal leaves the library. Out of memory is
 *     MMB_ERR_OUT_OF_MEMORY, not a crash.
 *   - Extensible structs begin with `uint32_t struct_size`. Fill an options struct with
 *     its init function, passing sizeof the struct as your header declares it:
 *     `mmb_runtime_options_init(&o, sizeof o)`. The init writes the defaults into at
 *     most that many bytes, sets struct_size to it and returns MMB_OK; then change the
 *     fields you need. Structs only grow by appending fields, so a host compiled
 *     against an older header passes its smaller size, the library never writes past
 *     it, and fields the host lacks keep their defaults. A NULL options pointer means
 *     "all defaults". A struct_size that is not the size of a version of that struct
 *     this library knows (smaller than the first, larger than the current) is
 *     MMB_ERR_INVALID_ARGUMENT, from the init function (which then writes nothing) as
 *     from every call that reads the struct.
 *   - *_destroy(NULL) does nothing.
 *   - Calls that compute (stepping, prefill, generation, mmb_runtime_frame(), a host
 *     task of MMB_JOBS_HOST) use up to 64 KiB of the calling thread's stack: give
 *     fibers and job-system threads that run them at least that much.
 *   - Strings are UTF-8 with explicit lengths unless noted. Buffers follow
 *     size-then-copy: `cap` is the capacity given, `*len` receives the size needed;
 *     when cap is too small the call returns MMB_ERR_BUFFER_TOO_SMALL, writes nothing
 *     but `*len`, and may be repeated with a larger buffer.
 *   - Objects: mmb_runtime -> mmb_model -> mmb_session. A model is immutable once
 *     loaded and may be used from any number of threads at once. A session is one
 *     stream of state: one call at a time per session; different sessions may be
 *     stepped concurrently from different threads. A parent may be destroyed before
 *     its children: each child keeps what it needs alive until it is destroyed.
 *   - The library holds no global mutable state besides the thread-local last error:
 *     two runtimes in one process do not interfere.
 */
#ifndef MOEMAMBA_H
#define MOEMAMBA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @defgroup conventions 1. Conventions, status codes and versions
 *  @{ */

/** Marks the exported functions (the only symbols the library exports). On Windows a
 *  host linking the static library instead of moemamba.dll defines MMB_STATIC. */
#if defined(_WIN32) && defined(MMB_BUILDING_LIBRARY)
#define MMB_API __declspec(dllexport)
#elif defined(_WIN32) && defined(MMB_STATIC)
#define MMB_API
#elif defined(_WIN32)
#define MMB_API __declspec(dllimport)
#elif defined(__GNUC__)
#define MMB_API __attribute__((visibility("default")))
#else
#define MMB_API
#endif

#define MMB_VERSION_MAJOR 0 /**< Incompatible ABI changes (none once 1.0 is declared). */
#define MMB_VERSION_MINOR 8 /**< Additions (before 1.0, also incompatible changes: docs/abi.md). */
#define MMB_VERSION_PATCH 0 /**< Fixes. */
/** The version as one number: major * 10000 + minor * 100 + patch. */
#define MMB_VERSION_NUMBER (MMB_VERSION_MAJOR * 10000 + MMB_VERSION_MINOR * 100 + MMB_VERSION_PATCH)
/** The version of the function table returned by mmb_get_api(). */
#define MMB_ABI_VERSION 2

/** Result of every fallible call. Values are append-only and never reused. */
typedef int32_t mmb_status;
enum {
  MMB_OK = 0,                    /**< Success. */
  MMB_ERR_INVALID_ARGUMENT = 1,  /**< A NULL pointer, a value out of range, a bad struct_size. */
  MMB_ERR_IO = 2,                /**< The file or host I/O failed (open, read, seek, map). */
  MMB_ERR_FORMAT = 3,            /**< A bundle or a state blob is malformed or corrupt. */
  MMB_ERR_UNSUPPORTED = 4,       /**< Well formed, but uses a feature this build lacks (e.g. a newer format). */
  MMB_ERR_OUT_OF_MEMORY = 5,     /**< An allocation failed; nothing was changed. */
  MMB_ERR_BACKEND = 6,           /**< The compute backend failed or is not available. */
  MMB_ERR_CANCELLED = 7,         /**< A callback asked to stop; the call ended cleanly. */
  MMB_ERR_BUFFER_TOO_SMALL = 8,  /**< The output buffer is too small; the size needed was written. */
  MMB_ERR_STATE_MISMATCH = 9,    /**< Objects that must belong together do not (another model's state, sessions of two models). */
  MMB_ERR_INTERNAL = 10,         /**< A bug in the library; the message says where. */
  MMB_ERR_BUSY = 11,             /**< The session is running a job (mmb_job_submit_text()); wait, cancel or destroy the job first. */
  MMB_ERR_BUDGET = 12,           /**< The runtime's session memory budget cannot hold this now (see mmb_runtime_options.session_memory_budget). */
  MMB_ERR_CONTEXT_FULL = 13      /**< The session's context (mmb_session_options.max_context) cannot take these tokens: nothing was consumed. Reset the session, or use one with a larger context. Only models with attention layers have a context limit. */,
  MMB_ERR_TEMPLATE = 14         /**< The model's chat template refused the conversation (its raise_exception(), e.g. roles that do not alternate) or ran past its limits; the message is the template's. */,
  MMB_ERR_GRAMMAR = 15          /**< A grammar, JSON Schema or choice list is malformed or unusable (the message gives the line and column, or the schema path), or a grammar does not allow a token (mmb_grammar_state_accept()), or no token of the vocabulary can continue it. */
};

/** A short constant name for a status ("MMB_ERR_FORMAT"), or "MMB_ERR_UNKNOWN" for a
 *  value this version does not know. Never NULL; the string is static. */
MMB_API const char* mmb_status_string(mmb_status status);

/** The detail of the last error on the calling thread, as UTF-8: which argument, which
 *  tensor, which byte offset, expected versus found. Empty ("") when the last call on
 *  this thread succeeded or no call failed yet. Never NULL. The string stays valid
 *  until the next call into the library on the same thread. */
MMB_API const char* mmb_last_error(void);

/** The library's version as MMB_VERSION_NUMBER. Compare it with the macro to check that
 *  the header a host compiled against matches the library it loaded. */
MMB_API uint32_t mmb_version(void);

/** The library's version as "major.minor.patch". Static string, never NULL. */
MMB_API const char* mmb_version_string(void);

/** @} */

/** @defgroup runtime 2. Runtime: the host's policy
 *  @{ */

/** Opaque: configuration, backend and worker threads. */
typedef struct mmb_runtime mmb_runtime;

enum {
  MMB_LOG_ERROR = 0,
  MMB_LOG_WARN = 1,
  MMB_LOG_INFO = 2,
  MMB_LOG_DEBUG = 3
};

enum {
  MMB_BACKEND_AUTO = 0, /**< The best available: CUDA when a device and the plugin exist, else CPU. */
  MMB_BACKEND_CPU = 1,
  MMB_BACKEND_CUDA = 2
};

/** Host allocation hook. Returns memory of at least `size` bytes aligned to `alignment`
 *  (a power of two, at most 4096), or NULL on failure. May be called from any thread
 *  that is inside a library call, including the runtime's worker threads. */
typedef void* (*mmb_alloc_fn)(void* user_data, size_t size, size_t alignment);
/** Host free hook. `ptr` came from the matching alloc hook with this `size`. */
typedef void (*mmb_free_fn)(void* user_data, void* ptr, size_t size);
/** A unit of library work handed to the host's job system (see mmb_runtime_options.run_task). */
typedef void (*mmb_task_fn)(void* task_data);
/** Host job-system hook: run `task(task_data)` exactly once, on any thread, soon. It may
 *  be called inline (then the submitting call returns after the work is done). */
typedef void (*mmb_run_task_fn)(void* user_data, mmb_task_fn task, void* task_data);

/** Who advances jobs (mmb_runtime_options.job_mode). */
enum {
  MMB_JOBS_WORKER = 0, /**< One background thread of the runtime advances jobs (default). */
  MMB_JOBS_FRAME = 1,  /**< Only the host's calls advance jobs: mmb_runtime_frame() and mmb_job_wait(). */
  MMB_JOBS_HOST = 2    /**< The host's job system, through run_task, advances them: each task runs one
                            unit and then asks for the next task, so it holds a host thread about one unit.
                            Once the host calls mmb_runtime_frame() with a budget, frames pace the tasks:
                            the tasks between two frame calls share that call's budget, slice by slice,
                            on whichever host threads run them. */
};

/** Host page store, part 1 (see mmb_runtime_options.page_store): keep a copy of the
 *  `size` bytes at `data` (a paged-out session's compressed state) under `key`. The
 *  bytes are only valid during the call. Return 0 when stored; any other value refuses,
 *  and the library keeps the page in its own memory instead. */
typedef int32_t (*mmb_page_store_fn)(void* user_data, uint64_t key, const void* data, size_t size);
/** Host page store, part 2: copy the `size` bytes stored under `key` into `data`.
 *  Return 0 on success; any other value makes the call that needed the session fail
 *  with MMB_ERR_IO, and the session stays paged out (a later use tries again). */
typedef int32_t (*mmb_page_load_fn)(void* user_data, uint64_t key, void* data, size_t size);
/** Host page store, part 3: the page under `key` will never be loaded again (its session
 *  was paged back in or destroyed); the host may free it. */
typedef void (*mmb_page_drop_fn)(void* user_data, uint64_t key);

/** Host log sink. `message` is UTF-8, without a trailing newline, valid only during the
 *  call. Called from the thread that made the library call being logged. */
typedef void (*mmb_log_fn)(void* user_data, int32_t level, const char* message);

/** Options of mmb_runtime_create(). */
typedef struct mmb_runtime_options {
  uint32_t struct_size;  /**< sizeof(mmb_runtime_options) in the host's header; set by mmb_runtime_options_init(). */
  int32_t backend;       /**< MMB_BACKEND_*; default MMB_BACKEND_AUTO. */
  int32_t n_threads;     /**< Threads used for compute, the caller's included; 0 = one per core (default). */
  int32_t device_index;  /**< GPU index for the CUDA backend; default 0. */
  int32_t log_level;     /**< Most verbose level passed to log_fn; default MMB_LOG_WARN. */
  mmb_log_fn log_fn;     /**< NULL: no logging (default). */
  void* log_user_data;   /**< Passed to log_fn. */
  mmb_alloc_fn alloc_fn; /**< Both hooks or neither; NULL: the C library's allocator. */
  mmb_free_fn free_fn;   /**< Frees what alloc_fn returned. */
  void* alloc_user_data; /**< Passed to alloc_fn and free_fn. */
  /* Appended after the first version (absent from a struct_size of 64). */
  int32_t job_mode;      /**< MMB_JOBS_*: who advances jobs; default MMB_JOBS_WORKER. */
  mmb_run_task_fn run_task; /**< Required with MMB_JOBS_HOST, else ignored. Called from the thread that submits a job or ends a task. */
  void* run_task_user_data; /**< Passed to run_task. */
  /** Most bytes of session memory (recurrent state plus stepping scratch, and the KV
   *  cache of models with attention layers, see mmb_runtime_get_session_memory())
   *  resident at once over all sessions of this runtime; 0 = no limit (default). Above
   *  it, idle sessions are paged out, least recently used first: their state (and the
   *  used part of their KV cache) is compressed into host memory and restored exactly
   *  on the next use. A request that cannot fit returns MMB_ERR_BUDGET. A session's KV
   *  cache grows while it is in use and is counted when the use ends: the budget may be
   *  passed by the pages that use took until the next request makes room. */
  uint64_t session_memory_budget;
  /* Appended in 0.3 (absent from a struct_size of 96). */
  /** Where paged-out states go: NULL (default) keeps them compressed in the library's
   *  memory; with page_store, page_load and page_drop (all three or none) the host
   *  stores them (a disk cache, a memory pool of its own) and the library keeps only a
   *  key per paged-out session. The three are called with the runtime's paging lock held,
   *  from any thread inside a call on this runtime (its job worker included): they must
   *  be thread-safe and must not call into the library. Keys are unique per runtime. */
  mmb_page_store_fn page_store;
  mmb_page_load_fn page_load;   /**< Reads a page back; see mmb_page_load_fn. */
  mmb_page_drop_fn page_drop;   /**< Releases a page; see mmb_page_drop_fn. */
  void* page_user_data;         /**< Passed to the three page functions. */
} mmb_runtime_options;

/** Fills `options` with the defaults (listed with each field) in at most `struct_size`
 *  bytes and sets its struct_size to `struct_size`; bytes past it are not touched.
 *  @param options the struct to fill.
 *  @param struct_size sizeof(mmb_runtime_options) as the caller's header declares it.
 *  This library knows two sizes: the first version, which ends after alloc_user_data
 *  (64 bytes on LP64 targets), and the whole struct.
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT (options NULL, or struct_size not a size
 *  of mmb_runtime_options this library knows: nothing is written).
 *  Thread rules: any thread; only `options` is written, and no pointer to it is kept. */
MMB_API mmb_status mmb_runtime_options_init(mmb_runtime_options* options, size_t struct_size);

/** Creates a runtime.
 *  @param options NULL for defaults.
 *  @param out receives the runtime; the caller owns it and frees it with mmb_runtime_destroy().
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT (out NULL, bad struct_size, negative
 *  n_threads, unknown backend, only one allocator hook, some but not all of the page
 *  store functions, negative device_index); MMB_ERR_BACKEND (backend CUDA requested
 *  and unavailable: no NVIDIA driver, no plugin, a plugin from another build, no such
 *  device; the message says which);
 *  MMB_ERR_OUT_OF_MEMORY.
 *  Thread rules: a runtime may be used by any number of threads at once. */
MMB_API mmb_status mmb_runtime_create(const mmb_runtime_options* options, mmb_runtime** out);

/** Releases the caller's reference. Models and sessions made from it keep it alive
 *  until they are destroyed; its threads stop when the last of them goes. NULL: no-op. */
MMB_API void mmb_runtime_destroy(mmb_runtime* runtime);

/** The backend the runtime chose (MMB_BACKEND_CPU or MMB_BACKEND_CUDA) and its thread
 *  count.
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT when runtime is NULL or both outputs are NULL. */
MMB_API mmb_status mmb_runtime_get_backend(const mmb_runtime* runtime, int32_t* backend, int32_t* n_threads);

/** What a runtime computes on. Fill struct_size (sizeof(mmb_backend_info)) before the
 *  call; the library writes the fields that fit in it. */
typedef struct mmb_backend_info {
  uint32_t struct_size;          /**< sizeof(mmb_backend_info), set by the caller. */
  int32_t backend;               /**< MMB_BACKEND_CPU or MMB_BACKEND_CUDA: what the runtime chose. */
  int32_t n_threads;             /**< Compute threads (the CPU backend's pool; CUDA's host-side work). */
  int32_t device_index;          /**< The GPU's index for CUDA; -1 on the CPU. */
  char device_name[128];         /**< The GPU's name, or "CPU"; NUL-terminated. */
  uint64_t device_memory_total;  /**< Bytes of device memory (0 on the CPU). */
  uint64_t device_memory_used;   /**< Bytes of device memory this runtime's models and sessions hold now (0 on the CPU). */
} mmb_backend_info;

/** Describes the runtime's backend: which one was chosen (MMB_BACKEND_AUTO resolves to
 *  CPU or CUDA at mmb_runtime_create(); the reason is logged at MMB_LOG_INFO), the
 *  device and its memory use. The CUDA backend is a plugin, libmoemamba_cuda.so, looked
 *  for in MMB_CUDA_PLUGIN (a path), then beside this library, then on the loader's path.
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT (NULL, struct_size smaller than
 *  sizeof(mmb_backend_info) in 0.4, or larger than this library's).
 *  Thread rules: any thread; memory use is a snapshot. */
MMB_API mmb_status mmb_runtime_get_backend_info(const mmb_runtime* runtime, mmb_backend_info* out);

/** @} */

/** @defgroup model 3. Model: loading a bundle
 *  @{ */

/** Opaque: an immutable loaded model. Safe to share across threads. */
typedef struct mmb_model mmb_model;

/** Progress of a long call. `done` of `total` units (bytes for loading, tokens for
 *  prefill and generation). Return 1 to go on, 0 to cancel: the call then returns
 *  MMB_ERR_CANCELLED. Called on the thread that made the call. */
typedef int32_t (*mmb_progress_fn)(void* user_data, uint64_t done, uint64_t total);

enum {
  /** Skip the xxh64 checksum of each tensor (structure is still fully verified). */
  MMB_LOAD_SKIP_CHECKSUMS = 1u << 0,
  /** mmb_model_load_memory: copy the bytes instead of borrowing them. */
  MMB_LOAD_COPY_MEMORY = 1u << 1
};

/** Options of the mmb_model_load_*() functions. */
typedef struct mmb_load_options {
  uint32_t struct_size;      /**< sizeof(mmb_load_options) in the host's header; set by mmb_load_options_init(). */
  uint32_t flags;            /**< MMB_LOAD_* bits; default 0 (verify checksums, borrow memory). */
  mmb_progress_fn progress;  /**< NULL: no progress reports. */
  void* progress_user_data; /**< Passed to progress. */
} mmb_load_options;

/** Fills `options` with the defaults (listed with each field) in at most `struct_size`
 *  bytes and sets its struct_size to `struct_size`; bytes past it are not touched.
 *  @param options the struct to fill.
 *  @param struct_size sizeof(mmb_load_options) as the caller's header declares it.
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT (options NULL, or struct_size not a size
 *  of mmb_load_options this library knows: nothing is written).
 *  Thread rules: any thread; only `options` is written, and no pointer to it is kept. */
MMB_API mmb_status mmb_load_options_init(mmb_load_options* options, size_t struct_size);

/** Loads a bundle from a file. Uncompressed tensors are used in place from a read-only
 *  memory map (zero copy, shared between processes); compressed tensors are decoded
 *  once, in parallel on the runtime's threads. Everything is verified before use.
 *  @param runtime the runtime whose allocator and threads the model uses.
 *  @param path UTF-8 file path.
 *  @param options NULL for defaults.
 *  @param out receives the model; the caller owns it (mmb_model_destroy()).
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT (NULL runtime/path/out, bad struct_size);
 *  MMB_ERR_IO (cannot open or map); MMB_ERR_FORMAT (malformed, corrupt, checksum
 *  mismatch: the message names the field, tensor and offsets); MMB_ERR_UNSUPPORTED
 *  (newer format version, unknown feature); MMB_ERR_OUT_OF_MEMORY; MMB_ERR_CANCELLED. */
MMB_API mmb_status mmb_model_load_file(mmb_runtime* runtime, const char* path,
                                       const mmb_load_options* options, mmb_model** out);

/** Loads a bundle from memory. By default the bytes are borrowed: they must stay valid
 *  and unchanged until the model and all its sessions are destroyed, and must be
 *  aligned to 64 bytes for zero-copy use (otherwise tensors are copied). With
 *  MMB_LOAD_COPY_MEMORY the library copies what it needs and the buffer may be freed
 *  when the call returns. Statuses as mmb_model_load_file(), without MMB_ERR_IO. */
MMB_API mmb_status mmb_model_load_memory(mmb_runtime* runtime, const void* data, size_t size,
                                         const mmb_load_options* options, mmb_model** out);

/** Host I/O: lets a host load a bundle from its own storage (an asset pack, an archive).
 *  The loader calls these serially, on the thread that called mmb_model_load_io(), and
 *  never after that call returns: everything needed is read into memory. */
typedef struct mmb_io {
  uint32_t struct_size;  /**< sizeof(mmb_io). */
  void* user_data; /**< Passed to every callback. */
  /** Total size of the bundle in bytes into *size. Return 0 on success. */
  int32_t (*size)(void* user_data, uint64_t* size);
  /** Move the read position to `offset` from the start. Return 0 on success. */
  int32_t (*seek)(void* user_data, uint64_t offset);
  /** Read up to `n` bytes at the read position into `dst` and advance it. Return the
   *  number of bytes read (0 only at the end), or -1 on error. */
  int64_t (*read)(void* user_data, void* dst, size_t n);
} mmb_io;

/** Loads a bundle through host I/O callbacks. Statuses as mmb_model_load_file();
 *  MMB_ERR_IO when a callback reports an error or the data ends early (a read that
 *  returns 0 before the bundle's end). A read that returns fewer bytes than asked is
 *  continued with further reads. */
MMB_API mmb_status mmb_model_load_io(mmb_runtime* runtime, const mmb_io* io,
                                     const mmb_load_options* options, mmb_model** out);

/** What a model is. Fill struct_size (sizeof(mmb_model_info)) before the call; the
 *  library writes the fields that fit in it. */
typedef struct mmb_model_info {
  uint32_t struct_size;      /**< sizeof(mmb_model_info), set by the caller. */
  int32_t vocab_size;        /**< Real vocabulary: logits have this many entries. */
  int32_t d_model;          /**< Width of the residual stream. */
  int32_t n_layers;         /**< Blocks of every kind. */
  int32_t n_mamba_layers;   /**< Mamba blocks, Mamba-1 and Mamba-2. */
  int32_t n_moe_layers;     /**< Mixture-of-experts blocks. */
  int32_t n_mlp_layers;     /**< Dense feed-forward blocks. */
  int32_t n_experts;         /**< Most routed experts in any MoE layer (0 without MoE). */
  int32_t top_k;             /**< Most experts selected per token in any MoE layer. */
  int32_t bos_id;            /**< -1 when the tokenizer has none. */
  int32_t eos_id;            /**< End of text, or -1. */
  int32_t pad_id;            /**< Padding, or -1. */
  int32_t unk_id;            /**< Unknown, or -1. */
  int32_t weight_dtype;      /**< Dtype of most weight bytes: 0 f32, 1 f16, 2 bf16, 3 q8 (int8 with a scale per 32 values), 4 q4 (4-bit codes with a scale per 32 values). */
  uint64_t params_total;     /**< Every parameter. */
  uint64_t params_active;    /**< Parameters a token uses: only top_k of each MoE layer's experts. */
  uint64_t weight_bytes;     /**< Bytes of all weights as used in memory. */
  uint64_t active_weight_bytes; /**< Bytes of weights read per token at batch 1. */
  uint64_t state_bytes;      /**< Bytes of one session's recurrent state (fixed): 4 bytes times, summed
                                  over the layers, d_inner * (d_state + d_conv - 1) for a Mamba-1 part and
                                  d_inner * d_state + (d_inner + 2 * n_groups * d_state) * (d_conv - 1)
                                  for a Mamba-2 layer. A model with attention layers adds a KV cache
                                  that grows with the position: kv_values_per_token values per token
                                  (see below). */
  uint64_t fingerprint;      /**< Identity of the weights and config; saved states carry it. */
  const char* name;          /**< Metadata "name", or "" ; owned by the model. */
  /* 0.5: attention layers. */
  int32_t n_attention_layers; /**< Attention blocks (0: the session state is constant in size). */
  uint32_t context_length;    /**< A session's default context limit (mmb_session_options.max_context = 0);
                                   0 for a model without attention layers. */
  uint64_t kv_values_per_token; /**< Key and value elements one token adds to a session's KV cache: the sum over
                                     attention layers of 2 * n_kv_heads * head_dim. Times 2 bytes (MMB_KV_F16) or
                                     4 (MMB_KV_F32) per value, plus page rounding: a session's memory at position
                                     p is about its constant part + p * this * value size. */
  /* 0.6: tokenizers with pipelines and chat templates. */
  int32_t n_chat_templates;   /**< Chat templates in the bundle (0: mmb_chat_* return MMB_ERR_UNSUPPORTED). */
  int32_t n_stop_tokens;      /**< End-of-turn tokens besides eos_id (e.g. <|eot_id|>, <|im_end|>) at which
                                   generation stops; mmb_model_get_stop_tokens() lists them. */
} mmb_model_info;

/** Describes the model.
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT (NULL, struct_size smaller than the
 *  first version of the struct). */
MMB_API mmb_status mmb_model_get_info(const mmb_model* model, mmb_model_info* out);

/** Copies the metadata value for `key` (e.g. "name", "license") into `buf`, NUL
 *  terminated. `*len` receives the value's length without the NUL; cap must be at least
 *  len + 1.
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT (NULL model/key/len, or key absent: the
 *  message says so); MMB_ERR_BUFFER_TOO_SMALL (buf NULL or cap <= length). */
MMB_API mmb_status mmb_model_get_meta(const mmb_model* model, const char* key, char* buf,
                                      size_t cap, size_t* len);

/** The model's end-of-turn tokens besides eos_id (from its generation_config.json:
 *  e.g. <|eot_id|> or <|im_end|>), at which mmb_generate(), jobs and chats stop.
 *  Size-then-copy: `*n` receives the count; with `cap` too small (or tokens NULL and
 *  a count above 0) MMB_ERR_BUFFER_TOO_SMALL.
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT (NULL model or n); MMB_ERR_BUFFER_TOO_SMALL. */
MMB_API mmb_status mmb_model_get_stop_tokens(const mmb_model* model, int32_t* tokens, size_t cap, size_t* n);

/** Releases the caller's reference to the model. Sessions, detokenizers and other
 *  objects made from it keep it alive until they are destroyed, so destroying a model
 *  with live sessions is safe. NULL: no-op. */
MMB_API void mmb_model_destroy(mmb_model* model);

/** @} */

/** @defgroup session 4. Session: one stream of state
 *  @{ */

/** Opaque: the mutable recurrent state of one stream of text. One call at a time per
 *  session; different sessions may run concurrently. */
typedef struct mmb_session mmb_session;

/** Element types of a session's KV cache (mmb_session_options.kv_type). */
typedef enum mmb_kv_type {
  MMB_KV_F16 = 0, /**< Half precision: 2 bytes per value (default). */
  MMB_KV_F32 = 1  /**< Single precision: 4 bytes per value. */
} mmb_kv_type;

/** Options of mmb_session_create(). */
typedef struct mmb_session_options {
  uint32_t struct_size; /**< sizeof(mmb_session_options) in the host's header; set by mmb_session_options_init(). */
  uint32_t flags;       /**< Reserved, 0. */
  /* 0.5: the context of models with attention layers (ignored by other models). */
  uint64_t max_context; /**< Most tokens the session can consume before MMB_ERR_CONTEXT_FULL; 0 (default):
                             mmb_model_info.context_length. Memory for keys and values is taken as the context
                             grows (pages of 64 tokens), not at creation. At most 16777216. */
  int32_t kv_type;      /**< An mmb_kv_type: MMB_KV_F16 (default) or MMB_KV_F32. */
  uint32_t reserved;    /**< 0. */
} mmb_session_options;

/** Fills `options` with the defaults (listed with each field) in at most `struct_size`
 *  bytes and sets its struct_size to `struct_size`; bytes past it are not touched.
 *  @param options the struct to fill.
 *  @param struct_size sizeof(mmb_session_options) as the caller's header declares it.
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT (options NULL, or struct_size not a size
 *  of mmb_session_options this library knows: nothing is written).
 *  Thread rules: any thread; only `options` is written, and no pointer to it is kept. */
MMB_API mmb_status mmb_session_options_init(mmb_session_options* options, size_t struct_size);

/** Creates a session at position 0 (empty state). All memory a session needs for
 *  stepping is allocated here: step, prefill and batch calls do not allocate, except
 *  that a model with attention layers takes a page of key/value memory each 64 tokens
 *  (MMB_ERR_OUT_OF_MEMORY from the step that needs it, with nothing consumed).
 *  @param model the model to run; the session keeps it alive.
 *  @param options NULL for defaults.
 *  @param out receives the session; the caller owns it (mmb_session_destroy()).
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT; MMB_ERR_OUT_OF_MEMORY; MMB_ERR_BACKEND. */
MMB_API mmb_status mmb_session_create(mmb_model* model, const mmb_session_options* options,
                                      mmb_session** out);

/** Destroys a session. NULL: no-op. */
MMB_API void mmb_session_destroy(mmb_session* session);

/** Returns the session to position 0 (empty state).
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT (NULL). */
MMB_API mmb_status mmb_session_reset(mmb_session* session);

/** Tokens consumed since creation or the last reset (or as carried by a loaded state).
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT (NULL). */
MMB_API mmb_status mmb_session_get_position(const mmb_session* session, uint64_t* position);

/** The model a session runs (borrowed; valid while the session lives), or NULL for NULL. */
MMB_API mmb_model* mmb_session_get_model(const mmb_session* session);

/** Feeds one token and advances the state.
 *  @param session the session.
 *  @param token in [0, vocab_size).
 *  @param logits NULL to skip the output head (faster when the logits are not needed),
 *  else receives vocab_size floats.
 *  @param logits_cap capacity of `logits` in floats.
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT (NULL session, token out of range: the state
 *  is unchanged); MMB_ERR_BUFFER_TOO_SMALL (logits_cap < vocab_size: checked before the
 *  state changes); MMB_ERR_CONTEXT_FULL (a model with attention layers whose session is
 *  at its max_context: nothing consumed); MMB_ERR_OUT_OF_MEMORY (its next page of
 *  keys and values could not be had: nothing consumed); MMB_ERR_BACKEND. */
MMB_API mmb_status mmb_session_step(mmb_session* session, int32_t token, float* logits,
                                    size_t logits_cap);

/** Options of mmb_session_prefill_ex(). */
typedef struct mmb_prefill_options {
  uint32_t struct_size;     /**< sizeof(mmb_prefill_options) in the host's header; set by mmb_prefill_options_init(). */
  mmb_progress_fn progress; /**< Called between chunks with tokens done; NULL: none. */
  void* progress_user_data; /**< Passed to progress. */
} mmb_prefill_options;

/** Fills `options` with the defaults (listed with each field) in at most `struct_size`
 *  bytes and sets its struct_size to `struct_size`; bytes past it are not touched.
 *  @param options the struct to fill.
 *  @param struct_size sizeof(mmb_prefill_options) as the caller's header declares it.
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT (options NULL, or struct_size not a size
 *  of mmb_prefill_options this library knows: nothing is written).
 *  Thread rules: any thread; only `options` is written, and no pointer to it is kept. */
MMB_API mmb_status mmb_prefill_options_init(mmb_prefill_options* options, size_t struct_size);

/** Feeds `n` tokens at once: the same state and last logits as n calls of
 *  mmb_session_step(), computed in chunks with matrix-matrix work.
 *  @param session the session.
 *  @param tokens n token ids, each in [0, vocab_size).
 *  @param n number of tokens (0 is allowed when logits is NULL).
 *  @param logits NULL, or receives the logits after the last token.
 *  @param logits_cap capacity of logits in floats.
 *  @return as mmb_session_step(); every token, and room for all n in the context, is
 *  checked before any is consumed. */
MMB_API mmb_status mmb_session_prefill(mmb_session* session, const int32_t* tokens, size_t n,
                                       float* logits, size_t logits_cap);

/** mmb_session_prefill() with a progress/abort callback. On MMB_ERR_CANCELLED the
 *  session has consumed a whole number of chunks (see mmb_session_get_position()) and
 *  may be continued or reset. */
MMB_API mmb_status mmb_session_prefill_ex(mmb_session* session, const int32_t* tokens, size_t n,
                                          float* logits, size_t logits_cap,
                                          const mmb_prefill_options* options);

/** Steps `n` sessions of one model by one token each, reading the weights once for the
 *  whole batch (matrix-matrix work). Equivalent to stepping each in turn.
 *  @param sessions n distinct sessions of the same model.
 *  @param tokens n token ids.
 *  @param n number of sessions (at least 1).
 *  @param logits NULL, or row i (at logits + i * logits_stride) receives session i's logits.
 *  @param logits_stride floats between rows, >= vocab_size when logits is not NULL.
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT (NULLs, n == 0, a token out of range, a
 *  session listed twice); MMB_ERR_STATE_MISMATCH (sessions of different models);
 *  MMB_ERR_BUFFER_TOO_SMALL (stride < vocab_size); MMB_ERR_CONTEXT_FULL (a session at
 *  its max_context); all checked before any state changes. Sessions may be at different
 *  positions. Thread rules: no other call may use any of these sessions meanwhile. */
MMB_API mmb_status mmb_step_batch(mmb_session* const* sessions, const int32_t* tokens, size_t n,
                                  float* logits, size_t logits_stride);

/** Size in bytes of a saved state of this session now: constant for a model without
 *  attention layers; with them, it grows with the position (the keys and values of
 *  the tokens consumed, in the session's kv_type, are saved too).
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT. */
MMB_API mmb_status mmb_session_state_size(const mmb_session* session, size_t* bytes);

/** Saves the state as a versioned, checksummed blob bound to the model's fingerprint.
 *  States saved by version 1.x of the state format load in every later 1.y.
 *  @param session the session to save.
 *  @param buf receives the blob.
 *  @param cap capacity of buf in bytes.
 *  @param written receives the blob's size (also when the buffer is too small).
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT; MMB_ERR_BUFFER_TOO_SMALL (*written gets the
 *  size needed). */
MMB_API mmb_status mmb_session_state_save(const mmb_session* session, void* buf, size_t cap,
                                          size_t* written);

/** Replaces the session's state with a saved one. On any error the session is unchanged.
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT (NULL); MMB_ERR_FORMAT (not a state blob,
 *  truncated, checksum mismatch); MMB_ERR_STATE_MISMATCH (saved from another model);
 *  MMB_ERR_UNSUPPORTED (a newer major state version); MMB_ERR_CONTEXT_FULL (the state
 *  holds more tokens than this session's max_context); MMB_ERR_OUT_OF_MEMORY. A state
 *  saved with the other kv_type is converted. */
MMB_API mmb_status mmb_session_state_load(mmb_session* session, const void* buf, size_t size);

/** Makes an independent copy of a session (same model, same state and position, same
 *  max_context and kv_type; the used part of the KV cache is copied).
 *  @param session the session to copy.
 *  @param out receives the copy; the caller owns it.
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT; MMB_ERR_OUT_OF_MEMORY. */
MMB_API mmb_status mmb_session_fork(const mmb_session* session, mmb_session** out);

/** @} */

/** @defgroup text 5. Text: tokenizer and streaming detokenizer
 *  @{ */

enum {
  MMB_TOKENIZE_ADD_BOS = 1u << 0,      /**< Add the model's special tokens around the text, as its tokenizer's post-processor says (Hugging Face's add_special_tokens): BOS before it, and for some models EOS or others after it. */
  MMB_TOKENIZE_PARSE_SPECIAL = 1u << 1 /**< Turn special-token text (e.g. "<|endoftext|>") into its id. */
};

/** Splits text into token ids. Any bytes are accepted: invalid UTF-8 is encoded
 *  losslessly as byte tokens (byte-level tokenizers cover all 256 bytes).
 *  @param model whose tokenizer to use.
 *  @param text UTF-8, `len` bytes (may be NULL when len is 0).
 *  @param len length of text in bytes.
 *  @param tokens receives up to `cap` ids (may be NULL to ask for the count).
 *  @param cap capacity of tokens.
 *  @param n receives the count needed.
 *  @param flags MMB_TOKENIZE_* bits.
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT (NULL model/n, text NULL with len > 0);
 *  MMB_ERR_BUFFER_TOO_SMALL (cap < count; *n holds the count). */
MMB_API mmb_status mmb_tokenize(const mmb_model* model, const char* text, size_t len,
                                int32_t* tokens, size_t cap, size_t* n, uint32_t flags);

/** The bytes of one token's text on its own (may be part of a UTF-8 character;
 *  SentencePiece-style pieces are decoded: U+2581 becomes a space, <0xNN> its byte;
 *  special tokens give their text). Size-then-copy; no NUL is added. Any id the model can output is
 *  accepted: an id in [0, vocab_size) the tokenizer has no piece for (a padded or
 *  unused row of the model's head) has no bytes.
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT (token outside both the vocabulary and the
 *  tokenizer's pieces, NULL); MMB_ERR_BUFFER_TOO_SMALL. */
MMB_API mmb_status mmb_token_to_bytes(const mmb_model* model, int32_t token, char* buf, size_t cap,
                                      size_t* len);

/** Opaque: turns a stream of token ids into whole UTF-8 characters. */
typedef struct mmb_detokenizer mmb_detokenizer;

/** Creates a detokenizer for a model's vocabulary. The caller owns it. One thread at a time.
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT; MMB_ERR_OUT_OF_MEMORY. */
MMB_API mmb_status mmb_detokenizer_create(const mmb_model* model, mmb_detokenizer** out);

/** Destroys a detokenizer. NULL: no-op. */
MMB_API void mmb_detokenizer_destroy(mmb_detokenizer* detok);

/** Adds one token and writes the text that is now complete: only whole UTF-8
 *  characters; bytes of an unfinished character wait for the next token. Bytes that
 *  can never form a valid character come out as U+FFFD (3 bytes each). At most 3
 *  bytes wait, so `cap` >= 3 * token bytes + 3 always suffices (mmb_token_to_bytes()
 *  gives the token's bytes).
 *  @param detok the detokenizer.
 *  @param token the next token id; an id the model can output without a tokenizer
 *  piece (see mmb_token_to_bytes()) adds no text.
 *  @param buf receives the text.
 *  @param cap capacity of buf in bytes.
 *  @param len receives the bytes written (0 is common). No NUL is added.
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT (token out of range: nothing changes);
 *  MMB_ERR_BUFFER_TOO_SMALL (*len gets the size needed; nothing is consumed). */
MMB_API mmb_status mmb_detokenizer_push(mmb_detokenizer* detok, int32_t token, char* buf,
                                        size_t cap, size_t* len);

/** Ends the stream: writes any waiting bytes (an unfinished character becomes U+FFFD)
 *  and empties the detokenizer for reuse. Size-then-copy as mmb_detokenizer_push(). */
MMB_API mmb_status mmb_detokenizer_flush(mmb_detokenizer* detok, char* buf, size_t cap, size_t* len);

/** @} */

/** @defgroup sampling 6. Sampler and generation
 *  @{ */

/** Opaque: chooses the next token from logits; holds its RNG and penalty window. */
typedef struct mmb_sampler mmb_sampler;

/** Opaque: a compiled grammar, JSON Schema or choice list for one model's vocabulary
 *  (section 9). */
typedef struct mmb_grammar mmb_grammar;

/** Opaque: where one generation stands in a grammar (section 9). */
typedef struct mmb_grammar_state mmb_grammar_state;

/** Sampling parameters. Filters apply in this order: penalties, top-k, temperature,
 *  top-p, min-p. temperature <= 0 means greedy (argmax after penalties). */
typedef struct mmb_sampler_params {
  uint32_t struct_size;       /**< sizeof(mmb_sampler_params) in the host's header; set by mmb_sampler_params_init(). */
  float temperature;          /**< Default 0.8. */
  int32_t top_k;              /**< Keep the k most likely; 0 = off (default 40). */
  float top_p;                /**< Keep the smallest set with mass >= p; 1 = off (default 0.95). */
  float min_p;                /**< Drop tokens below min_p * p(max); 0 = off (default 0.05). */
  float repetition_penalty;   /**< Divide positive (multiply negative) logits of recent tokens; 1 = off (default). */
  float presence_penalty;     /**< Subtract once per recent token; 0 = off (default). */
  float frequency_penalty;    /**< Subtract per occurrence in the window; 0 = off (default). */
  int32_t penalty_window;     /**< How many recent tokens the penalties see; default 64. */
  uint64_t seed;              /**< RNG seed; the same seed gives the same tokens. Default 0. */
} mmb_sampler_params;

/** Fills `params` with the defaults (listed with each field) in at most `struct_size`
 *  bytes and sets its struct_size to `struct_size`; bytes past it are not touched.
 *  @param params the struct to fill.
 *  @param struct_size sizeof(mmb_sampler_params) as the caller's header declares it.
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT (params NULL, or struct_size not a size
 *  of mmb_sampler_params this library knows: nothing is written).
 *  Thread rules: any thread; only `params` is written, and no pointer to it is kept. */
MMB_API mmb_status mmb_sampler_params_init(mmb_sampler_params* params, size_t struct_size);

/** Creates a sampler. NULL params: defaults. The caller owns it. One thread at a time.
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT (a NaN or infinite value, top_k < 0,
 *  top_p outside (0, 1], min_p outside [0, 1], repetition_penalty <= 0, a negative
 *  presence or frequency penalty, penalty_window < 0 or > 65536; a negative
 *  temperature is valid and means greedy); MMB_ERR_OUT_OF_MEMORY. */
MMB_API mmb_status mmb_sampler_create(const mmb_sampler_params* params, mmb_sampler** out);

/** Destroys a sampler. NULL: no-op. */
MMB_API void mmb_sampler_destroy(mmb_sampler* sampler);

/** Clears the penalty window and reseeds the RNG with the original seed.
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT. */
MMB_API mmb_status mmb_sampler_reset(mmb_sampler* sampler);

/** Records a token in the penalty window without sampling (e.g. the prompt's tokens).
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT (NULL, negative token). */
MMB_API mmb_status mmb_sampler_accept(mmb_sampler* sampler, int32_t token);

/** Chooses a token from `n` logits (not modified) and records it in the window.
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT (NULL, n == 0, n > INT32_MAX, no finite logit). */
MMB_API mmb_status mmb_sampler_sample(mmb_sampler* sampler, const float* logits, size_t n,
                                      int32_t* token);

/** Receives each generated token and its text (whole UTF-8 characters, may be empty).
 *  `text` is valid only during the call. Return 1 to go on, 0 to stop. */
typedef int32_t (*mmb_token_callback)(void* user_data, int32_t token, const char* text, size_t len);

/** Options of mmb_generate(). */
typedef struct mmb_generate_options {
  uint32_t struct_size;      /**< sizeof(mmb_generate_options) in the host's header; set by mmb_generate_options_init(). */
  int32_t max_tokens;        /**< Most tokens to generate; default 256. */
  int32_t stop_at_eos;       /**< 1: stop at the EOS token or another of the model's end-of-turn tokens (mmb_model_get_stop_tokens()), without emitting it (default). */
  uint32_t tokenize_flags;   /**< MMB_TOKENIZE_* for the prompt; default MMB_TOKENIZE_ADD_BOS. */
  mmb_progress_fn progress;  /**< Prompt progress (tokens) and abort; NULL: none. */
  void* progress_user_data; /**< Passed to progress. */
  /** NULL: free text (default). Else structured output: each token is chosen among
   *  those the grammar state allows (mmb_grammar_state_apply()), the state advances
   *  with each emitted token, and generation ends as soon as the grammar is complete
   *  (mmb_grammar_state_can_end() gives must_end), or at a stop token where the grammar
   *  may end (stop tokens are allowed only there, and only they end it: stop_at_eos is
   *  then taken as 1). A generation that reaches max_tokens first returns MMB_OK with
   *  the grammar unfinished: check can_end. Not copied: the state is advanced in place
   *  and must outlive the call. Since 0.7. */
  mmb_grammar_state* grammar;
} mmb_generate_options;

/** Fills `options` with the defaults (listed with each field) in at most `struct_size`
 *  bytes and sets its struct_size to `struct_size`; bytes past it are not touched.
 *  @param options the struct to fill.
 *  @param struct_size sizeof(mmb_generate_options) as the caller's header declares it.
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT (options NULL, or struct_size not a size
 *  of mmb_generate_options this library knows: nothing is written).
 *  Thread rules: any thread; only `options` is written, and no pointer to it is kept. */
MMB_API mmb_status mmb_generate_options_init(mmb_generate_options* options, size_t struct_size);

/** Tokenizes `prompt`, prefills it into the session (continuing from its current
 *  state), then samples up to max_tokens tokens, calling `cb` with each token's text as
 *  soon as it is known. Text is streamed through a detokenizer, so callbacks see only
 *  whole characters; the final flush goes to a last callback with token -1.
 *  @param session continues from its current state.
 *  @param sampler chooses each token (its penalty window sees the prompt too).
 *  @param prompt UTF-8 text, `len` bytes.
 *  @param len length of prompt in bytes.
 *  @param options NULL for defaults.
 *  @param cb NULL to generate without a callback.
 *  @param user_data passed to cb.
 *  @return MMB_OK (max_tokens reached, EOS, or cb returned 0); MMB_ERR_CANCELLED (the
 *  progress callback returned 0); MMB_ERR_INVALID_ARGUMENT; MMB_ERR_BACKEND. */
MMB_API mmb_status mmb_generate(mmb_session* session, mmb_sampler* sampler, const char* prompt,
                                size_t len, const mmb_generate_options* options,
                                mmb_token_callback cb, void* user_data);

/** @} */

/** @defgroup jobs 7. Jobs and frames: non-blocking generation for game loops
 *
 *  A job runs a prompt (text or token ids) through a session and, with a sampler,
 *  generates tokens after it, without blocking the host: the submitting call returns
 *  at once and the work happens elsewhere, one unit at a time (a unit: one prompt
 *  chunk of at most 16 tokens for the oldest job still in its prompt, and one token
 *  for every generating job, those of one model sharing one batched step). Where the work happens is mmb_runtime_options.job_mode: a background
 *  thread of the runtime, the host's own job system, or only inside the host's
 *  mmb_runtime_frame() calls (a game's main loop with a time budget per frame).
 *
 *  The host reads results without blocking: mmb_job_read_text() and
 *  mmb_job_read_tokens() take what was produced since the last read, mmb_job_poll()
 *  tells the state, mmb_job_wait() blocks with a timeout, mmb_job_cancel() stops the
 *  job between two slices of work (see mmb_job_cancel()). Events (each token's text,
 *  the end) go to the job's event callback only from mmb_job_poll() and
 *  mmb_runtime_frame(), on the thread that called them: never from a worker thread.
 *
 *  A session runs at most one job at a time; while it does, every other call on the
 *  session returns MMB_ERR_BUSY. Destroying a session or a job is always safe: a
 *  running job is cancelled and the call returns once no thread uses it any more
 *  (within one slice of work, or the rest of a batched step the job is in).
 *
 *  Session memory: see mmb_runtime_options.session_memory_budget and
 *  mmb_session_page_out(). Paging is invisible to results: a session paged out and in
 *  produces exactly the tokens it would have produced resident.
 *  @{ */

/** Opaque: one submitted piece of work on a session. */
typedef struct mmb_job mmb_job;

/** What a job is doing (mmb_job_poll(), mmb_job_wait()). */
enum {
  MMB_JOB_QUEUED = 0,     /**< Submitted, not started (or waiting for session memory). */
  MMB_JOB_PREFILL = 1,    /**< Consuming its prompt. */
  MMB_JOB_GENERATING = 2, /**< Producing tokens. */
  MMB_JOB_FINISHED = 3    /**< Done: its result status says how it ended. */
};

/** Kinds of job events (mmb_job_event_fn). */
enum {
  /** A generated token and the text it completes (whole UTF-8 characters, may be
   *  empty). The last text event of a job may carry token -1: the detokenizer's
   *  flush of an unfinished character. */
  MMB_JOB_EVENT_TOKEN = 0,
  /** The job ended: status MMB_OK (max_tokens, EOS or stop text reached, or a prompt
   *  without generation consumed) or MMB_ERR_CANCELLED. Always the job's last event. */
  MMB_JOB_EVENT_FINISHED = 1,
  /** The job failed: status says why and text holds the message. Always the job's
   *  last event (no FINISHED follows). */
  MMB_JOB_EVENT_ERROR = 2
};

/** Receives a job's events, on the thread that calls mmb_job_poll() or
 *  mmb_runtime_frame(), in the order they happened. `text` (len bytes, no NUL) is
 *  valid only during the call; token is -1 when the event has none; status is MMB_OK
 *  except for FINISHED and ERROR. The callback may call the library (cancel or
 *  destroy this or other jobs included). */
typedef void (*mmb_job_event_fn)(void* user_data, mmb_job* job, int32_t kind, int32_t token,
                                 const char* text, size_t len, mmb_status status);

/** Options of mmb_job_submit_text() and mmb_job_submit_tokens(). */
typedef struct mmb_job_options {
  uint32_t struct_size;     /**< sizeof(mmb_job_options) in the host's header; set by mmb_job_options_init(). */
  int32_t max_tokens;       /**< Most tokens to generate; default 256. Ignored without a sampler. */
  int32_t stop_at_eos;      /**< 1: stop at the EOS token or another of the model's end-of-turn tokens (mmb_model_get_stop_tokens()), without emitting it (default). */
  uint32_t tokenize_flags;  /**< MMB_TOKENIZE_* for a text prompt; default MMB_TOKENIZE_ADD_BOS. */
  const char* stop_text;    /**< UTF-8: stop once the generated text contains it (it is emitted); NULL: none. Copied at submission. */
  size_t stop_text_len;     /**< Length of stop_text in bytes. */
  mmb_job_event_fn on_event; /**< NULL: no events (read the results with mmb_job_read_text()). */
  void* event_user_data;    /**< Passed to on_event. */
  /** NULL: free text (default). Else the job generates under this grammar exactly as
   *  mmb_generate_options.grammar describes, with its own copy of the state taken at
   *  submission (like the sampler): the host's state is left unchanged and may be
   *  destroyed at once. A job whose grammar no token can continue ends with
   *  MMB_ERR_GRAMMAR. Since 0.7. */
  const mmb_grammar_state* grammar;
} mmb_job_options;

/** Fills `options` with the defaults (listed with each field) in at most `struct_size`
 *  bytes and sets its struct_size to `struct_size`; bytes past it are not touched.
 *  @param options the struct to fill.
 *  @param struct_size sizeof(mmb_job_options) as the caller's header declares it.
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT (options NULL, or struct_size not a size
 *  of mmb_job_options this library knows: nothing is written).
 *  Thread rules: any thread; only `options` is written, and no pointer to it is kept. */
MMB_API mmb_status mmb_job_options_init(mmb_job_options* options, size_t struct_size);

/** Submits a prompt, and generation after it, to run on `session` without blocking.
 *  The job tokenizes `prompt`, feeds it to the session (continuing from its current
 *  state; an empty prompt feeds BOS, or token 0), then, if `sampler` is not NULL,
 *  samples up to max_tokens tokens exactly as mmb_generate() would: the same sampler
 *  state and session state give the same tokens. Each emitted token enters the
 *  session's state, so the session continues the text afterwards.
 *  @param session the session; it is busy (MMB_ERR_BUSY for other calls) until the
 *  job finishes, and is left at the state after the last emitted token (or the last
 *  whole prompt chunk when cancelled during the prompt).
 *  @param sampler NULL: only the prompt is consumed (a non-blocking prefill). Else the
 *  job samples with its own copy of the sampler, taken here (its seed, RNG state and
 *  penalty window, which then sees the prompt): the host's sampler is not used
 *  afterwards and may be destroyed at once. It is also left unchanged, so a later
 *  job given the same sampler starts from the same random state (reseed it, or keep
 *  one sampler per line, when lines with the same prompt must differ).
 *  @param prompt UTF-8 text, `len` bytes (NULL only when len is 0). Copied.
 *  @param len length of prompt in bytes.
 *  @param options NULL for defaults.
 *  @param out receives the job; the caller owns it (mmb_job_destroy()).
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT (NULL session/out, prompt NULL with len > 0,
 *  bad struct_size, negative max_tokens, stop_text NULL with a length);
 *  MMB_ERR_BUSY (the session already runs an unfinished job); MMB_ERR_BUDGET (one
 *  session does not fit in the runtime's session memory budget at all);
 *  MMB_ERR_CONTEXT_FULL (the prompt does not fit what is left of the session's
 *  context); MMB_ERR_OUT_OF_MEMORY. Nothing is submitted on error. A job whose
 *  generation reaches the end of the context finishes with MMB_ERR_CONTEXT_FULL after
 *  the last token that fit (every emitted token is in the state); other jobs stepping
 *  in the same batches are not affected.
 *  Thread rules: a session call (one at a time per session); with MMB_JOBS_HOST,
 *  run_task may be called from inside this call. */
MMB_API mmb_status mmb_job_submit_text(mmb_session* session, mmb_sampler* sampler, const char* prompt,
                                       size_t len, const mmb_job_options* options, mmb_job** out);

/** mmb_job_submit_text() with a prompt of token ids (copied) instead of text;
 *  tokenize_flags is ignored.
 *  @return as mmb_job_submit_text(); MMB_ERR_INVALID_ARGUMENT also for tokens NULL
 *  with n > 0 and for a token outside [0, vocab_size). */
MMB_API mmb_status mmb_job_submit_tokens(mmb_session* session, mmb_sampler* sampler,
                                         const int32_t* tokens, size_t n,
                                         const mmb_job_options* options, mmb_job** out);

/** Delivers the job's pending events to its on_event callback, on this thread, then
 *  tells where the job is. Never blocks on the job's work.
 *  @param job the job.
 *  @param state NULL, or receives MMB_JOB_*.
 *  @param result NULL, or receives the job's result: MMB_OK while it runs and when it
 *  ended normally, MMB_ERR_CANCELLED, or the status of the error that ended it.
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT (NULL job).
 *  Thread rules: any thread; events go to the thread that calls. */
MMB_API mmb_status mmb_job_poll(mmb_job* job, int32_t* state, mmb_status* result);

/** Takes the text generated since the last call (whole UTF-8 characters, the final
 *  flush included). Size-then-copy: with a buffer too small nothing is taken.
 *  @param job the job.
 *  @param buf receives the text, no NUL (may be NULL when cap is 0).
 *  @param cap capacity of buf in bytes.
 *  @param len receives the bytes taken, or needed.
 *  @return MMB_OK (also when there is nothing new: *len = 0); MMB_ERR_INVALID_ARGUMENT;
 *  MMB_ERR_BUFFER_TOO_SMALL.
 *  Thread rules: any thread, one reader at a time per job. */
MMB_API mmb_status mmb_job_read_text(mmb_job* job, char* buf, size_t cap, size_t* len);

/** Takes the token ids generated since the last call. Size-then-copy as
 *  mmb_job_read_text() (`cap` and `*n` count tokens).
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT; MMB_ERR_BUFFER_TOO_SMALL. */
MMB_API mmb_status mmb_job_read_tokens(mmb_job* job, int32_t* tokens, size_t cap, size_t* n);

/** Blocks until the job finishes or `timeout_ms` passes (0: just look). In
 *  MMB_JOBS_FRAME mode nothing else advances jobs, so the wait advances them itself
 *  on this thread, in whole units; so it does with MMB_JOBS_HOST once frames pace the
 *  host's tasks. Delivers no events.
 *  @param job the job.
 *  @param timeout_ms most milliseconds to wait.
 *  @param state NULL, or receives MMB_JOB_* (MMB_JOB_FINISHED when it ended).
 *  @return MMB_OK (finished or not); MMB_ERR_INVALID_ARGUMENT. */
MMB_API mmb_status mmb_job_wait(mmb_job* job, uint32_t timeout_ms, int32_t* state);

/** Asks the job to stop; returns at once. The job ends with result MMB_ERR_CANCELLED,
 *  and the session keeps the state of the whole prompt chunks consumed and the tokens
 *  emitted. A prompt chunk left half done is undone (the session gets back its state
 *  from before the chunk); a batched step that holds the job's last emitted token is
 *  completed, so that the token is in the state. When no thread is working on jobs
 *  (between frames in MMB_JOBS_FRAME mode), the job ends at once, after completing on
 *  the calling thread a step of it that a frame left half done (at most the rest of
 *  one step). Otherwise it ends once the thread working on jobs (the background worker,
 *  a host task, a frame or a wait) ends its current slice (one stage of a step or
 *  prompt chunk: the embedding, one layer, a part of the head), or, in a batched step,
 *  when that step ends. Cancelling a finished job, or twice, does nothing.
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT (NULL). Thread rules: any thread. */
MMB_API mmb_status mmb_job_cancel(mmb_job* job);

/** Cancels the job if it runs, waits until no thread works on it (at most one slice
 *  of work; a half-done prompt chunk is undone as by mmb_job_cancel(); a batched step
 *  the job is in is completed first, on the calling thread), drops its undelivered
 *  events and frees it. The session is then free for other calls. NULL: no-op.
 *  Thread rules: not from inside another call on the same job. */
MMB_API void mmb_job_destroy(mmb_job* job);

/** Per-call figures of mmb_runtime_frame(). */
typedef struct mmb_frame_stats {
  uint32_t struct_size;    /**< sizeof(mmb_frame_stats), set by the caller. */
  uint32_t steps;          /**< Units of work done (each a batched step or a prompt chunk round). */
  uint64_t tokens_generated; /**< Tokens sampled by all jobs in this call. */
  uint64_t prompt_tokens;  /**< Prompt tokens consumed in this call. */
  uint64_t time_us;        /**< Microseconds the call took, event delivery included. */
  uint32_t jobs_active;    /**< Unfinished jobs of the runtime when the call returned. */
  uint32_t jobs_finished;  /**< Jobs that finished during this call. */
  uint32_t events;         /**< Events delivered by this call. */
  uint32_t slices;         /**< Slices of units run by this call (a slice: one stage of a batched step or
                                prompt chunk: the embedding, one layer, or the head). */
} mmb_frame_stats;

/** The host's once-per-frame call: advances every unfinished job of the runtime (the
 *  generating jobs of each model in one batched step) until the next slice of work
 *  would not fit in `budget_us`, then delivers all pending events of the runtime's
 *  jobs on this thread. A unit runs in slices (the embedding, each layer, the head of
 *  a batched step or prompt chunk); the frame starts a slice only when its cost,
 *  measured on earlier slices of the same layer and row count, fits what is left of
 *  the budget, and a unit left half done goes on at the next call from where it
 *  stopped, with the same results as in one go. Prompt chunks shrink (down to one
 *  token) when a 16-token chunk's layers would not fit small budgets. The first slice
 *  of a call always runs, so a budget below one slice still makes progress; otherwise
 *  the call ends early rather than late. Jobs with a half-done step or chunk stay
 *  unfinished (their sessions busy) until it completes; mmb_job_cancel(),
 *  mmb_job_destroy() and mmb_session_destroy() undo a half-done prompt chunk of the
 *  job, or complete a half-done step of it first. With budget 0 it
 *  only delivers events. With MMB_JOBS_WORKER, while the worker is advancing jobs, the
 *  call does not wait for it: it advances nothing and delivers events. With
 *  MMB_JOBS_HOST the call advances nothing on its own thread: it asks run_task for a
 *  task that spends `budget_us` the same way (the tasks until the next frame call share
 *  it; the first slice of each frame always runs), and `stats` counts the steps,
 *  tokens, prompt tokens, slices and finished jobs of the tasks since the previous call.
 *  @param runtime the runtime.
 *  @param budget_us microseconds of work allowed.
 *  @param stats NULL, or receives the figures (fill struct_size first).
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT (NULL runtime, bad stats struct_size).
 *  Thread rules: any thread; one frame call at a time per runtime is useful, more are safe. */
MMB_API mmb_status mmb_runtime_frame(mmb_runtime* runtime, uint64_t budget_us, mmb_frame_stats* stats);

/** Session memory of a runtime (mmb_runtime_get_session_memory()). */
typedef struct mmb_session_memory {
  uint32_t struct_size;      /**< sizeof(mmb_session_memory), set by the caller. */
  uint32_t sessions;         /**< Live sessions. */
  uint32_t resident_sessions; /**< Of them, in memory ready to step. */
  uint32_t paged_sessions;   /**< Of them, paged out. */
  uint64_t resident_bytes;   /**< Bytes of state and scratch of the resident sessions. */
  uint64_t paged_bytes;      /**< Bytes of the compressed states of paged-out sessions, in the library's memory or the host's page store. */
  uint64_t budget_bytes;     /**< The budget (0: none). */
  uint64_t page_outs;        /**< Sessions paged out so far. */
  uint64_t page_ins;         /**< Sessions paged back in so far. */
} mmb_session_memory;

/** Reports the runtime's session memory.
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT (NULL, bad struct_size). */
MMB_API mmb_status mmb_runtime_get_session_memory(const mmb_runtime* runtime, mmb_session_memory* out);

/** Pages an idle session out now (a host knows when a character leaves the scene):
 *  its state is compressed into host memory and its state and scratch memory freed.
 *  The next call that needs the state brings it back transparently.
 *  @return MMB_OK (also when already paged out); MMB_ERR_INVALID_ARGUMENT (NULL);
 *  MMB_ERR_BUSY (a job runs on it); MMB_ERR_OUT_OF_MEMORY. */
MMB_API mmb_status mmb_session_page_out(mmb_session* session);

/** @} */

/** @defgroup chat 8. Chat: conversations in the model's own prompt format
 *  Instruct models are trained on one prompt format, which their bundle carries as a
 *  chat template (Jinja text from the model's tokenizer_config.json). The library
 *  renders conversations with it, so a host never formats turns by hand.
 *
 *  Two levels: mmb_chat_render() turns a list of messages into the prompt text (for
 *  hosts that drive sessions themselves); an mmb_chat keeps a conversation and a
 *  session together, and each new turn prefills only the tokens the session has not
 *  seen yet (the whole conversation is rendered again, and what the session already
 *  holds is kept). When a new rendering does not continue what the session has seen
 *  (a template that rewrites earlier turns), the session starts over from the whole
 *  rendering; mmb_chat_stats says which happened.
 *
 *  Messages are NUL-terminated UTF-8: `role` is "system", "user", "assistant", "tool"
 *  or whatever the template knows; `content` is the turn's text.
 *  @{ */

/** One turn of a conversation. */
typedef struct mmb_chat_message {
  const char* role;     /**< "system", "user", "assistant", "tool", ... */
  const char* content;  /**< The turn's text. */
} mmb_chat_message;

/** Renders `messages` with the model's chat template into the prompt text (exactly
 *  the text the template produces; the template adds BOS text itself where the model
 *  wants it, so tokenize the result with MMB_TOKENIZE_PARSE_SPECIAL and without
 *  MMB_TOKENIZE_ADD_BOS). Size-then-copy: with `cap` too small (or buf NULL) the
 *  size is written to `*len` and MMB_ERR_BUFFER_TOO_SMALL returned.
 *  @param model whose template to use.
 *  @param template_name NULL or "default" for the model's main template, else a named
 *  one from its tokenizer_config.json ("tool_use", ...).
 *  @param messages the conversation; `n_messages` may be 0.
 *  @param n_messages number of messages.
 *  @param add_generation_prompt nonzero: end with the text that opens the assistant's
 *  turn, to generate the reply.
 *  @param buf receives the text (not NUL-terminated).
 *  @param cap size of buf in bytes.
 *  @param len receives the text's size in bytes.
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT (NULL model/len, a message with a NULL
 *  role or content); MMB_ERR_UNSUPPORTED (the model has no template of that name);
 *  MMB_ERR_TEMPLATE (the template refused the conversation: the message is its own,
 *  e.g. "Conversation roles must alternate user/assistant"); MMB_ERR_BUFFER_TOO_SMALL.
 *  Thread rules: any thread; the model may be shared. */
MMB_API mmb_status mmb_chat_render(const mmb_model* model, const char* template_name,
                                   const mmb_chat_message* messages, size_t n_messages,
                                   int32_t add_generation_prompt, char* buf, size_t cap, size_t* len);

/** A conversation bound to a session of its own. One thread at a time. */
typedef struct mmb_chat mmb_chat;

/** Options of mmb_chat_create(). */
typedef struct mmb_chat_options {
  uint32_t struct_size;       /**< sizeof(mmb_chat_options) in the host's header; set by mmb_chat_options_init(). */
  const char* template_name;  /**< NULL (default): the model's main template; else a named one. Copied. */
  const mmb_session_options* session; /**< Options of the chat's session; NULL: defaults. */
} mmb_chat_options;

/** Fills `options` with the defaults (listed with each field); see mmb_runtime_options_init().
 *  @param options the struct to fill.
 *  @param struct_size sizeof(mmb_chat_options) as the caller's header declares it.
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT. */
MMB_API mmb_status mmb_chat_options_init(mmb_chat_options* options, size_t struct_size);

/** What one mmb_chat_prefill() or mmb_chat_generate() did. */
typedef struct mmb_chat_stats {
  uint32_t struct_size;       /**< sizeof(mmb_chat_stats) in the host's header. */
  int32_t restarted;          /**< 1: the new rendering did not continue what the session had seen, so it started over. */
  uint64_t prompt_tokens;     /**< Tokens of the whole rendered conversation. */
  uint64_t reused_tokens;     /**< Of those, already in the session: not computed again. */
  uint64_t prefilled_tokens;  /**< Fed to the session by this call. */
  uint64_t generated_tokens;  /**< Tokens of the reply (mmb_chat_generate()). */
} mmb_chat_stats;

/** Creates a conversation with an empty history and a new session on `model`.
 *  @param model holds the chat template; the chat holds a reference to it.
 *  @param options NULL for defaults.
 *  @param out receives the chat.
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT; MMB_ERR_UNSUPPORTED (no template of that
 *  name); MMB_ERR_OUT_OF_MEMORY; MMB_ERR_BUDGET. */
MMB_API mmb_status mmb_chat_create(mmb_model* model, const mmb_chat_options* options, mmb_chat** out);

/** Destroys the chat and its session. NULL: no-op. */
MMB_API void mmb_chat_destroy(mmb_chat* chat);

/** The chat's session, owned by the chat (valid until mmb_chat_destroy()): for
 *  paging, memory figures or saving. Stepping it directly puts it out of step with
 *  the history; the next turn then starts over (mmb_chat_stats.restarted). */
MMB_API mmb_session* mmb_chat_get_session(mmb_chat* chat);

/** Appends a message to the history. Nothing is computed until the next
 *  mmb_chat_prefill() or mmb_chat_generate().
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT (NULL); MMB_ERR_OUT_OF_MEMORY. */
MMB_API mmb_status mmb_chat_add(mmb_chat* chat, const char* role, const char* content);

/** Number of messages in the history (the replies of mmb_chat_generate() included).
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT. */
MMB_API mmb_status mmb_chat_get_message_count(const mmb_chat* chat, size_t* count);

/** Copies message `index`'s role and content, size-then-copy for each (a NULL buffer
 *  with cap 0 asks only for the size).
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT (NULL chat or lengths, index out of range);
 *  MMB_ERR_BUFFER_TOO_SMALL (both sizes written, nothing copied). */
MMB_API mmb_status mmb_chat_get_message(const mmb_chat* chat, size_t index, char* role, size_t role_cap,
                                        size_t* role_len, char* content, size_t content_cap, size_t* content_len);

/** Brings the session up to date with the history (rendered without the generation
 *  prompt): e.g. a character's system prompt computed at load time, so the first
 *  reply starts at once. Only the tokens the session has not seen are computed.
 *  @param chat the conversation.
 *  @param stats NULL, or receives what was done (struct_size set by the caller).
 *  @return MMB_OK; MMB_ERR_TEMPLATE; MMB_ERR_CONTEXT_FULL; MMB_ERR_INVALID_ARGUMENT;
 *  MMB_ERR_BACKEND; MMB_ERR_OUT_OF_MEMORY. */
MMB_API mmb_status mmb_chat_prefill(mmb_chat* chat, mmb_chat_stats* stats);

/** Generates the assistant's reply to the history: renders it with the generation
 *  prompt, prefills only what the session has not seen, then samples until the model
 *  ends its turn (EOS or one of its other end-of-turn tokens, not emitted),
 *  options->max_tokens, or `cb` returns 0. The reply's text streams to `cb` as with
 *  mmb_generate() and is appended to the history as an "assistant" message (also
 *  when stopped early), as the bytes the model produced: the streamed text shows
 *  U+FFFD where those are not valid UTF-8. options->tokenize_flags is ignored.
 *  @return MMB_OK; MMB_ERR_CANCELLED (the progress callback stopped the prompt: the
 *  history is unchanged); MMB_ERR_TEMPLATE; MMB_ERR_CONTEXT_FULL;
 *  MMB_ERR_INVALID_ARGUMENT; MMB_ERR_BACKEND; MMB_ERR_OUT_OF_MEMORY. */
MMB_API mmb_status mmb_chat_generate(mmb_chat* chat, mmb_sampler* sampler, const mmb_generate_options* options,
                                     mmb_token_callback cb, void* user_data, mmb_chat_stats* stats);

/** Empties the history and resets the session.
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT. */
MMB_API mmb_status mmb_chat_reset(mmb_chat* chat);

/** Bytes mmb_chat_state_save() writes now: the history, what the session has seen
 *  and the session's state.
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT. */
MMB_API mmb_status mmb_chat_state_size(const mmb_chat* chat, size_t* bytes);

/** Saves the conversation (history and session state) into `buf`, so that
 *  mmb_chat_state_load() continues it exactly, in this process or another with the
 *  same bundle.
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT; MMB_ERR_BUFFER_TOO_SMALL (the size is
 *  written to `*written`). */
MMB_API mmb_status mmb_chat_state_save(const mmb_chat* chat, void* buf, size_t cap, size_t* written);

/** Replaces the chat's history and session state with a saved conversation. On any
 *  error nothing changes.
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT; MMB_ERR_FORMAT (not a chat state, or
 *  corrupt); MMB_ERR_STATE_MISMATCH (saved from another model); MMB_ERR_CONTEXT_FULL;
 *  MMB_ERR_OUT_OF_MEMORY. */
MMB_API mmb_status mmb_chat_state_load(mmb_chat* chat, const void* buf, size_t size);

/** @} */

/** @defgroup grammar 9. Structured output: grammars, JSON Schemas and choices
 *
 *  Makes generation produce only text of a given shape: a JSON object a program can
 *  parse (`{"action": "attack", "target": "wolf"}`), one of a list of strings, or
 *  anything a grammar describes. A grammar is compiled once for a model's vocabulary
 *  and shared by any number of sessions and threads; each generation keeps its own
 *  mmb_grammar_state, which says which tokens may come next. Tokens that cannot
 *  continue the grammar get -inf before sampling, whatever their length (a token may
 *  span several grammar symbols, end inside a literal or hold several characters), and
 *  the model's stop tokens are allowed exactly where the grammar may end.
 *
 *  Three sources, one kind of object:
 *  - MMB_GRAMMAR_GBNF: grammar text in the GBNF dialect (the one llama.cpp reads):
 *    rules written `name ::= ...`, alternatives, groups in parentheses, the repeats
 *    `*`, `+`, `?`, `{m}`, `{m,}` and `{m,n}`, string literals with escapes, character
 *    classes such as `[a-z]` or `[^a-z]` with escapes and UTF-8, the dot for any
 *    character, and comments from a hash sign to the line's end. The start rule is "root" unless
 *    mmb_grammar_options.root names another. docs/structured-output.md gives the dialect.
 *  - MMB_GRAMMAR_JSON_SCHEMA: a JSON Schema (the subset tool calls and game actions
 *    use: type object/array/string/number/integer/boolean/null, properties, required,
 *    additionalProperties false, items, minItems/maxItems, enum, const,
 *    minLength/maxLength, minimum/maximum (and the exclusive forms), anyOf/oneOf,
 *    $defs/definitions with $ref, recursion included). Output is JSON text: properties
 *    in the schema's order, whitespace limited by mmb_grammar_options. Keywords that
 *    would change what is valid but are not supported (pattern, format, ...) are an
 *    error naming their path, never silently ignored.
 *  - mmb_grammar_create_choice(): exactly one of a list of strings.
 *
 *  Compiling checks everything: a syntax error gives its line and column (a schema
 *  error its JSON pointer path) in mmb_last_error(); an undefined rule, a
 *  left-recursive rule, or one that can never finish is an error too.
 *
 *  Cost: a grammar keeps the masks of allowed tokens it has computed, keyed by the
 *  matcher's state, so a state seen before (by any session) costs a lookup; a new one
 *  costs one walk of the vocabulary's prefix tree, pruned where the grammar refuses.
 *  docs/structured-output.md describes the design and gives the figures.
 *  @{ */

/** Grammar sources for mmb_grammar_create(). */
enum {
  MMB_GRAMMAR_GBNF = 1,        /**< Grammar text in the GBNF dialect. */
  MMB_GRAMMAR_JSON_SCHEMA = 2  /**< A JSON Schema document (JSON text). */
};

/** Options of mmb_grammar_create() and mmb_grammar_create_choice(). */
typedef struct mmb_grammar_options {
  uint32_t struct_size;          /**< sizeof(mmb_grammar_options) in the host's header; set by mmb_grammar_options_init(). */
  const char* root;              /**< GBNF: the start rule; NULL: "root" (default). */
  int32_t json_whitespace;       /**< JSON Schema: the most whitespace characters (space, newline, tab) allowed at each place JSON allows them; 0 = compact JSON; default 1 (`{"a": 1, "b": [2, 3]}`); up to 64 (pretty-printed output). */
  size_t mask_cache_bytes;       /**< Most bytes of token masks the grammar keeps for reuse (each takes vocab_size / 8 bytes); default 16 MiB; 0 = none (every state is computed afresh). */
} mmb_grammar_options;

/** Fills `options` with the defaults (listed with each field) in at most `struct_size`
 *  bytes and sets its struct_size to `struct_size`; bytes past it are not touched.
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT (options NULL, or struct_size not a size
 *  of mmb_grammar_options this library knows: nothing is written).
 *  Thread rules: any thread. */
MMB_API mmb_status mmb_grammar_options_init(mmb_grammar_options* options, size_t struct_size);

/** Compiles a grammar or a JSON Schema for `model`'s vocabulary.
 *  @param model the model whose tokens the grammar will choose among (kept alive by
 *  the grammar).
 *  @param kind MMB_GRAMMAR_GBNF or MMB_GRAMMAR_JSON_SCHEMA.
 *  @param text the grammar or schema, UTF-8, `len` bytes (need not be NUL-terminated).
 *  @param len length of text in bytes.
 *  @param options NULL for defaults.
 *  @param out receives the grammar; the caller owns it (mmb_grammar_destroy()).
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT (NULL model/out, text NULL with len > 0,
 *  unknown kind, bad options); MMB_ERR_GRAMMAR (the text is malformed or the grammar
 *  unusable: the message says where and why); MMB_ERR_UNSUPPORTED (the model has no
 *  tokenizer); MMB_ERR_OUT_OF_MEMORY.
 *  Thread rules: any thread; the model may be shared. */
MMB_API mmb_status mmb_grammar_create(const mmb_model* model, int32_t kind, const char* text, size_t len,
                                      const mmb_grammar_options* options, mmb_grammar** out);

/** Compiles a choice: the output is exactly one of `items` (UTF-8, at least one,
 *  none empty; duplicates are allowed and count once).
 *  @param model the model whose tokens the grammar will choose among.
 *  @param items the strings.
 *  @param lens their lengths in bytes; NULL: each item is NUL-terminated.
 *  @param n number of items.
 *  @param options NULL for defaults (root and json_whitespace are not used).
 *  @param out receives the grammar; the caller owns it (mmb_grammar_destroy()).
 *  @return as mmb_grammar_create(); MMB_ERR_INVALID_ARGUMENT also for n == 0 or a
 *  NULL item; MMB_ERR_GRAMMAR for an empty item. */
MMB_API mmb_status mmb_grammar_create_choice(const mmb_model* model, const char* const* items, const size_t* lens,
                                             size_t n, const mmb_grammar_options* options, mmb_grammar** out);

/** Releases the caller's reference; states made from the grammar keep it alive.
 *  NULL: no-op. */
MMB_API void mmb_grammar_destroy(mmb_grammar* grammar);

/** Creates a state at the grammar's start. The caller owns it. One thread at a time.
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT (NULL); MMB_ERR_OUT_OF_MEMORY.
 *  Thread rules: any thread; the grammar may be shared. */
MMB_API mmb_status mmb_grammar_state_create(mmb_grammar* grammar, mmb_grammar_state** out);

/** Destroys a state. NULL: no-op. */
MMB_API void mmb_grammar_state_destroy(mmb_grammar_state* state);

/** Copies a state (to fork a generation with its session: mmb_session_fork()).
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT; MMB_ERR_OUT_OF_MEMORY. */
MMB_API mmb_status mmb_grammar_state_clone(const mmb_grammar_state* state, mmb_grammar_state** out);

/** Returns the state to the grammar's start.
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT. */
MMB_API mmb_status mmb_grammar_state_reset(mmb_grammar_state* state);

/** Advances the state past `token` (for tokens chosen by the host, or a prompt the
 *  output continues). A stop token is accepted where the grammar may end and leaves
 *  the state unchanged.
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT (NULL, token outside [0, vocab_size));
 *  MMB_ERR_GRAMMAR (the grammar does not allow the token here: nothing changes). */
MMB_API mmb_status mmb_grammar_state_accept(mmb_grammar_state* state, int32_t token);

/** Whether the text so far is a complete output.
 *  @param state the state.
 *  @param can_end NULL, or receives 1 when the grammar may end here.
 *  @param must_end NULL, or receives 1 when it may end and no token can continue it.
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT (NULL state). */
MMB_API mmb_status mmb_grammar_state_can_end(const mmb_grammar_state* state, int32_t* can_end, int32_t* must_end);

/** Writes which tokens may come next: bit (t % 32) of words[t / 32] is set when token
 *  t is allowed (stop tokens only where the grammar may end).
 *  @param state the state (its mask is computed or taken from the grammar's cache).
 *  @param words receives the mask.
 *  @param n_words at least (vocab_size + 31) / 32.
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT (NULL); MMB_ERR_BUFFER_TOO_SMALL
 *  (n_words too small: nothing is written). */
MMB_API mmb_status mmb_grammar_state_get_mask(mmb_grammar_state* state, uint32_t* words, size_t n_words);

/** Sets every logit whose token the grammar does not allow here to -inf (for hosts
 *  that sample themselves; mmb_sampler_sample_grammar() does both).
 *  @param state the state.
 *  @param logits vocab_size values, changed in place.
 *  @param n number of logits (the model's vocab_size).
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT (NULL, n != vocab_size). */
MMB_API mmb_status mmb_grammar_state_apply(mmb_grammar_state* state, float* logits, size_t n);

/** Chooses a token as mmb_sampler_sample() does, among the tokens `state` allows,
 *  and advances the state past it (a stop token leaves it unchanged).
 *  @param sampler chooses the token (its penalty window records it).
 *  @param state the grammar state; advanced past the token.
 *  @param logits `n` logits, not modified.
 *  @param n the model's vocab_size.
 *  @param token receives the token.
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT (NULL, n != vocab_size, no allowed token
 *  has a finite logit); MMB_ERR_GRAMMAR (no token can continue the grammar). */
MMB_API mmb_status mmb_sampler_sample_grammar(mmb_sampler* sampler, mmb_grammar_state* state, const float* logits,
                                              size_t n, int32_t* token);

/** Bytes mmb_grammar_state_save() writes now.
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT. */
MMB_API mmb_status mmb_grammar_state_size(const mmb_grammar_state* state, size_t* size);

/** Saves the state (to keep it with a session's saved state). Size-then-copy.
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT; MMB_ERR_BUFFER_TOO_SMALL. */
MMB_API mmb_status mmb_grammar_state_save(const mmb_grammar_state* state, void* buf, size_t cap, size_t* len);

/** Loads a state saved from a state of the same grammar (same source, options and
 *  vocabulary).
 *  @return MMB_OK; MMB_ERR_INVALID_ARGUMENT; MMB_ERR_STATE_MISMATCH (another grammar's
 *  state); MMB_ERR_FORMAT (damaged: nothing changes). */
MMB_API mmb_status mmb_grammar_state_load(mmb_grammar_state* state, const void* buf, size_t len);

/** @} */

/** @defgroup api_table 10. Function table
 *  For hosts that dlopen the library and look up one symbol. Within one ABI version
 *  members are only ever appended: check struct_size before using a member that an
 *  older library serving the same version may lack.
 *  @{ */

/** Every function of the API, in append-only order. */
typedef struct mmb_api {
  uint32_t struct_size;   /**< sizeof(mmb_api) of the library: members past it are absent. */
  uint32_t abi_version;   /**< The ABI version this table serves. */
  const char* (*status_string)(mmb_status); /**< mmb_status_string() */
  const char* (*last_error)(void); /**< mmb_last_error() */
  uint32_t (*version)(void); /**< mmb_version() */
  const char* (*version_string)(void); /**< mmb_version_string() */
  mmb_status (*runtime_options_init)(mmb_runtime_options*, size_t); /**< mmb_runtime_options_init() */
  mmb_status (*runtime_create)(const mmb_runtime_options*, mmb_runtime**); /**< mmb_runtime_create() */
  void (*runtime_destroy)(mmb_runtime*); /**< mmb_runtime_destroy() */
  mmb_status (*runtime_get_backend)(const mmb_runtime*, int32_t*, int32_t*); /**< mmb_runtime_get_backend() */
  mmb_status (*load_options_init)(mmb_load_options*, size_t); /**< mmb_load_options_init() */
  mmb_status (*model_load_file)(mmb_runtime*, const char*, const mmb_load_options*, mmb_model**); /**< mmb_model_load_file() */
  mmb_status (*model_load_memory)(mmb_runtime*, const void*, size_t, const mmb_load_options*, mmb_model**); /**< mmb_model_load_memory() */
  mmb_status (*model_load_io)(mmb_runtime*, const mmb_io*, const mmb_load_options*, mmb_model**); /**< mmb_model_load_io() */
  mmb_status (*model_get_info)(const mmb_model*, mmb_model_info*); /**< mmb_model_get_info() */
  mmb_status (*model_get_meta)(const mmb_model*, const char*, char*, size_t, size_t*); /**< mmb_model_get_meta() */
  void (*model_destroy)(mmb_model*); /**< mmb_model_destroy() */
  mmb_status (*session_options_init)(mmb_session_options*, size_t); /**< mmb_session_options_init() */
  mmb_status (*session_create)(mmb_model*, const mmb_session_options*, mmb_session**); /**< mmb_session_create() */
  void (*session_destroy)(mmb_session*); /**< mmb_session_destroy() */
  mmb_status (*session_reset)(mmb_session*); /**< mmb_session_reset() */
  mmb_status (*session_get_position)(const mmb_session*, uint64_t*); /**< mmb_session_get_position() */
  mmb_model* (*session_get_model)(const mmb_session*); /**< mmb_session_get_model() */
  mmb_status (*session_step)(mmb_session*, int32_t, float*, size_t); /**< mmb_session_step() */
  mmb_status (*prefill_options_init)(mmb_prefill_options*, size_t); /**< mmb_prefill_options_init() */
  mmb_status (*session_prefill)(mmb_session*, const int32_t*, size_t, float*, size_t); /**< mmb_session_prefill() */
  mmb_status (*session_prefill_ex)(mmb_session*, const int32_t*, size_t, float*, size_t, const mmb_prefill_options*); /**< mmb_session_prefill_ex() */
  mmb_status (*step_batch)(mmb_session* const*, const int32_t*, size_t, float*, size_t); /**< mmb_step_batch() */
  mmb_status (*session_state_size)(const mmb_session*, size_t*); /**< mmb_session_state_size() */
  mmb_status (*session_state_save)(const mmb_session*, void*, size_t, size_t*); /**< mmb_session_state_save() */
  mmb_status (*session_state_load)(mmb_session*, const void*, size_t); /**< mmb_session_state_load() */
  mmb_status (*session_fork)(const mmb_session*, mmb_session**); /**< mmb_session_fork() */
  mmb_status (*tokenize)(const mmb_model*, const char*, size_t, int32_t*, size_t, size_t*, uint32_t); /**< mmb_tokenize() */
  mmb_status (*token_to_bytes)(const mmb_model*, int32_t, char*, size_t, size_t*); /**< mmb_token_to_bytes() */
  mmb_status (*detokenizer_create)(const mmb_model*, mmb_detokenizer**); /**< mmb_detokenizer_create() */
  void (*detokenizer_destroy)(mmb_detokenizer*); /**< mmb_detokenizer_destroy() */
  mmb_status (*detokenizer_push)(mmb_detokenizer*, int32_t, char*, size_t, size_t*); /**< mmb_detokenizer_push() */
  mmb_status (*detokenizer_flush)(mmb_detokenizer*, char*, size_t, size_t*); /**< mmb_detokenizer_flush() */
  mmb_status (*sampler_params_init)(mmb_sampler_params*, size_t); /**< mmb_sampler_params_init() */
  mmb_status (*sampler_create)(const mmb_sampler_params*, mmb_sampler**); /**< mmb_sampler_create() */
  void (*sampler_destroy)(mmb_sampler*); /**< mmb_sampler_destroy() */
  mmb_status (*sampler_reset)(mmb_sampler*); /**< mmb_sampler_reset() */
  mmb_status (*sampler_accept)(mmb_sampler*, int32_t); /**< mmb_sampler_accept() */
  mmb_status (*sampler_sample)(mmb_sampler*, const float*, size_t, int32_t*); /**< mmb_sampler_sample() */
  mmb_status (*generate_options_init)(mmb_generate_options*, size_t); /**< mmb_generate_options_init() */
  mmb_status (*generate)(mmb_session*, mmb_sampler*, const char*, size_t, const mmb_generate_options*, mmb_token_callback, void*); /**< mmb_generate() */
  /* Appended: jobs, frames and session paging. */
  mmb_status (*job_options_init)(mmb_job_options*, size_t); /**< mmb_job_options_init() */
  mmb_status (*job_submit_text)(mmb_session*, mmb_sampler*, const char*, size_t, const mmb_job_options*, mmb_job**); /**< mmb_job_submit_text() */
  mmb_status (*job_submit_tokens)(mmb_session*, mmb_sampler*, const int32_t*, size_t, const mmb_job_options*, mmb_job**); /**< mmb_job_submit_tokens() */
  mmb_status (*job_poll)(mmb_job*, int32_t*, mmb_status*); /**< mmb_job_poll() */
  mmb_status (*job_read_text)(mmb_job*, char*, size_t, size_t*); /**< mmb_job_read_text() */
  mmb_status (*job_read_tokens)(mmb_job*, int32_t*, size_t, size_t*); /**< mmb_job_read_tokens() */
  mmb_status (*job_wait)(mmb_job*, uint32_t, int32_t*); /**< mmb_job_wait() */
  mmb_status (*job_cancel)(mmb_job*); /**< mmb_job_cancel() */
  void (*job_destroy)(mmb_job*); /**< mmb_job_destroy() */
  mmb_status (*runtime_frame)(mmb_runtime*, uint64_t, mmb_frame_stats*); /**< mmb_runtime_frame() */
  mmb_status (*runtime_get_session_memory)(const mmb_runtime*, mmb_session_memory*); /**< mmb_runtime_get_session_memory() */
  mmb_status (*session_page_out)(mmb_session*); /**< mmb_session_page_out() */
  /* Appended in 0.4: the backend's description. */
  mmb_status (*runtime_get_backend_info)(const mmb_runtime*, mmb_backend_info*); /**< mmb_runtime_get_backend_info() */
  /* Appended in 0.6: chat templates and conversations. */
  mmb_status (*chat_render)(const mmb_model*, const char*, const mmb_chat_message*, size_t, int32_t, char*, size_t, size_t*); /**< mmb_chat_render() */
  mmb_status (*chat_options_init)(mmb_chat_options*, size_t); /**< mmb_chat_options_init() */
  mmb_status (*chat_create)(mmb_model*, const mmb_chat_options*, mmb_chat**); /**< mmb_chat_create() */
  void (*chat_destroy)(mmb_chat*); /**< mmb_chat_destroy() */
  mmb_session* (*chat_get_session)(mmb_chat*); /**< mmb_chat_get_session() */
  mmb_status (*chat_add)(mmb_chat*, const char*, const char*); /**< mmb_chat_add() */
  mmb_status (*chat_get_message_count)(const mmb_chat*, size_t*); /**< mmb_chat_get_message_count() */
  mmb_status (*chat_get_message)(const mmb_chat*, size_t, char*, size_t, size_t*, char*, size_t, size_t*); /**< mmb_chat_get_message() */
  mmb_status (*chat_prefill)(mmb_chat*, mmb_chat_stats*); /**< mmb_chat_prefill() */
  mmb_status (*chat_generate)(mmb_chat*, mmb_sampler*, const mmb_generate_options*, mmb_token_callback, void*, mmb_chat_stats*); /**< mmb_chat_generate() */
  mmb_status (*chat_reset)(mmb_chat*); /**< mmb_chat_reset() */
  mmb_status (*chat_state_size)(const mmb_chat*, size_t*); /**< mmb_chat_state_size() */
  mmb_status (*chat_state_save)(const mmb_chat*, void*, size_t, size_t*); /**< mmb_chat_state_save() */
  mmb_status (*chat_state_load)(mmb_chat*, const void*, size_t); /**< mmb_chat_state_load() */
  mmb_status (*model_get_stop_tokens)(const mmb_model*, int32_t*, size_t, size_t*); /**< mmb_model_get_stop_tokens() */
  mmb_status (*grammar_options_init)(mmb_grammar_options*, size_t); /**< mmb_grammar_options_init() */
  mmb_status (*grammar_create)(const mmb_model*, int32_t, const char*, size_t, const mmb_grammar_options*, mmb_grammar**); /**< mmb_grammar_create() */
  mmb_status (*grammar_create_choice)(const mmb_model*, const char* const*, const size_t*, size_t, const mmb_grammar_options*, mmb_grammar**); /**< mmb_grammar_create_choice() */
  void (*grammar_destroy)(mmb_grammar*); /**< mmb_grammar_destroy() */
  mmb_status (*grammar_state_create)(mmb_grammar*, mmb_grammar_state**); /**< mmb_grammar_state_create() */
  void (*grammar_state_destroy)(mmb_grammar_state*); /**< mmb_grammar_state_destroy() */
  mmb_status (*grammar_state_clone)(const mmb_grammar_state*, mmb_grammar_state**); /**< mmb_grammar_state_clone() */
  mmb_status (*grammar_state_reset)(mmb_grammar_state*); /**< mmb_grammar_state_reset() */
  mmb_status (*grammar_state_accept)(mmb_grammar_state*, int32_t); /**< mmb_grammar_state_accept() */
  mmb_status (*grammar_state_can_end)(const mmb_grammar_state*, int32_t*, int32_t*); /**< mmb_grammar_state_can_end() */
  mmb_status (*grammar_state_get_mask)(mmb_grammar_state*, uint32_t*, size_t); /**< mmb_grammar_state_get_mask() */
  mmb_status (*grammar_state_apply)(mmb_grammar_state*, float*, size_t); /**< mmb_grammar_state_apply() */
  mmb_status (*sampler_sample_grammar)(mmb_sampler*, mmb_grammar_state*, const float*, size_t, int32_t*); /**< mmb_sampler_sample_grammar() */
  mmb_status (*grammar_state_size)(const mmb_grammar_state*, size_t*); /**< mmb_grammar_state_size() */
  mmb_status (*grammar_state_save)(const mmb_grammar_state*, void*, size_t, size_t*); /**< mmb_grammar_state_save() */
  mmb_status (*grammar_state_load)(mmb_grammar_state*, const void*, size_t); /**< mmb_grammar_state_load() */
} mmb_api;

/** The function table for ABI version `abi_version`, or NULL if this library cannot
 *  serve it. This library serves version 2 only (version 1, whose *_init members took
 *  no struct_size, is gone since 0.3). The table is static: never free it. */
MMB_API const mmb_api* mmb_get_api(uint32_t abi_version);

/** @} */

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MOEMAMBA_H */
