#include "runtime/runtime.hpp"

#include <thread>

namespace mmb {

Runtime::Runtime(const mmb_runtime_options& o)
    : allocator_(o.alloc_fn, o.free_fn, o.alloc_user_data),
      log_fn_(o.log_fn), log_user_(o.log_user_data), log_level_(o.log_level) {
  int threads = o.n_threads;
  if (threads == 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));
  pool_ = std::make_unique<ThreadPool>(threads);
  pager_ = std::make_shared<SessionPager>(
      o.session_memory_budget, HostPageStore{o.page_store, o.page_load, o.page_drop, o.page_user_data});
  scheduler_ = std::make_shared<JobScheduler>(o.job_mode, o.run_task, o.run_task_user_data, pager_);
  if (o.backend == MMB_BACKEND_AUTO) log(MMB_LOG_INFO, "backend auto: using the CPU backend");
}

// Every session, and so every job that was running, is gone: the worker stops here.
Runtime::~Runtime() { scheduler_->stop(); }

void Runtime::log(int32_t level, const std::string& message) const {
  if (log_fn_ && level <= log_level_) log_fn_(log_user_, level, message.c_str());
}

}  // namespace mmb
