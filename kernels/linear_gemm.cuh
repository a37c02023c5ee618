// Projections over many rows (prefill chunks, large decode batches) through cuBLAS:
// Y[n, out] = X[n, in] W^T (+ b) with cublasGemmEx and f32 accumulation
// (CUBLAS_COMPUTE_32F). cuBLAS needs both operands of one type, so for f16/bf16
// weights X is split into hi + lo parts of the weight's type in `staging` and two
// GEMMs accumulate (X keeps ~22 bits (f16) or ~16 bits (bf16) instead of 11 or 8);
// f32 weights take X as it is.
#pragma once

#include "device_matrix.hpp"

#include <cublas_v2.h>
#include <cuda_runtime.h>

namespace mmb::cuda {

// Rows at and above which plain projections go through cuBLAS.
inline constexpr int kGemmMinRows = 32;

// staging: at least 2 * n * in 16-bit values when w is f16/bf16. The handle must already
// run on `stream` (cublasSetStream also drops a workspace set with cublasSetWorkspace,
// which graph capture relies on, so it is called once per handle, not here).
void linear_gemm(cublasHandle_t handle, cudaStream_t stream, const DeviceMatrix& w, const float* bias,
                 const float* x, int ldx, float* y, int ldy, int n, void* staging);

// y[r, j] += bias[j] for r < n, j < d.
void add_bias_rows(cudaStream_t stream, const float* bias, float* y, int ldy, int d, int n);

}  // namespace mmb::cuda
