// The host's policy, held for every object made from it: allocator hooks, log sink,
// backend choice and the compute thread pool.
#pragma once

#include "base/host_allocator.hpp"
#include "base/thread_pool.hpp"

#include <moemamba/moemamba.h>

#include <memory>
#include <string>

namespace mmb {

class Runtime {
 public:
  explicit Runtime(const mmb_runtime_options& options);  // options already validated

  const HostAllocator& allocator() const { return allocator_; }
  ThreadPool& pool() const { return *pool_; }
  int32_t backend() const { return MMB_BACKEND_CPU; }
  void log(int32_t level, const std::string& message) const;

 private:
  HostAllocator allocator_;
  std::unique_ptr<ThreadPool> pool_;
  mmb_log_fn log_fn_ = nullptr;
  void* log_user_ = nullptr;
  int32_t log_level_ = MMB_LOG_WARN;
};

}  // namespace mmb
