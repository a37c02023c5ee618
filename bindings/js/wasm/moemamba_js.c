/* The JavaScript binding's side of moemamba.wasm: a few calls with scalar arguments
 * over the C interface, so that bindings/js/moemamba.js never lays out a C struct by
 * hand. Everything else it calls (mmb_job_cancel, mmb_last_error, the destroy
 * functions) is exported from moemamba.h as it is. Pointers are wasm32 offsets;
 * 64-bit values cross as doubles. */
#include <moemamba/moemamba.h>

#include <emscripten/emscripten.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A runtime whose jobs only the host's calls advance (MMB_JOBS_FRAME): the browser's
 * main thread, a worker's message loop or requestAnimationFrame drives them. */
EMSCRIPTEN_KEEPALIVE mmb_runtime* mmbjs_runtime_create(int32_t n_threads) {
  mmb_runtime_options o;
  mmb_runtime_options_init(&o, sizeof o);
  o.backend = MMB_BACKEND_CPU;
  o.n_threads = n_threads;
  o.job_mode = MMB_JOBS_FRAME;
  mmb_runtime* runtime = NULL;
  return mmb_runtime_create(&o, &runtime) == MMB_OK ? runtime : NULL;
}

EMSCRIPTEN_KEEPALIVE int32_t mmbjs_runtime_threads(const mmb_runtime* runtime) {
  int32_t backend = 0, threads = 0;
  return mmb_runtime_get_backend(runtime, &backend, &threads) == MMB_OK ? threads : -1;
}

/* Memory for a bundle's bytes: 64-byte aligned, so that uncompressed tensors are used
 * in place (mmb_model_load_memory borrows them). */
EMSCRIPTEN_KEEPALIVE void* mmbjs_alloc_bundle(double size) {
  if (!(size >= 0 && size <= (double)(SIZE_MAX - 63))) return NULL;  /* past wasm32's address space */
  const size_t n = (size_t)size;
  return aligned_alloc(64, (n + 63) & ~(size_t)63);
}

EMSCRIPTEN_KEEPALIVE void mmbjs_free(void* p) { free(p); }
EMSCRIPTEN_KEEPALIVE void* mmbjs_malloc(double size) {
  return size >= 0 && size <= (double)(SIZE_MAX - 63) ? malloc((size_t)size) : NULL;
}

/* Returns the status; the model goes to *out. The bytes stay borrowed until the
 * model and its sessions are gone (the binding frees them then). */
EMSCRIPTEN_KEEPALIVE mmb_status mmbjs_model_load(mmb_runtime* runtime, const void* data, double size,
                                                 int32_t skip_checksums, mmb_model** out) {
  mmb_load_options o;
  mmb_load_options_init(&o, sizeof o);
  if (skip_checksums) o.flags |= MMB_LOAD_SKIP_CHECKSUMS;
  return mmb_model_load_memory(runtime, data, (size_t)size, &o, out);
}

/* A few fields of mmb_model_info: 0 vocab_size, 1 n_layers, 2 d_model, 3 eos token. */
EMSCRIPTEN_KEEPALIVE int32_t mmbjs_model_info(const mmb_model* model, int32_t field) {
  mmb_model_info info;
  memset(&info, 0, sizeof info);
  info.struct_size = sizeof info;
  if (mmb_model_get_info(model, &info) != MMB_OK) return -1;
  switch (field) {
    case 0: return info.vocab_size;
    case 1: return info.n_layers;
    case 2: return info.d_model;
    case 3: return info.eos_id;
    default: return -1;
  }
}

EMSCRIPTEN_KEEPALIVE mmb_status mmbjs_session_create(mmb_model* model, mmb_session** out) {
  return mmb_session_create(model, NULL, out);
}

