#include "runtime/runtime.hpp"

#include "backend/cpu/cpu_backend.hpp"
#include "backend/cuda_backend.hpp"
#include "base/error.hpp"

#include <thread>

namespace mmb {

Runtime::Runtime(const mmb_runtime_options& o)
    : allocator_(o.alloc_fn, o.free_fn, o.alloc_user_data),
      log_fn_(o.log_fn), log_user_(o.log_user_data), log_level_(o.log_level) {
  int threads = o.n_threads;
  if (threads == 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));
  pool_ = std::make_unique<ThreadPool>(threads);
  // Before the job worker starts: a backend that cannot open ends the construction here.
  backend_ = choose_backend(o);
  if (o.backend == MMB_BACKEND_AUTO && backend_->kind() != MMB_BACKEND_CPU)
    cpu_fallback_ = std::make_unique<CpuBackend>(allocator_, *pool_);
  pager_ = std::make_shared<SessionPager>(
      o.session_memory_budget, HostPageStore{o.page_store, o.page_load, o.page_drop, o.page_user_data});
  scheduler_ = std::make_shared<JobScheduler>(o.job_mode, o.run_task, o.run_task_user_data, pager_, allocator_, *pool_);
}

std::unique_ptr<Backend> Runtime::choose_backend(const mmb_runtime_options& o) const {
  if (o.backend == MMB_BACKEND_CPU) return std::make_unique<CpuBackend>(allocator_, *pool_);
  if (o.backend == MMB_BACKEND_CUDA) {
    std::unique_ptr<Backend> cuda = open_cuda_backend(allocator_, o.device_index);
    log(MMB_LOG_INFO, cat("backend cuda: device ", o.device_index, " (", cuda->describe().device_name, ")"));
    return cuda;
  }
  try {
    std::unique_ptr<Backend> cuda = open_cuda_backend(allocator_, o.device_index);
    log(MMB_LOG_INFO, cat("backend auto: using CUDA device ", o.device_index, " (", cuda->describe().device_name, ")"));
    return cuda;
  } catch (const Error& e) {
    log(MMB_LOG_INFO, cat("backend auto: using the CPU backend (", e.what(), ")"));
  }
  return std::make_unique<CpuBackend>(allocator_, *pool_);
}

const Backend& Runtime::backend_for(const ModelConfig& config) const {
  if (!cpu_fallback_) return *backend_;
  const std::string why = backend_->unsupported(config);
  if (why.empty()) return *backend_;
  log(MMB_LOG_INFO, cat("backend auto: this model runs on the CPU backend (", why, ")"));
  return *cpu_fallback_;
}

// Every session, and so every job that was running, is gone: the worker stops here.
Runtime::~Runtime() { scheduler_->stop(); }

void Runtime::log(int32_t level, const std::string& message) const {
  if (log_fn_ && level <= log_level_) log_fn_(log_user_, level, message.c_str());
}

}  // namespace mmb
