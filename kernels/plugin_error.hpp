// How failures travel inside the plugin: every CUDA and cuBLAS call is checked, and a
// failure becomes a PluginError carrying the table's status (MMB_ERR_OUT_OF_MEMORY when
// device memory ran out, MMB_ERR_BACKEND otherwise) and a message naming the call. The
// table's functions catch it (plugin_table.cpp); nothing throws across the table.
#pragma once

#include <moemamba/moemamba.h>

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace mmb::cuda {

class PluginError : public std::runtime_error {
 public:
  PluginError(mmb_status status, const std::string& message) : std::runtime_error(message), status_(status) {}
  mmb_status status() const { return status_; }

 private:
  mmb_status status_;
};

// Throws for a failed CUDA runtime call; `call` is the call's source text.
void check_cuda(cudaError_t result, const char* call, const char* file, int line);
void check_cublas(cublasStatus_t result, const char* call, const char* file, int line);
// After a kernel launch: a bad configuration shows here, not at the launch.
void check_launch(const char* kernel, const char* file, int line);

}  // namespace mmb::cuda

#define MMB_CUDA_CHECK(call) ::mmb::cuda::check_cuda((call), #call, __FILE__, __LINE__)
#define MMB_CUBLAS_CHECK(call) ::mmb::cuda::check_cublas((call), #call, __FILE__, __LINE__)
#define MMB_CUDA_LAUNCHED(kernel) ::mmb::cuda::check_launch(kernel, __FILE__, __LINE__)
