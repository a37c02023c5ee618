#include "linear_gemm.cuh"
#include "plugin_error.hpp"
#include "weight_element.cuh"

namespace mmb::cuda {

namespace {

__device__ __forceinline__ void from_float(float v, __half* out) { *out = __float2half_rn(v); }
__device__ __forceinline__ void from_float(float v, __nv_bfloat16* out) { *out = __float2bfloat16_rn(v); }

template <typename T>
__global__ void round_rows_kernel(const float* x, int ldx, T* out, int d) {
  const int r = blockIdx.y;
  for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < d; j += gridDim.x * blockDim.x)
    from_float(x[size_t(r) * ldx + j], out + size_t(r) * d + j);
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
  const void* b = x;
  int ldb = ldx;
  cudaDataType_t type = CUDA_R_32F;
  if (w.type != WeightType::F32) {
    const dim3 grid((in + 255) / 256, n);
    if (w.type == WeightType::F16) {
      round_rows_kernel<<<grid, 256, 0, stream>>>(x, ldx, static_cast<__half*>(staging), in);
      type = CUDA_R_16F;
    } else {
      round_rows_kernel<<<grid, 256, 0, stream>>>(x, ldx, static_cast<__nv_bfloat16*>(staging), in);
      type = CUDA_R_16BF;
    }
    MMB_CUDA_LAUNCHED("round_rows_kernel");
    b = staging;
    ldb = in;
  }
  // Column-major view: Y^T [out, n] = W^T' (W stored [out, in] row-major is [in, out]
  // column-major, transposed) times X^T [in, n].
  const float alpha = 1.0f, beta = 0.0f;
  MMB_CUBLAS_CHECK(cublasSetStream(handle, stream));
  MMB_CUBLAS_CHECK(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, &alpha, w.data, type, in, b, type, ldb,
                                &beta, y, CUDA_R_32F, ldy, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  add_bias_rows(stream, bias, y, ldy, out, n);
}

}  // namespace mmb::cuda
