#ifdef _WIN32
#include "backend/cuda_backend.hpp"

#include "base/error.hpp"

namespace mmb {

// The CUDA plugin (kernels/) is built for Linux only: a Windows build has the CPU
// backend, and asking for CUDA says so.
std::unique_ptr<Backend> open_cuda_backend(const HostAllocator&, int32_t) {
  fail(MMB_ERR_BACKEND, "the CUDA backend is not available in Windows builds (CPU backend only)");
}

}  // namespace mmb
#endif
