#include "backend/cpu/cpu_backend.hpp"

#include "backend/cpu/forward.hpp"
#include "backend/cpu/linear.hpp"
#include "model/model.hpp"

#include <algorithm>
#include <cstring>

namespace mmb {
namespace {

// Rows of a prefill call: projections run as matrix-matrix work over them.
constexpr size_t kPrefillChunk = 16;

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

 private:
  HostAllocator allocator_;
  HostBuffer<float> state_;
  HostBuffer<float> scratch_;
  cpu::RowScratch rows_[kPrefillChunk];
};

class CpuModel final : public ModelCompute {
 public:
  CpuModel(const Model& model, const HostAllocator& allocator, ThreadPool& pool)
      : model_(model), allocator_(allocator), pool_(pool) {}

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
    cpu::Row rows[kPrefillChunk];
    for (size_t done = 0; done < n;) {
      const size_t m = std::min(kPrefillChunk, n - done);
      for (size_t i = 0; i < m; ++i) rows[i] = s.row(i, tokens[done + i], done + i + 1 == n ? logits : nullptr);
      cpu::forward(model_, pool_, rows, m);
      done += m;
    }
  }

  size_t prefill_chunk() const override { return kPrefillChunk; }

 private:
  const Model& model_;
  HostAllocator allocator_;
  ThreadPool& pool_;
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
