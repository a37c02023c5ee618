// The CUDA backend as the core sees it: the plugin libmoemamba_cuda.so (kernels/),
// opened with dlopen on first use, so libmoemamba.so itself never links CUDA and
// loads on machines without a driver. Where the plugin is looked for, in order:
//   1. the path in the environment variable MMB_CUDA_PLUGIN, when set;
//   2. the folder libmoemamba.so itself was loaded from;
//   3. the dynamic loader's search path (LD_LIBRARY_PATH, the system's folders).
// Once opened, the plugin stays loaded for the life of the process (CUDA's runtime
// inside it registers exit handlers, so it is never unloaded).
#pragma once

#include "backend/backend.hpp"
#include "base/host_allocator.hpp"

#include <memory>

namespace mmb {

// The CUDA backend on device `device_index`. Throws Error(MMB_ERR_BACKEND) saying why
// when the plugin cannot be found or loaded (its dlerror), comes from another build,
// or finds no such device; MMB_ERR_OUT_OF_MEMORY when the device cannot be opened for
// lack of memory. `allocator` must outlive the backend.
std::unique_ptr<Backend> open_cuda_backend(const HostAllocator& allocator, int32_t device_index);

}  // namespace mmb
