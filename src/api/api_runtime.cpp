// mmb_runtime_*: creation with the host's policy, reference counting.
#include "api/api_guard.hpp"
#include "api/api_objects.hpp"
#include "api/api_structs.hpp"

#include <algorithm>
#include <cstring>

namespace mmb::api {

void retain(mmb_runtime* r) { r->refs.fetch_add(1, std::memory_order_relaxed); }
void release(mmb_runtime* r) {
  if (r && r->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy(r, r->impl.allocator());
}

void Extensible<mmb_runtime_options>::set_defaults(mmb_runtime_options& o) {
  o.backend = MMB_BACKEND_AUTO;
  o.log_level = MMB_LOG_WARN;
  o.job_mode = MMB_JOBS_WORKER;
}

}  // namespace mmb::api

using namespace mmb;

extern "C" {

MMB_API mmb_status mmb_runtime_options_init(mmb_runtime_options* options, size_t struct_size) {
  return api::init_struct(options, struct_size);
}

MMB_API mmb_status mmb_runtime_create(const mmb_runtime_options* options, mmb_runtime** out) {
  return api::guard([&] {
    api::require(out, "out");
    const mmb_runtime_options o = api::read_struct(options);
    if (o.backend < MMB_BACKEND_AUTO || o.backend > MMB_BACKEND_CUDA) fail(MMB_ERR_INVALID_ARGUMENT, "backend ", o.backend, " is unknown");
    if (o.n_threads < 0 || o.n_threads > 1024) fail(MMB_ERR_INVALID_ARGUMENT, "n_threads ", o.n_threads, " is outside [0, 1024]");
    if (!o.alloc_fn != !o.free_fn) fail(MMB_ERR_INVALID_ARGUMENT, "alloc_fn and free_fn must be given together");
    const int page_fns = !!o.page_store + !!o.page_load + !!o.page_drop;
    if (page_fns != 0 && page_fns != 3)
      fail(MMB_ERR_INVALID_ARGUMENT, "page_store, page_load and page_drop must be given together");
    if (o.job_mode < MMB_JOBS_WORKER || o.job_mode > MMB_JOBS_HOST) fail(MMB_ERR_INVALID_ARGUMENT, "job_mode ", o.job_mode, " is unknown");
    if (o.job_mode == MMB_JOBS_HOST && !o.run_task) fail(MMB_ERR_INVALID_ARGUMENT, "job_mode MMB_JOBS_HOST needs run_task");
    if (o.device_index < 0) fail(MMB_ERR_INVALID_ARGUMENT, "device_index ", o.device_index, " is negative");
    *out = make_host<mmb_runtime>(HostAllocator(o.alloc_fn, o.free_fn, o.alloc_user_data), o).release();
  });
}

MMB_API void mmb_runtime_destroy(mmb_runtime* runtime) { api::release(runtime); }

MMB_API mmb_status mmb_runtime_get_backend(const mmb_runtime* runtime, int32_t* backend, int32_t* n_threads) {
  return api::guard([&] {
    api::require(runtime, "runtime");
    if (!backend && !n_threads) fail(MMB_ERR_INVALID_ARGUMENT, "backend and n_threads are both NULL");
    if (backend) *backend = runtime->impl.backend().kind();
    if (n_threads) *n_threads = runtime->impl.pool().size();
  });
}

MMB_API mmb_status mmb_runtime_get_backend_info(const mmb_runtime* runtime, mmb_backend_info* out) {
  return api::guard([&] {
    api::require(runtime, "runtime");
    api::require(out, "out");
    api::check_struct_size(out->struct_size, sizeof(mmb_backend_info), sizeof(mmb_backend_info), "mmb_backend_info");
    const BackendDescription d = runtime->impl.backend().describe();
    mmb_backend_info info;
    std::memset(&info, 0, sizeof info);
    info.struct_size = out->struct_size;
    info.backend = d.kind;
    info.n_threads = runtime->impl.pool().size();
    info.device_index = d.device_index;
    std::memcpy(info.device_name, d.device_name.data(), std::min(d.device_name.size(), sizeof info.device_name - 1));
    info.device_memory_total = d.device_memory_total;
    info.device_memory_used = d.device_memory_used;
    std::memcpy(out, &info, out->struct_size);
  });
}

}  // extern "C"
