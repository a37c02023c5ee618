// One stream of text on a model: its position and its backend's SessionCompute (the
// recurrent state and the scratch memory stepping needs), all allocated at creation
// so stepping never allocates. The C API checks arguments; this class assumes them valid.
#pragma once

#include "backend/backend.hpp"
#include "base/function_ref.hpp"
#include "model/model.hpp"
#include "runtime/state_blob.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace mmb {

class Runtime;

class Session {
 public:
  // options.max_tokens: the context limit of a model with attention layers (0: the
  // model's default context).
  Session(const Model& model, const Runtime& runtime, ContextOptions options = {});
  Session(const Session& other);  // fork: a deep copy, independent afterwards
  Session& operator=(const Session&) = delete;

  const Model& model() const { return model_; }
  uint64_t position() const { return position_; }
  const ContextOptions& context() const { return options_; }
  // Tokens the session can still take: its context limit minus its position for a
  // model with attention layers, else unlimited (UINT64_MAX).
  uint64_t context_left() const;
  // Throws MMB_ERR_CONTEXT_FULL unless n more tokens fit the context.
  void check_room(uint64_t n) const;
  void reset();

  void step(int32_t token, float* logits);
  // Tokens the backend takes per prefill call; prefill() reports progress between them.
  size_t prefill_chunk() const { return model_.compute().prefill_chunk(); }
  // Consumes tokens in chunks of kChunksPerProgress backend chunks; progress(done,
  // total) between them may return false to stop after a whole chunk. Returns false
  // when stopped that way.
  static constexpr size_t kChunksPerProgress = 4;
  bool prefill(const int32_t* tokens, size_t n, float* logits, FunctionRef<bool(uint64_t, uint64_t)>* progress);
  // Steps distinct sessions of one model by one token each; logits row i at
  // logits + i * stride (logits may be null).
  static void step_batch(Session* const* sessions, const int32_t* tokens, size_t n, float* logits, size_t stride);

  // The same work in stages (ModelCompute::stages()), so that a frame may stop between
  // two: stages [first, last) of step_batch(), or of a prefill of one chunk (n <=
  // prefill_chunk(), no progress). The first stage checks room, the last advances
  // positions; between them the same arguments are given again and nothing else may
  // use the sessions (the scheduler keeps them busy).
  size_t stages() const { return model_.compute().stages(); }
  static void step_batch_stages(Session* const* sessions, const int32_t* tokens, size_t n, float* logits,
                                size_t stride, size_t first, size_t last);
  void prefill_chunk_stages(const int32_t* tokens, size_t n, float* logits, size_t first, size_t last);
  // Undoing a chunk begun with prefill_chunk_stages() and never finished (a cancel
  // between its stages): save_recurrent_state() before its first stage
  // (recurrent_state_floats() floats), abandon_chunk() with that copy afterwards. The
  // position and the counted KV entries change only at the last stage, so the state
  // and the chunk's KV pages are all there is to give back.
  size_t recurrent_state_floats() const { return model_.state_floats(); }
  void save_recurrent_state(float* out) const { compute_->read_state(out); }
  void abandon_chunk(const float* state_before);

  // Bytes of host memory a new session holds: state, stepping scratch, empty KV cache.
  static size_t resident_bytes(const Model& model, const ContextOptions& options) {
    return model.compute().session_host_bytes(resolved(model, options));
  }
  // Bytes this session holds now (its KV cache grows with its position); 0 when paged out.
  size_t resident_bytes() const { return compute_ ? compute_->host_bytes() : 0; }
  // Options with the model's defaults filled in.
  static ContextOptions resolved(const Model& model, ContextOptions options);
  // Paging (runtime/session_pager.hpp decides when): page_out() compresses the state
  // blob into `compressed` and frees state and scratch; page_in() restores them
  // exactly. Nothing but position() may be used while paged out.
  bool resident() const { return compute_ != nullptr; }
  void page_out(std::vector<std::byte>& compressed);
  void page_in(const std::vector<std::byte>& compressed);

  size_t state_blob_size() const;
  void save_state(void* buf) const;  // state_blob_size() bytes
  // Verifies the blob completely before changing anything (see state_blob.hpp).
  // MMB_ERR_CONTEXT_FULL when its position exceeds this session's context limit.
  void load_state(const void* buf, size_t size);

 private:
  // The KV part of this session's saved state; none for a model without attention.
  std::optional<StateKv> kv_part() const;
  // Writes a checked blob's state and KV cache into `compute`.
  void restore(SessionCompute& compute, const void* buf, size_t size);

  const Model& model_;
  ContextOptions options_;
  OwnedBy<SessionCompute> compute_;
  uint64_t position_ = 0;
};

}  // namespace mmb
