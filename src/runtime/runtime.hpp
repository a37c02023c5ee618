// The host's policy, held for every object made from it: allocator hooks, log sink,
// backend choice and the compute thread pool.
#pragma once

#include "backend/backend.hpp"
#include "base/host_allocator.hpp"
#include "base/host_memory_resource.hpp"
#include "base/thread_pool.hpp"
#include "runtime/job_scheduler.hpp"
#include "runtime/session_pager.hpp"

#include <moemamba/moemamba.h>

#include <memory>
#include <string>

namespace mmb {

class Runtime {
 public:
  explicit Runtime(const mmb_runtime_options& options);  // options already validated
  ~Runtime();

  const HostAllocator& allocator() const { return allocator_; }
  // The same hooks for containers (std::pmr).
  std::pmr::memory_resource* memory() const { return &memory_; }
  ThreadPool& pool() const { return *pool_; }
  const Backend& backend() const { return *backend_; }
  // The backend a model of `config` runs on: the runtime's, or with backend auto the CPU
  // when the chosen device cannot run one of its layers (the reason is logged).
  const Backend& backend_for(const ModelConfig& config) const;
  void log(int32_t level, const std::string& message) const;
  SessionPager& pager() const { return *pager_; }
  JobScheduler& scheduler() const { return *scheduler_; }
  const std::shared_ptr<JobScheduler>& scheduler_ptr() const { return scheduler_; }

 private:
  std::unique_ptr<Backend> choose_backend(const mmb_runtime_options& o) const;

  HostAllocator allocator_;
  mutable HostMemoryResource memory_{allocator_};
  std::unique_ptr<ThreadPool> pool_;
  mmb_log_fn log_fn_ = nullptr;
  void* log_user_ = nullptr;
  int32_t log_level_ = MMB_LOG_WARN;
  std::shared_ptr<SessionPager> pager_;
  std::shared_ptr<JobScheduler> scheduler_;  // shared with job handles and host tasks
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Backend> cpu_fallback_;  // backend auto on a device: for what it cannot run
};

}  // namespace mmb
