// The backend interface: what sessions ask of the hardware that runs the model.
// A Backend belongs to a runtime (the CPU and its thread pool, or one CUDA device);
// it prepares each model loaded on that runtime (ModelCompute: weights where the
// backend reads them), and a prepared model makes each session's SessionCompute (its
// recurrent state and the memory stepping needs, where the backend keeps them).
//
// Everything here lives in the runtime's memory (the host's allocator hooks): objects
// are made with make_host and end through their own destroy(), which knows the real
// type and size. Failures throw mmb::Error (MMB_ERR_BACKEND, MMB_ERR_OUT_OF_MEMORY) or
// std::bad_alloc; the C API turns them into statuses.
#pragma once

#include <moemamba/moemamba.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace mmb {

class Model;
struct ModelConfig;

// Ends an object made with make_host whose concrete type only the object knows.
template <typename T>
struct DestroyDeleter {
  void operator()(T* p) const noexcept { p->destroy(); }
};
template <typename T>
using OwnedBy = std::unique_ptr<T, DestroyDeleter<T>>;

// The element type of a session's KV cache (models with attention layers).
enum class KvType : uint8_t { F16 = 0, F32 = 1 };
inline size_t kv_element_size(KvType type) { return type == KvType::F16 ? 2 : 4; }

// What a session is made with: the most tokens its KV cache may hold (its context
// limit) and their element type. Models without attention layers ignore both.
struct ContextOptions {
  uint64_t max_tokens = 0;
  KvType kv_type = KvType::F16;
};

class SessionCompute {
 public:
  virtual void destroy() noexcept = 0;
  // The state is Model::state_floats() floats in the layout model_weights.hpp gives
  // (LayerWeights::state_offset), on every backend, so saved states move between them.
  // The buffers hold the floats' bytes at any alignment.
  virtual void read_state(void* out) const = 0;
  virtual void write_state(const void* in) = 0;  // nullptr: zeros
  // Same model and options: the state and the used part of the KV cache.
  virtual void copy_state_from(const SessionCompute& other) = 0;

  // The KV cache holds one entry per token stepped (or written by write_kv); write_kv
  // with 0 tokens empties it and gives its pages back. kv_tokens() counts them.
  virtual uint64_t kv_tokens() const = 0;
  // The first kv_tokens() entries in the portable layout (backend/cpu/kv_cache.hpp), in
  // the session's KV element type; kv_bytes(tokens) bytes.
  virtual void read_kv(void* out) const = 0;
  // Replaces the cache with `tokens` entries in the portable layout, elements of type
  // `from` (converted when it is not the session's own). Throws std::bad_alloc before
  // changing anything when the pages cannot be had.
  virtual void write_kv(const void* in, uint64_t tokens, KvType from) = 0;
  // Holds pages for exactly the entries [0, tokens), tokens >= kv_tokens(): takes the
  // missing ones (std::bad_alloc with nothing changed when they cannot be had) and gives
  // back those past them. A prompt's pages are taken before any of it is consumed.
  virtual void hold_kv(uint64_t tokens) = 0;
  // Host memory the session holds now: state, stepping scratch and KV pages.
  virtual size_t host_bytes() const = 0;

 protected:
  ~SessionCompute() = default;
};

class ModelCompute {
 public:
  virtual void destroy() noexcept = 0;
  // A session with a zeroed state and an empty KV cache.
  virtual OwnedBy<SessionCompute> create_session(const ContextOptions& options) const = 0;
  // Host memory a new session holds (state, stepping scratch, an empty KV cache), for
  // the pager's budget.
  virtual size_t session_host_bytes(const ContextOptions& options) const = 0;

  // One token for each of n distinct sessions; each session's KV cache, if any, gains
  // an entry (the caller keeps it within the session's limit). Logits row i at logits + i * stride
  // when logits is not null.
  virtual void step(SessionCompute* const* sessions, const int32_t* tokens, size_t n, float* logits,
                    size_t stride) const = 0;
  // n tokens of one session in order, equal to n steps; the last token's logits when
  // logits is not null.
  virtual void prefill(SessionCompute& session, const int32_t* tokens, size_t n, float* logits) const = 0;
  // Tokens a short prefill call takes: a job's unit of prompt work. A call may be given
  // more (the blocking prefill gives a few chunks at a time).
  virtual size_t prefill_chunk() const = 0;

  // Steps and short prefill calls in stages, so that a frame's budget may stop the work
  // between two and take it up at the next frame; the rows' activations wait in the
  // sessions' scratch meanwhile. Running every stage in one call is step() or prefill().
  // A backend that runs a call whole has one stage (the defaults).
  virtual size_t stages() const { return 1; }
  // Stages [first, last) of step(): the first takes the KV entries, the last advances
  // the sessions. Between the calls of one step the same arguments are given again,
  // and nothing else uses these sessions.
  virtual void step_stages(SessionCompute* const* sessions, const int32_t* tokens, size_t n, float* logits,
                           size_t stride, size_t first, size_t last) const {
    if (first == 0 && last >= stages()) step(sessions, tokens, n, logits, stride);
  }
  // Stages [first, last) of prefill() for n <= prefill_chunk() tokens, as step_stages().
  virtual void prefill_stages(SessionCompute& session, const int32_t* tokens, size_t n, float* logits, size_t first,
                              size_t last) const {
    if (first == 0 && last >= stages()) prefill(session, tokens, n, logits);
  }

 protected:
  ~ModelCompute() = default;
};

// What mmb_runtime_get_backend_info reports.
struct BackendDescription {
  int32_t kind = MMB_BACKEND_CPU;
  int32_t device_index = -1;  // -1 on the CPU
  std::string device_name;
  uint64_t device_memory_total = 0;
  uint64_t device_memory_used = 0;  // by this runtime's models and sessions
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual int32_t kind() const = 0;
  virtual BackendDescription describe() const = 0;
  // Empty when this backend runs every layer kind and option of `config`; else why not
  // (the first layer it cannot run). prepare() refuses such a model (MMB_ERR_UNSUPPORTED).
  virtual std::string unsupported(const ModelConfig& config) const { return {}; }
  // Prepares a model whose config and weights are bound (called once, at load).
  virtual OwnedBy<ModelCompute> prepare(const Model& model) const = 0;
  // The memory bandwidth a step's reads are bound by, measured now (bytes read per
  // second), for the benchmarks; 0 when the backend leaves it to the host's memory.
  virtual double measure_read_bandwidth() const { return 0.0; }
};

}  // namespace mmb
