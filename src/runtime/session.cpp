#include "runtime/session.hpp"

#include "base/host_allocator.hpp"
#include "runtime/runtime.hpp"
#include "runtime/state_blob.hpp"
#include "runtime/state_compression.hpp"

#include <algorithm>

namespace mmb {

Session::Session(const Model& model, const Runtime&) : model_(model), compute_(model.compute().create_session()) {}

Session::Session(const Session& other)
    : model_(other.model_), compute_(other.model_.compute().create_session()), position_(other.position_) {
  compute_->copy_state_from(*other.compute_);
}

void Session::reset() {
  compute_->write_state(nullptr);
  position_ = 0;
}

void Session::step(int32_t token, float* logits) {
  SessionCompute* one = compute_.get();
  model_.compute().step(&one, &token, 1, logits, 0);
  ++position_;
}

bool Session::prefill(const int32_t* tokens, size_t n, float* logits, FunctionRef<bool(uint64_t, uint64_t)>* progress) {
  const ModelCompute& compute = model_.compute();
  // Progress goes to the host every few backend chunks: the backend may then group
  // more tokens per pass over the weights.
  const size_t chunk = compute.prefill_chunk() * kChunksPerProgress;
  for (size_t done = 0; done < n;) {
    const size_t m = std::min(chunk, n - done);
    compute.prefill(*compute_, tokens + done, m, done + m == n ? logits : nullptr);
    done += m;
    position_ += m;
    if (progress && done < n && !(*progress)(done, n)) return false;
  }
  return true;
}

void Session::step_batch(Session* const* sessions, const int32_t* tokens, size_t n, float* logits, size_t stride) {
  constexpr size_t kGroup = 256;
  SessionCompute* computes[kGroup];
  const ModelCompute& compute = sessions[0]->model_.compute();
  for (size_t start = 0; start < n; start += kGroup) {
    const size_t m = std::min(kGroup, n - start);
    for (size_t i = 0; i < m; ++i) computes[i] = sessions[start + i]->compute_.get();
    compute.step(computes, tokens + start, m, logits ? logits + start * stride : nullptr, stride);
    for (size_t i = 0; i < m; ++i) ++sessions[start + i]->position_;
  }
}

void Session::page_out(std::vector<std::byte>& compressed) {
  std::vector<std::byte> blob(state_blob_size());
  save_state(blob.data());
  compressed = compress_state(blob.data(), blob.size());
  compute_.reset();
}

void Session::page_in(const std::vector<std::byte>& compressed) {
  const std::vector<std::byte> blob = decompress_state(compressed, state_blob_size());
  StateBlobView view = check_state_blob(blob.data(), blob.size(), model_.fingerprint(), model_.state_floats());
  OwnedBy<SessionCompute> compute = model_.compute().create_session();
  compute->write_state(view.payload);
  compute_ = std::move(compute);
  position_ = view.position;
}

size_t Session::state_blob_size() const { return kStateHeaderSize + model_.state_floats() * sizeof(float); }

void Session::save_state(void* buf) const {
  const size_t n = model_.state_floats();
  // The blob's payload follows its header: the backend writes it in place, then the
  // header (with the checksum over the payload) is written around it.
  std::byte* payload = static_cast<std::byte*>(buf) + kStateHeaderSize;
  compute_->read_state(payload);
  write_state_blob(buf, model_.fingerprint(), position_, nullptr, n);
}

void Session::load_state(const void* buf, size_t size) {
  StateBlobView blob = check_state_blob(buf, size, model_.fingerprint(), model_.state_floats());
  compute_->write_state(blob.payload);
  position_ = blob.position;
}

}  // namespace mmb
