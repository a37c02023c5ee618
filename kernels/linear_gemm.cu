#include "linear_gemm.cuh"
#include "launch.cuh"
#include "plugin_error.hpp"
#include "weight_element.cuh"

#include <algorithm>

namespace mmb::cuda {

namespace {

__device__ __forceinline__ __half to_weight_type(float v, __half*) { return __float2half_rn(v); }
__device__ __forceinline__ __nv_bfloat16 to_weight_type(float v, __nv_bfloat16*) { return __float2bfloat16_rn(v); }

constexpr int kThreads = 256;

// One block per row. The row is first scaled by a power of two (exact) that brings its
// largest magnitude to at most 2^14, so f16 parts cannot overflow whatever the
// activations' range; row_scale[r] undoes it after the GEMM. Then part p of the row
// goes to parts[(p * n + r) * d]: part 0 is the scaled row rounded to T, each next part
// the rounding of what the previous ones left.
template <typename T>
__global__ void split_rows_kernel(const float* x, int ldx, T* parts, float* row_scale, int n_parts, int n, int d) {
  __shared__ float shared[kThreads / 32];
  const int r = blockIdx.x;
  const float* xr = x + size_t(r) * ldx;
  float mx = 0.0f;
  for (int j = threadIdx.x; j < d; j += kThreads) mx = fmaxf(mx, fabsf(xr[j]));
  for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
  if (threadIdx.x % 32 == 0) shared[threadIdx.x / 32] = mx;
  __syncthreads();
  mx = 0.0f;
  for (int w = 0; w < kThreads / 32; ++w) mx = fmaxf(mx, shared[w]);
  int e = 0;
  if (mx > 0.0f && isfinite(mx)) {
    frexpf(mx, &e);  // mx < 2^e
    e -= 14;
  }
  const float down = ldexpf(1.0f, -e);
  if (threadIdx.x == 0) row_scale[r] = ldexpf(1.0f, e);
  for (int j = threadIdx.x; j < d; j += kThreads) {
    float rest = xr[j] * down;
    for (int p = 0; p < n_parts; ++p) {
      const T part = to_weight_type(rest, static_cast<T*>(nullptr));
      parts[(size_t(p) * n + r) * d + j] = part;
      rest -= to_float(part);
    }
  }
}

// y[r, j] = row_scale[r] * (sum of the parts' products, smallest first) + bias[j].
__global__ void sum_parts_kernel(const float* partial, const float* row_scale, int n_parts, int n, int out,
                                 const float* bias, float* y, int ldy) {
  const int r = blockIdx.y;
  for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < out; j += gridDim.x * blockDim.x) {
    float acc = 0.0f;
    for (int p = n_parts - 1; p >= 0; --p) acc += partial[(size_t(p) * n + r) * out + j];
    y[size_t(r) * ldy + j] = acc * row_scale[r] + (bias ? bias[j] : 0.0f);
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
  launch_kernel(add_bias_kernel, dim3((d + 255) / 256, n), 256, stream, bias, y, ldy, d);
  MMB_CUDA_LAUNCHED("add_bias_kernel");
}

void linear_gemm(cublasHandle_t handle, cudaStream_t stream, const DeviceMatrix& w, const float* bias,
                 const float* x, int ldx, float* y, int ldy, int n, const GemmScratch& scratch) {
  if (n == 0) return;
  const int out = int(w.rows), in = int(w.cols);
  const float one = 1.0f, zero = 0.0f;
  // Column-major view: Y^T [out, cols] = op(W) B, where W stored [out, in] row-major is
  // an [in, out] column-major matrix, hence CUBLAS_OP_T, and B holds one row of X (or
  // of a part of X) per column.
  auto gemm = [&](const void* b, cudaDataType_t type, int ldb, int cols, float* c, int ldc) {
    MMB_CUBLAS_CHECK(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, out, cols, in, &one, w.data, type, in, b, type,
                                  ldb, &zero, c, CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  };
  if (w.type == WeightType::F32) {
    gemm(x, CUDA_R_32F, ldx, n, y, ldy);
    add_bias_rows(stream, bias, y, ldy, out, n);
    return;
  }
  const int P = gemm_parts(w.type);
  const int chunk = int(std::min<size_t>(size_t(n), scratch.partial_floats / (size_t(P) * out)));
  if (chunk < 1) throw PluginError(MMB_ERR_INTERNAL, "linear_gemm: partial buffer smaller than one row");
  for (int start = 0; start < n; start += chunk) {
    const int rows = std::min(chunk, n - start);
    const float* xs = x + size_t(start) * ldx;
    if (w.type == WeightType::F16) {
      launch_kernel(split_rows_kernel<__half>, rows, kThreads, stream, xs, ldx, static_cast<__half*>(scratch.parts),
                    scratch.row_scale, P, rows, in);
      MMB_CUDA_LAUNCHED("split_rows_kernel");
      gemm(scratch.parts, CUDA_R_16F, in, P * rows, scratch.partial, out);
    } else {
      launch_kernel(split_rows_kernel<__nv_bfloat16>, rows, kThreads, stream, xs, ldx,
                    static_cast<__nv_bfloat16*>(scratch.parts), scratch.row_scale, P, rows, in);
      MMB_CUDA_LAUNCHED("split_rows_kernel");
      gemm(scratch.parts, CUDA_R_16BF, in, P * rows, scratch.partial, out);
    }
    launch_kernel(sum_parts_kernel, dim3((out + 255) / 256, rows), 256, stream, scratch.partial, scratch.row_scale, P,
                  rows, out, bias, y + size_t(start) * ldy, ldy);
    MMB_CUDA_LAUNCHED("sum_parts_kernel");
  }
}

}  // namespace mmb::cuda
