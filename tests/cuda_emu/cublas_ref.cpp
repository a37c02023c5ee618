// The cuBLAS calls the plugin makes. cublasGemmEx is a reference GEMM, column-major as
// cuBLAS: C = alpha op(A) op(B) + beta C with A, B of one type (f32, f16 or bf16), C f32
// and CUBLAS_COMPUTE_32F: each product and the sum in f32. As in cuBLAS, C is not read
// when beta is 0 (it may hold anything). Any other type or compute combination, a
// leading dimension too small, or a host pointer for A, B or C is an error. The work
// runs on the handle's stream, so it is captured into graphs with the kernels around it.
#include "emulator.hpp"

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <vector>

struct cublasContext {
  cudaStream_t stream = nullptr;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
};

using namespace cuda_emu;

namespace {

float element(const void* p, cudaDataType_t type, size_t i) {
  switch (type) {
    case CUDA_R_32F: return static_cast<const float*>(p)[i];
    case CUDA_R_16F: return float(static_cast<const __half*>(p)[i]);
    case CUDA_R_16BF: return float(static_cast<const __nv_bfloat16*>(p)[i]);
  }
  return 0.0f;
}

cublasStatus_t invalid(const std::string& why) {
  report("cublasGemmEx: " + why);
  return CUBLAS_STATUS_INVALID_VALUE;
}

}  // namespace

cublasStatus_t cublasCreate(cublasHandle_t* handle) {
  *handle = new cublasContext;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy(cublasHandle_t handle) {
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}
// Like cuBLAS, setting the stream drops a workspace set before.
cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
  handle->stream = stream;
  handle->workspace = nullptr;
  handle->workspace_bytes = 0;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetWorkspace(cublasHandle_t handle, void* workspace, size_t bytes) {
  if (bytes && !is_device(workspace)) return CUBLAS_STATUS_INVALID_VALUE;
  handle->workspace = workspace;
  handle->workspace_bytes = bytes;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetMathMode(cublasHandle_t, cublasMath_t mode) {
  return mode == CUBLAS_DEFAULT_MATH || mode == CUBLAS_PEDANTIC_MATH ? CUBLAS_STATUS_SUCCESS
                                                                      : CUBLAS_STATUS_NOT_SUPPORTED;
}

cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                            int k, const void* alpha, const void* A, cudaDataType_t Atype, int lda, const void* B,
                            cudaDataType_t Btype, int ldb, const void* beta, void* C, cudaDataType_t Ctype, int ldc,
                            cublasComputeType_t computeType, cublasGemmAlgo_t algo) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (Atype != Btype || Ctype != CUDA_R_32F || computeType != CUBLAS_COMPUTE_32F || algo != CUBLAS_GEMM_DEFAULT ||
      transa == CUBLAS_OP_C || transb == CUBLAS_OP_C) {
    report("cublasGemmEx: an argument combination the emulator does not support");
    return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  if (m < 0 || n < 0 || k < 0) return invalid("negative size");
  const int a_rows = transa == CUBLAS_OP_N ? m : k, b_rows = transb == CUBLAS_OP_N ? k : n;
  if (lda < std::max(1, a_rows) || ldb < std::max(1, b_rows) || ldc < std::max(1, m))
    return invalid("a leading dimension smaller than its matrix's rows");
  if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
  if ((k && (!is_device(A) || !is_device(B))) || !is_device(C)) return invalid("A, B and C must be device memory");
  if (capturing(handle->stream) && !handle->workspace)
    return invalid("captured into a graph without a workspace (cublasSetWorkspace after cublasSetStream)");
  const float a = *static_cast<const float*>(alpha), b = *static_cast<const float*>(beta);
  enqueue(handle->stream, [=] {
    float* c = static_cast<float*>(C);
    for (int j = 0; j < n; ++j)
      for (int i = 0; i < m; ++i) {
        float acc = 0.0f;
        for (int p = 0; p < k; ++p) {
          const size_t ai = transa == CUBLAS_OP_N ? size_t(p) * lda + i : size_t(i) * lda + p;
          const size_t bi = transb == CUBLAS_OP_N ? size_t(j) * ldb + p : size_t(p) * ldb + j;
          acc += element(A, Atype, ai) * element(B, Btype, bi);
        }
        float& out = c[size_t(j) * ldc + i];
        out = b == 0.0f ? a * acc : a * acc + b * out;
      }
  });
  return CUBLAS_STATUS_SUCCESS;
}
