// Projections over many rows (prefill chunks, large decode batches) through cuBLAS:
// Y[n, out] = X[n, in] W^T (+ b) with cublasGemmEx and f32 accumulation
// (CUBLAS_COMPUTE_32F).
//
// cuBLAS multiplies operands of one type. f32 weights take X as it is. For f16/bf16
// weights X is split into parts of the weight's type whose sum is X to f32 precision
// (2 parts for f16: 22 bits; 3 for bf16: 24 bits), the parts are stacked as extra
// columns of one GEMM (so W is read once), and a small kernel adds the parts' results
// and the bias into Y. The activations thus keep their f32 precision, as on the CPU,
// instead of being rounded to 11 or 8 bits. Each row is scaled by a power of two
// before the split (and back after), so f16 parts cannot overflow.
#pragma once

#include "device_matrix.hpp"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstddef>

namespace mmb::cuda {

// Rows at and above which plain projections go through cuBLAS.
inline constexpr int kGemmMinRows = 32;
// Parts X is split into for a weight type (0: f32, no split).
constexpr int gemm_parts(WeightType t) { return t == WeightType::F32 ? 0 : t == WeightType::F16 ? 2 : 3; }

struct GemmScratch {
  void* parts;            // 16-bit values: at least 3 * n * in
  float* partial;         // the parts' products
  size_t partial_floats;  // rows are processed in chunks that fit: at least 3 * out
  float* row_scale;       // [n]
};

// The handle must already run on `stream` (cublasSetStream also drops a workspace set
// with cublasSetWorkspace, which graph capture relies on, so it is called once per
// handle, not here).
void linear_gemm(cublasHandle_t handle, cudaStream_t stream, const DeviceMatrix& w, const float* bias,
                 const float* x, int ldx, float* y, int ldy, int n, const GemmScratch& scratch);

// y[r, j] += bias[j] for r < n, j < d.
void add_bias_rows(cudaStream_t stream, const float* bias, float* y, int ldy, int d, int n);

}  // namespace mmb::cuda