EMSCRIPTEN_KEEPALIVE mmb_status mmbjs_sampler_create(double temperature, int32_t top_k, double top_p, double min_p,
                                                     double repeat_penalty, int32_t penalty_window, double seed,
                                                     mmb_sampler** out) {
  mmb_sampler_params p;
  mmb_sampler_params_init(&p, sizeof p);
  p.temperature = (float)temperature;
  p.top_k = top_k;
  p.top_p = (float)top_p;
  p.min_p = (float)min_p;
  p.repetition_penalty = (float)repeat_penalty;
  p.penalty_window = penalty_window;
  p.seed = (uint64_t)seed;
  return mmb_sampler_create(&p, out);
}

/* A job: `prompt` is UTF-8 (len bytes); sampler NULL consumes the prompt only. */
EMSCRIPTEN_KEEPALIVE mmb_status mmbjs_job_submit(mmb_session* session, mmb_sampler* sampler, const char* prompt,
                                                 double len, int32_t max_tokens, int32_t add_bos,
                                                 int32_t stop_at_eos, const char* stop_text, double stop_len,
                                                 mmb_job** out) {
  mmb_job_options o;
  mmb_job_options_init(&o, sizeof o);
  o.max_tokens = max_tokens;
  o.stop_at_eos = stop_at_eos;
  o.tokenize_flags = add_bos ? MMB_TOKENIZE_ADD_BOS : 0;
  o.stop_text = stop_text;
  o.stop_text_len = (size_t)stop_len;
  return mmb_job_submit_text(session, sampler, prompt, (size_t)len, &o, out);
}

/* The job's state (MMB_JOB_*) and, through *result, its result status. */
EMSCRIPTEN_KEEPALIVE int32_t mmbjs_job_poll(mmb_job* job, mmb_status* result) {
  int32_t state = -1;
  return mmb_job_poll(job, &state, result) == MMB_OK ? state : -1;
}

/* Takes the text produced since the last call into a buffer the binding frees; its
 * length goes to *len. NULL with *len 0: nothing new. */
EMSCRIPTEN_KEEPALIVE char* mmbjs_job_read_text(mmb_job* job, size_t* len) {
  *len = 0;
  size_t need = 0;
  mmb_status s = mmb_job_read_text(job, NULL, 0, &need);
  if (s == MMB_OK || need == 0) return NULL;
  char* buf = malloc(need);
  if (!buf) return NULL;
  if (mmb_job_read_text(job, buf, need, len) != MMB_OK) {
    free(buf);
    *len = 0;
    return NULL;
  }
  return buf;
}

/* One frame's work: stats[0] steps, [1] tokens generated, [2] prompt tokens, [3] time
 * in microseconds, [4] unfinished jobs, [5] jobs finished in this call. */
EMSCRIPTEN_KEEPALIVE mmb_status mmbjs_runtime_frame(mmb_runtime* runtime, double budget_us, double* stats) {
  mmb_frame_stats f;
  memset(&f, 0, sizeof f);
  f.struct_size = sizeof f;
  const mmb_status s = mmb_runtime_frame(runtime, (uint64_t)budget_us, &f);
  if (s == MMB_OK && stats) {
    stats[0] = f.steps;
    stats[1] = (double)f.tokens_generated;
    stats[2] = (double)f.prompt_tokens;
    stats[3] = (double)f.time_us;
    stats[4] = f.jobs_active;
    stats[5] = f.jobs_finished;
  }
  return s;
}

/* Token ids of `text` into a buffer the binding frees; the count goes to *n. */
EMSCRIPTEN_KEEPALIVE int32_t* mmbjs_tokenize(const mmb_model* model, const char* text, double len, int32_t add_bos,
                                             size_t* n) {
  *n = 0;
  size_t need = 0;
  const uint32_t flags = add_bos ? MMB_TOKENIZE_ADD_BOS : 0;
  mmb_status s = mmb_tokenize(model, text, (size_t)len, NULL, 0, &need, flags);
  if (s != MMB_OK && s != MMB_ERR_BUFFER_TOO_SMALL) return NULL;
  int32_t* tokens = malloc((need ? need : 1) * sizeof *tokens);
  if (!tokens) return NULL;
  if (need && mmb_tokenize(model, text, (size_t)len, tokens, need, n, flags) != MMB_OK) {
    free(tokens);
    return NULL;
  }
  return tokens;
}
