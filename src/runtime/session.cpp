#include "runtime/session.hpp"

#include "base/error.hpp"
#include "base/host_allocator.hpp"
#include "runtime/runtime.hpp"
#include "runtime/state_blob.hpp"
#include "runtime/state_compression.hpp"

#include <algorithm>
#include <cstdint>

namespace mmb {

namespace {

bool has_kv(const Model& model) { return model.kv_values_per_token() > 0; }

}  // namespace

ContextOptions Session::resolved(const Model& model, ContextOptions options) {
  if (options.max_tokens == 0) options.max_tokens = model.config().default_context();
  return options;
}

Session::Session(const Model& model, const Runtime&, ContextOptions options)
    : model_(model), options_(resolved(model, options)), compute_(model.compute().create_session(options_)) {}

Session::Session(const Session& other)
    : model_(other.model_), options_(other.options_), compute_(other.model_.compute().create_session(other.options_)),
      position_(other.position_) {
  compute_->copy_state_from(*other.compute_);
}

uint64_t Session::context_left() const {
  if (!has_kv(model_)) return UINT64_MAX;
  return options_.max_tokens > position_ ? options_.max_tokens - position_ : 0;
}

void Session::check_room(uint64_t n) const {
  if (n > context_left())
    fail(MMB_ERR_CONTEXT_FULL, "the session's context holds ", options_.max_tokens, " tokens; it is at ", position_,
         " and ", n, n == 1 ? " more does" : " more do", " not fit (reset it, or create it with a larger max_context)");
}

void Session::reset() {
  compute_->write_state(nullptr);
  compute_->write_kv(nullptr, 0, options_.kv_type);
  position_ = 0;
}

void Session::step(int32_t token, float* logits) {
  check_room(1);
  SessionCompute* one = compute_.get();
  model_.compute().step(&one, &token, 1, logits, 0);
  ++position_;
}

bool Session::prefill(const int32_t* tokens, size_t n, float* logits, FunctionRef<bool(uint64_t, uint64_t)>* progress) {
  check_room(n);
  // The pages of the whole prompt first: running out of memory consumes none of it.
  compute_->hold_kv(position_ + n);
  const ModelCompute& compute = model_.compute();
  // Progress goes to the host every few backend chunks: the backend may then group
  // more tokens per pass over the weights.
  const size_t chunk = compute.prefill_chunk() * kChunksPerProgress;
  for (size_t done = 0; done < n;) {
    const size_t m = std::min(chunk, n - done);
    compute.prefill(*compute_, tokens + done, m, done + m == n ? logits : nullptr);
    done += m;
    position_ += m;
    if (progress && done < n && !(*progress)(done, n)) {
      compute_->hold_kv(position_);  // the pages of the tokens left unconsumed go back
      return false;
    }
  }
  return true;
}

void Session::step_batch(Session* const* sessions, const int32_t* tokens, size_t n, float* logits, size_t stride) {
  step_batch_stages(sessions, tokens, n, logits, stride, 0, sessions[0]->stages());
}

void Session::step_batch_stages(Session* const* sessions, const int32_t* tokens, size_t n, float* logits,
                                size_t stride, size_t first, size_t last) {
  if (first == 0)
    for (size_t i = 0; i < n; ++i) sessions[i]->check_room(1);
  constexpr size_t kGroup = 256;
  SessionCompute* computes[kGroup];
  const ModelCompute& compute = sessions[0]->model_.compute();
  const bool ends = last == compute.stages();
  for (size_t start = 0; start < n; start += kGroup) {
    const size_t m = std::min(kGroup, n - start);
    for (size_t i = 0; i < m; ++i) computes[i] = sessions[start + i]->compute_.get();
    compute.step_stages(computes, tokens + start, m, logits ? logits + start * stride : nullptr, stride, first, last);
    if (ends)
      for (size_t i = 0; i < m; ++i) ++sessions[start + i]->position_;
  }
}

void Session::prefill_chunk_stages(const int32_t* tokens, size_t n, float* logits, size_t first, size_t last) {
  const ModelCompute& compute = model_.compute();
  if (first == 0) {
    check_room(n);
    compute_->hold_kv(position_ + n);
  }
  compute.prefill_stages(*compute_, tokens, n, logits, first, last);
  if (last == compute.stages()) position_ += n;
}

void Session::abandon_chunk(const float* state_before) {
  compute_->write_state(state_before);
  compute_->hold_kv(position_);
}

void Session::page_out(std::vector<std::byte>& compressed) {
  std::vector<std::byte> blob(state_blob_size());
  save_state(blob.data());
  compressed = compress_state(blob.data(), blob.size());
  compute_.reset();
}

void Session::page_in(const std::vector<std::byte>& compressed) {
  const std::vector<std::byte> blob = decompress_state(compressed, state_blob_size());
  OwnedBy<SessionCompute> compute = model_.compute().create_session(options_);
  restore(*compute, blob.data(), blob.size());
  compute_ = std::move(compute);
}

std::optional<StateKv> Session::kv_part() const {
  if (!has_kv(model_)) return std::nullopt;
  return StateKv{uint32_t(options_.kv_type), position_ * model_.kv_values_per_token() * kv_element_size(options_.kv_type)};
}

size_t Session::state_blob_size() const {
  const std::optional<StateKv> kv = kv_part();
  return state_header_size(kv ? &*kv : nullptr) + model_.state_floats() * sizeof(float) + (kv ? kv->bytes : 0);
}

void Session::save_state(void* buf) const {
  const size_t n = model_.state_floats();
  const std::optional<StateKv> kv = kv_part();
  const StateKv* kv_part = kv ? &*kv : nullptr;
  // The blob's payload follows its header: the backend writes it in place, then the
  // header (with the checksum over the payload) is written around it.
  std::byte* payload = static_cast<std::byte*>(buf) + state_header_size(kv_part);
  compute_->read_state(payload);
  if (kv_part) compute_->read_kv(payload + n * sizeof(float));
  write_state_blob(buf, model_.fingerprint(), position_, nullptr, n, kv_part);
}

void Session::restore(SessionCompute& compute, const void* buf, size_t size) {
  const StateBlobView blob =
      check_state_blob(buf, size, model_.fingerprint(), model_.state_floats(), model_.kv_values_per_token());
  if (has_kv(model_) && blob.position > options_.max_tokens)
    fail(MMB_ERR_CONTEXT_FULL, "the saved state holds ", blob.position, " tokens; this session's context holds ",
         options_.max_tokens);
  // The KV cache first: its allocation may fail, and then nothing has changed.
  if (blob.kv) compute.write_kv(blob.kv, blob.position, KvType(blob.kv_info.type));
  compute.write_state(blob.payload);
  position_ = blob.position;
}

void Session::load_state(const void* buf, size_t size) { restore(*compute_, buf, size); }

}  // namespace mmb
