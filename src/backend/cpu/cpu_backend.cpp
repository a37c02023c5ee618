#include "backend/cpu/cpu_backend.hpp"

#include "backend/cpu/forward.hpp"
#include "backend/cpu/kv_cache.hpp"
#include "backend/cpu/linear.hpp"
#include "model/model.hpp"

#include <algorithm>
#include <cstring>
#include <mutex>

namespace mmb {
namespace {

// Rows of a session's own scratch: a prefill chunk when nothing larger is free, and
// the tokens a job's unit of work prefills (frame budgets stay fine-grained).
constexpr size_t kPrefillChunk = 16;
// Rows of the model's shared scratch: a prefill that finds it free runs its
// projections over 64 tokens per weight pass, four times fewer passes than over its
// own 16 rows. Results are the same bits either way (linear() and the per-row
// recurrences do not depend on how rows are grouped).
constexpr size_t kWideChunk = 64;

class CpuSession final : public SessionCompute {
 public:
  CpuSession(const Model& model, const ContextOptions& options, const HostAllocator& allocator)
      : allocator_(allocator),
        state_(allocator, model.state_floats()),
        scratch_(allocator, cpu::row_scratch_floats(model) * kPrefillChunk),
        kv_(allocator, model, options) {
    const size_t per_row = cpu::row_scratch_floats(model);
    for (size_t i = 0; i < kPrefillChunk; ++i) rows_[i] = cpu::carve_row_scratch(model, scratch_.data() + i * per_row);
  }

  void destroy() noexcept override { HostDeleter<CpuSession>{allocator_}(this); }
  void read_state(void* out) const override {
    if (state_.size()) std::memcpy(out, state_.data(), state_.size() * sizeof(float));
  }
  void write_state(const void* in) override {
    if (!state_.size()) return;
    if (in)
      std::memcpy(state_.data(), in, state_.size() * sizeof(float));
    else
      std::memset(state_.data(), 0, state_.size() * sizeof(float));
  }
  void copy_state_from(const SessionCompute& other) override {
    const auto& o = static_cast<const CpuSession&>(other);
    kv_.copy_from(o.kv_, o.kv_tokens_);
    write_state(o.state_.data());
    kv_tokens_ = o.kv_tokens_;
  }
  uint64_t kv_tokens() const override { return kv_tokens_; }
  void read_kv(void* out) const override { kv_.copy_out(out, kv_tokens_); }
  void write_kv(const void* in, uint64_t tokens, KvType from) override {
    if (tokens) kv_.copy_in(in, tokens, from);
    kv_.trim(tokens);
    kv_tokens_ = tokens;
  }
  void hold_kv(uint64_t tokens) override {
    kv_.reserve(tokens);
    kv_.trim(tokens);
  }
  size_t host_bytes() const override {
    return sizeof(CpuSession) + (state_.size() + scratch_.size()) * sizeof(float) + kv_.bytes_held();
  }

  // Makes room in the KV cache for n more tokens (before any of them is stepped).
  void reserve(size_t n) { kv_.reserve(kv_tokens_ + n); }
  // Row i of this session's scratch for the next token; `offset` tokens after kv_tokens().
  cpu::Row row(size_t i, int32_t token, float* logits, size_t offset = 0) {
    return {token, state_.data(), &rows_[i], logits, &kv_, kv_tokens_ + offset};
  }
  cpu::Row row_on(cpu::RowScratch* scratch, int32_t token, float* logits, size_t offset) {
    return {token, state_.data(), scratch, logits, &kv_, kv_tokens_ + offset};
  }
  void advance(size_t n) { kv_tokens_ += n; }

 private:
  HostAllocator allocator_;
  HostBuffer<float> state_;
  HostBuffer<float> scratch_;
  cpu::RowScratch rows_[kPrefillChunk];
  cpu::KvCache kv_;
  uint64_t kv_tokens_ = 0;  // tokens stepped since the state was last written
};

class CpuModel final : public ModelCompute {
 public:
  CpuModel(const Model& model, const HostAllocator& allocator, ThreadPool& pool)
      : model_(model), allocator_(allocator), pool_(pool),
        wide_scratch_(allocator, cpu::row_scratch_floats(model) * kWideChunk) {
    const size_t per_row = cpu::row_scratch_floats(model);
    for (size_t i = 0; i < kWideChunk; ++i)
      wide_rows_[i] = cpu::carve_row_scratch(model, wide_scratch_.data() + i * per_row);
  }

  void destroy() noexcept override { HostDeleter<CpuModel>{allocator_}(this); }

