#include "linear_gemm.cuh"
#include "plugin_error.hpp"
#include "weight_element.cuh"

namespace mmb::cuda {

namespace {

__device__ __forceinline__ void from_float(float v, __half* out) { *out = __float2half_rn(v); }
__device__ __forceinline__ void from_float(float v, __nv_bfloat16* out) { *out = __float2bfloat16_rn(v); }

__device__ __forceinline__ float rounded(float v, __half*) { return __half2float(__float2half_rn(v)); }
__device__ __forceinline__ float rounded(float v, __nv_bfloat16*) { return __bfloat162float(__float2bfloat16_rn(v)); }

// hi = x rounded to T, lo = (x - hi) rounded to T: hi + lo carries x to about 2^-22
// (f16) or 2^-16 (bf16) of its size.
template <typename T>
__global__ void split_rows_kernel(const float* x, int ldx, T* hi, T* lo, int d) {
  const int r = blockIdx.y;
  for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < d; j += gridDim.x * blockDim.x) {
    const float v = x[size_t(r) * ldx + j];
    const float h = rounded(v, hi);
    from_float(h, hi + size_t(r) * d + j);
    from_float(v - h, lo + size_t(r) * d + j);
  }
}

__global__ void add_bias_kernel(const float* bias, float* y, int ldy, int d) {
  const int r = blockIdx.y;
  for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < d; j += gridDim.x * blockDim.x)
    y[size_t(r) * ldy + j] += bias[j];
}

}  // namespace

void add_bias_rows(cudaStream_t stream, const float* bias, float* y, int ldy, int d, int n) {
  if (n == 0 || !bias) return;
  add_bias_kernel<<<dim3((d + 255) / 256, n), 256, 0, stream>>>(bias, y, ldy, d);
  MMB_CUDA_LAUNCHED("add_bias_kernel");
}

void linear_gemm(cublasHandle_t handle, cudaStream_t stream, const DeviceMatrix& w, const float* bias,
                 const float* x, int ldx, float* y, int ldy, int n, void* staging) {
  if (n == 0) return;
  const int out = int(w.rows), in = int(w.cols);
  const float one = 1.0f, zero = 0.0f;
  // Column-major view: Y^T [out, n] = op(W) X^T, where W stored [out, in] row-major is
  // an [in, out] column-major matrix, hence CUBLAS_OP_T.
  auto gemm = [&](const void* b, cudaDataType_t type, int ldb, const float* beta) {
    MMB_CUBLAS_CHECK(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, &one, w.data, type, in, b, type, ldb,
                                  beta, y, CUDA_R_32F, ldy, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  };
  if (w.type == WeightType::F32) {
    gemm(x, CUDA_R_32F, ldx, &zero);
  } else {
    // cuBLAS multiplies operands of one type: X goes in as hi + lo of the weight's
    // type, two GEMMs accumulating into Y, so the f32 activations keep their precision
    // (as on the CPU) instead of being rounded to 16 bits.
    const dim3 grid((in + 255) / 256, n);
    const size_t half = size_t(n) * in;
    cudaDataType_t type;
    const void *hi, *lo;
    if (w.type == WeightType::F16) {
      __half* h = static_cast<__half*>(staging);
      split_rows_kernel<<<grid, 256, 0, stream>>>(x, ldx, h, h + half, in);
      type = CUDA_R_16F;
      hi = h;
      lo = h + half;
    } else {
      __nv_bfloat16* h = static_cast<__nv_bfloat16*>(staging);
      split_rows_kernel<<<grid, 256, 0, stream>>>(x, ldx, h, h + half, in);
      type = CUDA_R_16BF;
      hi = h;
      lo = h + half;
    }
    MMB_CUDA_LAUNCHED("split_rows_kernel");
    gemm(hi, type, in, &zero);
    gemm(lo, type, in, &one);
  }
  add_bias_rows(stream, bias, y, ldy, out, n);
}

}  // namespace mmb::cuda
