// One stream of text on a model: its recurrent state, its position, and the
// scratch memory stepping needs, all allocated at creation so stepping never
// allocates. The C API checks arguments; this class assumes them valid.
#pragma once

#include "backend/cpu/forward.hpp"
#include "base/function_ref.hpp"
#include "base/host_allocator.hpp"
#include "model/model.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mmb {

class Runtime;

class Session {
 public:
  // Tokens per prefill chunk: projections run as matrix-matrix work over a chunk.
  static constexpr size_t kPrefillChunk = 16;

  Session(const Model& model, const Runtime& runtime);
  Session(const Session& other);  // fork: a deep copy, independent afterwards
  Session& operator=(const Session&) = delete;

  const Model& model() const { return model_; }
  uint64_t position() const { return position_; }
  void reset();

  void step(int32_t token, float* logits);
  // Consumes tokens in chunks; progress(done, total) between chunks may return false
  // to stop after a whole chunk. Returns false when stopped that way.
  bool prefill(const int32_t* tokens, size_t n, float* logits, FunctionRef<bool(uint64_t, uint64_t)>* progress);
  // Steps distinct sessions of one model by one token each; logits row i at
  // logits + i * stride (logits may be null).
  static void step_batch(Session* const* sessions, const int32_t* tokens, size_t n, float* logits, size_t stride);

  // Bytes of memory a resident session of `model` holds: state and stepping scratch.
  static size_t resident_bytes(const Model& model);
  // Paging (runtime/session_pager.hpp decides when): page_out() compresses the state
  // blob into `compressed` and frees state and scratch; page_in() restores them
  // exactly. Nothing but position() may be used while paged out.
  bool resident() const { return resident_; }
  void page_out(std::vector<std::byte>& compressed);
  void page_in(const std::vector<std::byte>& compressed);

  size_t state_blob_size() const;
  void save_state(void* buf) const;  // state_blob_size() bytes
  // Verifies the blob completely before changing anything (see state_blob.hpp).
  void load_state(const void* buf, size_t size);

 private:
  void carve();

  const Model& model_;
  const Runtime& runtime_;
  HostBuffer<float> state_;
  HostBuffer<float> scratch_;
  cpu::RowScratch rows_[kPrefillChunk];
  uint64_t position_ = 0;
  bool resident_ = true;
};

}  // namespace mmb