  OwnedBy<SessionCompute> create_session(const ContextOptions& options) const override {
    return OwnedBy<SessionCompute>(make_host<CpuSession>(allocator_, model_, options, allocator_).release());
  }

  size_t session_host_bytes(const ContextOptions& options) const override {
    const uint64_t page_table = model_.kv_values_per_token() ? cpu::KvCache::pages_for(options.max_tokens) : 0;
    return sizeof(CpuSession) + (model_.state_floats() + cpu::row_scratch_floats(model_) * kPrefillChunk) * sizeof(float) +
           page_table * sizeof(std::byte*);
  }

  void step(SessionCompute* const* sessions, const int32_t* tokens, size_t n, float* logits,
            size_t stride) const override {
    step_stages(sessions, tokens, n, logits, stride, 0, stages());
  }

  size_t stages() const override { return cpu::forward_stage_count(model_); }

  void step_stages(SessionCompute* const* sessions, const int32_t* tokens, size_t n, float* logits, size_t stride,
                   size_t first, size_t last) const override {
    // Every session's KV page first: an allocation failure leaves all states, and the
    // memory they hold, as they were.
    if (first == 0) {
      size_t reserved = 0;
      try {
        for (; reserved < n; ++reserved) static_cast<CpuSession*>(sessions[reserved])->reserve(1);
      } catch (...) {
        for (size_t i = 0; i < reserved; ++i) sessions[i]->hold_kv(sessions[i]->kv_tokens());
        throw;
      }
    }
    // Row 0 of each session's own scratch: there the residual waits between stages.
    cpu::Row rows[cpu::kMaxLinearBatch];
    for (size_t start = 0; start < n; start += cpu::kMaxLinearBatch) {
      const size_t m = std::min(cpu::kMaxLinearBatch, n - start);
      for (size_t i = 0; i < m; ++i)
        rows[i] = static_cast<CpuSession*>(sessions[start + i])
                      ->row(0, tokens[start + i], logits ? logits + (start + i) * stride : nullptr);
      cpu::forward_stages(model_, pool_, rows, m, first, last);
    }
    if (last == stages())
      for (size_t i = 0; i < n; ++i) static_cast<CpuSession*>(sessions[i])->advance(1);
  }

  void prefill_stages(SessionCompute& session, const int32_t* tokens, size_t n, float* logits, size_t first,
                      size_t last) const override {
    auto& s = static_cast<CpuSession&>(session);
    if (first == 0) s.reserve(n);
    // The session's own rows (never the shared wide scratch, which another prefill may
    // take between two stages).
    cpu::Row rows[kPrefillChunk];
    for (size_t i = 0; i < n; ++i) rows[i] = s.row(i, tokens[i], i + 1 == n ? logits : nullptr, i);
    cpu::forward_stages(model_, pool_, rows, n, first, last);
    if (last == stages()) s.advance(n);
  }

  void prefill(SessionCompute& session, const int32_t* tokens, size_t n, float* logits) const override {
    if (n <= kPrefillChunk) return prefill_stages(session, tokens, n, logits, 0, stages());
    auto& s = static_cast<CpuSession&>(session);
    s.reserve(n);
    // The wide scratch when no other prefill holds it (never waits for it).
    std::unique_lock wide(wide_mutex_, std::defer_lock);
    if (n > kPrefillChunk) (void)wide.try_lock();
    const size_t chunk = wide ? kWideChunk : kPrefillChunk;
    cpu::Row rows[kWideChunk];
    for (size_t done = 0; done < n;) {
      const size_t m = std::min(chunk, n - done);
      for (size_t i = 0; i < m; ++i) {
        float* out = done + i + 1 == n ? logits : nullptr;
        rows[i] = wide ? s.row_on(&wide_rows_[i], tokens[done + i], out, i) : s.row(i, tokens[done + i], out, i);
      }
      cpu::forward(model_, pool_, rows, m);
      s.advance(m);
      done += m;
    }
  }

  size_t prefill_chunk() const override { return kPrefillChunk; }

 private:
  const Model& model_;
  HostAllocator allocator_;
  ThreadPool& pool_;
  mutable std::mutex wide_mutex_;
  HostBuffer<float> wide_scratch_;
  mutable cpu::RowScratch wide_rows_[kWideChunk];  // used under wide_mutex_
};

}  // namespace

BackendDescription CpuBackend::describe() const {
  BackendDescription d;
  d.kind = MMB_BACKEND_CPU;
  d.device_name = "CPU";
  return d;
}

OwnedBy<ModelCompute> CpuBackend::prepare(const Model& model) const {
  return OwnedBy<ModelCompute>(make_host<CpuModel>(allocator_, model, allocator_, pool_).release());
}

}  // namespace mmb
