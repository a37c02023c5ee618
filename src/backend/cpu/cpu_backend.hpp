// The CPU backend: weights read in place from the loaded bundle (mapped file or
// decoded buffers), session state and scratch in the runtime's memory, the work
// spread over the runtime's thread pool (forward.hpp).
#pragma once

#include "backend/backend.hpp"
#include "base/host_allocator.hpp"
#include "base/thread_pool.hpp"

namespace mmb {

class CpuBackend final : public Backend {
 public:
  // Both must outlive the backend and every model it prepares (the runtime owns them).
  CpuBackend(const HostAllocator& allocator, ThreadPool& pool) : allocator_(allocator), pool_(pool) {}

  int32_t kind() const override { return MMB_BACKEND_CPU; }
  BackendDescription describe() const override;
  OwnedBy<ModelCompute> prepare(const Model& model) const override;

 private:
  const HostAllocator& allocator_;
  ThreadPool& pool_;
};

}  // namespace mmb
