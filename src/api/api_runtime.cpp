// mmb_runtime_*: creation with the host's policy, reference counting.
#include "api/api_guard.hpp"
#include "api/api_objects.hpp"

#include <cmath>
#include <cstddef>
#include <cstring>

namespace mmb::api {

void retain(mmb_runtime* r) { r->refs.fetch_add(1, std::memory_order_relaxed); }
void release(mmb_runtime* r) {
  if (r && r->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy(r, r->impl.allocator());
}

}  // namespace mmb::api

using namespace mmb;

extern "C" {

MMB_API void mmb_runtime_options_init(mmb_runtime_options* o) {
  if (!o) return;
  *o = mmb_runtime_options{};
  o->struct_size = sizeof *o;
  o->backend = MMB_BACKEND_AUTO;
  o->log_level = MMB_LOG_WARN;
}

MMB_API mmb_status mmb_runtime_create(const mmb_runtime_options* options, mmb_runtime** out) {
  return api::guard([&] {
    api::require(out, "out");
    mmb_runtime_options o;
    mmb_runtime_options_init(&o);
    if (options) {
      // Three versions exist: 0.1 (up to alloc_user_data), 0.2 (up to
      // session_memory_budget) and this one.
      constexpr size_t kFirst = offsetof(mmb_runtime_options, job_mode);
      constexpr size_t kSecond = offsetof(mmb_runtime_options, page_store);
      if (options->struct_size != kFirst && options->struct_size != kSecond && options->struct_size != sizeof o)
        fail(MMB_ERR_INVALID_ARGUMENT, "mmb_runtime_options.struct_size is ", options->struct_size, "; this library accepts ",
             kFirst, ", ", kSecond, " or ", sizeof o, " (call mmb_runtime_options_init first)");
      std::memcpy(&o, options, options->struct_size);  // fields past it keep their defaults
      o.struct_size = sizeof o;
    }
    if (o.backend < MMB_BACKEND_AUTO || o.backend > MMB_BACKEND_CUDA) fail(MMB_ERR_INVALID_ARGUMENT, "backend ", o.backend, " is unknown");
    if (o.n_threads < 0 || o.n_threads > 1024) fail(MMB_ERR_INVALID_ARGUMENT, "n_threads ", o.n_threads, " is outside [0, 1024]");
    if (!o.alloc_fn != !o.free_fn) fail(MMB_ERR_INVALID_ARGUMENT, "alloc_fn and free_fn must be given together");
    const int page_fns = !!o.page_store + !!o.page_load + !!o.page_drop;
    if (page_fns != 0 && page_fns != 3)
      fail(MMB_ERR_INVALID_ARGUMENT, "page_store, page_load and page_drop must be given together");
    if (o.job_mode < MMB_JOBS_WORKER || o.job_mode > MMB_JOBS_HOST) fail(MMB_ERR_INVALID_ARGUMENT, "job_mode ", o.job_mode, " is unknown");
    if (o.job_mode == MMB_JOBS_HOST && !o.run_task) fail(MMB_ERR_INVALID_ARGUMENT, "job_mode MMB_JOBS_HOST needs run_task");
    if (o.backend == MMB_BACKEND_CUDA)
      fail(MMB_ERR_BACKEND, "the CUDA backend is not available in this build (no plugin libmoemamba_cuda.so)");
    *out = make_host<mmb_runtime>(HostAllocator(o.alloc_fn, o.free_fn, o.alloc_user_data), o).release();
  });
}

MMB_API void mmb_runtime_destroy(mmb_runtime* runtime) { api::release(runtime); }

MMB_API mmb_status mmb_runtime_get_backend(const mmb_runtime* runtime, int32_t* backend, int32_t* n_threads) {
  return api::guard([&] {
    api::require(runtime, "runtime");
    if (!backend && !n_threads) fail(MMB_ERR_INVALID_ARGUMENT, "backend and n_threads are both NULL");
    if (backend) *backend = runtime->impl.backend();
    if (n_threads) *n_threads = runtime->impl.pool().size();
  });
}

}  // extern "C"
