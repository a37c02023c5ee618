#include "plugin_error.hpp"

#include <cstring>

namespace mmb::cuda {

namespace {

std::string where(const char* file, int line) {
  const char* base = std::strrchr(file, '/');
  return std::string(base ? base + 1 : file) + ":" + std::to_string(line);
}

const char* cublas_status_name(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    default: return "unknown cuBLAS status";
  }
}

}  // namespace

void check_cuda(cudaError_t result, const char* call, const char* file, int line) {
  if (result == cudaSuccess) return;
  (void)cudaGetLastError();  // clear a non-sticky error so the next call starts clean
  const mmb_status status = result == cudaErrorMemoryAllocation ? MMB_ERR_OUT_OF_MEMORY : MMB_ERR_BACKEND;
  std::string message = status == MMB_ERR_OUT_OF_MEMORY ? "CUDA device out of memory: " : "CUDA error: ";
  message += std::string(call) + " failed with " + cudaGetErrorName(result) + " (" + cudaGetErrorString(result) +
             ") at " + where(file, line);
  throw PluginError(status, message);
}

void check_cublas(cublasStatus_t result, const char* call, const char* file, int line) {
  if (result == CUBLAS_STATUS_SUCCESS) return;
  const mmb_status status = result == CUBLAS_STATUS_ALLOC_FAILED ? MMB_ERR_OUT_OF_MEMORY : MMB_ERR_BACKEND;
  throw PluginError(status, std::string("cuBLAS error: ") + call + " failed with " + cublas_status_name(result) +
                                " at " + where(file, line));
}

void check_launch(const char* kernel, const char* file, int line) {
  const cudaError_t result = cudaGetLastError();
  if (result == cudaSuccess) return;
  throw PluginError(MMB_ERR_BACKEND, std::string("CUDA error: launch of ") + kernel + " failed with " +
                                         cudaGetErrorName(result) + " (" + cudaGetErrorString(result) + ") at " +
                                         where(file, line));
}

}  // namespace mmb::cuda
