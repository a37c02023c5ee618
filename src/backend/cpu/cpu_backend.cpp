#include "backend/cpu/cpu_backend.hpp"

#include "backend/cpu/forward.hpp"
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
  CpuSession(const Model& model, const HostAllocator& allocator)
      : allocator_(allocator),
        state_(allocator, model.state_floats()),
        scratch_(allocator, cpu::row_scratch_floats(model) * kPrefillChunk) {
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
    write_state(static_cast<const CpuSession&>(other).state_.data());
  }

  cpu::Row row(size_t i, int32_t token, float* logits) { return {token, state_.data(), &rows_[i], logits}; }
  float* state() { return state_.data(); }

 private:
  HostAllocator allocator_;
  HostBuffer<float> state_;
  HostBuffer<float> scratch_;
  cpu::RowScratch rows_[kPrefillChunk];
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

  OwnedBy<SessionCompute> create_session() const override {
    return OwnedBy<SessionCompute>(make_host<CpuSession>(allocator_, model_, allocator_).release());
  }

  size_t session_host_bytes() const override {
    return (model_.state_floats() + cpu::row_scratch_floats(model_) * kPrefillChunk) * sizeof(float);
  }

  void step(SessionCompute* const* sessions, const int32_t* tokens, size_t n, float* logits,
            size_t stride) const override {
    cpu::Row rows[cpu::kMaxLinearBatch];
    for (size_t start = 0; start < n; start += cpu::kMaxLinearBatch) {
      const size_t m = std::min(cpu::kMaxLinearBatch, n - start);
      for (size_t i = 0; i < m; ++i)
        rows[i] = static_cast<CpuSession*>(sessions[start + i])
                      ->row(0, tokens[start + i], logits ? logits + (start + i) * stride : nullptr);
      cpu::forward(model_, pool_, rows, m);
    }
  }

  void prefill(SessionCompute& session, const int32_t* tokens, size_t n, float* logits) const override {
    auto& s = static_cast<CpuSession&>(session);
    // The wide scratch when no other prefill holds it (never waits for it).
    std::unique_lock wide(wide_mutex_, std::defer_lock);
    if (n > kPrefillChunk) (void)wide.try_lock();
    const size_t chunk = wide ? kWideChunk : kPrefillChunk;
    cpu::Row rows[kWideChunk];
    for (size_t done = 0; done < n;) {
      const size_t m = std::min(chunk, n - done);
      for (size_t i = 0; i < m; ++i) {
        float* out = done + i + 1 == n ? logits : nullptr;
        rows[i] = wide ? cpu::Row{tokens[done + i], s.state(), &wide_rows_[i], out} : s.row(i, tokens[done + i], out);
      }
      cpu::forward(model_, pool_, rows, m);
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
