#include "runtime/session.hpp"

#include "backend/cpu/linear.hpp"
#include "runtime/runtime.hpp"
#include "runtime/state_blob.hpp"
#include "runtime/state_compression.hpp"

#include <algorithm>
#include <cstring>

namespace mmb {

Session::Session(const Model& model, const Runtime& runtime)
    : model_(model),
      runtime_(runtime),
      state_(runtime.allocator(), model.state_floats()),
      scratch_(runtime.allocator(), cpu::row_scratch_floats(model) * kPrefillChunk) {
  carve();
}

Session::Session(const Session& other)
    : model_(other.model_),
      runtime_(other.runtime_),
      state_(other.runtime_.allocator(), other.state_.size(), false),
      scratch_(other.runtime_.allocator(), other.scratch_.size()),
      position_(other.position_) {
  if (state_.size()) std::memcpy(state_.data(), other.state_.data(), state_.size() * sizeof(float));
  carve();
}

void Session::carve() {
  const size_t per_row = cpu::row_scratch_floats(model_);
  for (size_t i = 0; i < kPrefillChunk; ++i) rows_[i] = cpu::carve_row_scratch(model_, scratch_.data() + i * per_row);
}

void Session::reset() {
  if (state_.size()) std::memset(state_.data(), 0, state_.size() * sizeof(float));
  position_ = 0;
}

void Session::step(int32_t token, float* logits) {
  cpu::Row row{token, state_.data(), &rows_[0], logits};
  cpu::forward(model_, runtime_.pool(), &row, 1);
  ++position_;
}

bool Session::prefill(const int32_t* tokens, size_t n, float* logits, FunctionRef<bool(uint64_t, uint64_t)>* progress) {
  cpu::Row rows[kPrefillChunk];
  for (size_t done = 0; done < n;) {
    const size_t m = std::min(kPrefillChunk, n - done);
    for (size_t i = 0; i < m; ++i) {
      const bool last = done + i + 1 == n;
      rows[i] = {tokens[done + i], state_.data(), &rows_[i], last ? logits : nullptr};
    }
    cpu::forward(model_, runtime_.pool(), rows, m);
    done += m;
    position_ += m;
    if (progress && done < n && !(*progress)(done, n)) return false;
  }
  return true;
}

void Session::step_batch(Session* const* sessions, const int32_t* tokens, size_t n, float* logits, size_t stride) {
  cpu::Row rows[cpu::kMaxLinearBatch];
  for (size_t start = 0; start < n; start += cpu::kMaxLinearBatch) {
    const size_t m = std::min(cpu::kMaxLinearBatch, n - start);
    for (size_t i = 0; i < m; ++i) {
      Session* s = sessions[start + i];
      rows[i] = {tokens[start + i], s->state_.data(), &s->rows_[0], logits ? logits + (start + i) * stride : nullptr};
    }
    const Session& first = *sessions[start];
    cpu::forward(first.model_, first.runtime_.pool(), rows, m);
    for (size_t i = 0; i < m; ++i) ++sessions[start + i]->position_;
  }
}

size_t Session::resident_bytes(const Model& model) {
  return (model.state_floats() + cpu::row_scratch_floats(model) * kPrefillChunk) * sizeof(float);
}

void Session::page_out(std::vector<std::byte>& compressed) {
  std::vector<std::byte> blob(state_blob_size());
  save_state(blob.data());
  compressed = compress_state(blob.data(), blob.size());
  state_ = HostBuffer<float>();
  scratch_ = HostBuffer<float>();
  resident_ = false;
}

void Session::page_in(const std::vector<std::byte>& compressed) {
  const std::vector<std::byte> blob = decompress_state(compressed, state_blob_size());
  HostBuffer<float> state(runtime_.allocator(), model_.state_floats(), false);
  HostBuffer<float> scratch(runtime_.allocator(), cpu::row_scratch_floats(model_) * kPrefillChunk);
  StateBlobView view = check_state_blob(blob.data(), blob.size(), model_.fingerprint(), model_.state_floats());
  if (state.size()) std::memcpy(state.data(), view.payload, state.size() * sizeof(float));
  state_ = std::move(state);
  scratch_ = std::move(scratch);
  carve();
  position_ = view.position;
  resident_ = true;
}

size_t Session::state_blob_size() const { return kStateHeaderSize + model_.state_floats() * sizeof(float); }

void Session::save_state(void* buf) const {
  write_state_blob(buf, model_.fingerprint(), position_, state_.data(), state_.size());
}

void Session::load_state(const void* buf, size_t size) {
  StateBlobView blob = check_state_blob(buf, size, model_.fingerprint(), state_.size());
  if (state_.size()) std::memcpy(state_.data(), blob.payload, state_.size() * sizeof(float));
  position_ = blob.position;
}

}  // namespace mmb
