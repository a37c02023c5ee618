#include "norm.cuh"
#include "launch.cuh"
#include "plugin_error.hpp"

namespace mmb::cuda {

namespace {

constexpr int kThreads = 256;

// Sum of v over the block; every thread gets the result.
__device__ double block_sum(double v, double* shared) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  __syncthreads();  // shared may still be read by a previous call
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  double total = 0.0;
  for (int w = 0; w < kThreads / 32; ++w) total += shared[w];
  return total;
}

__global__ void normalize_rows_kernel(NormType type, const float* weight, const float* bias, float eps,
                                      const float* x, int ldx, float* y, int ldy, int d) {
  __shared__ double shared[kThreads / 32];
  const float* xr = x + size_t(blockIdx.x) * ldx;
  float* yr = y + size_t(blockIdx.x) * ldy;
  if (type == NormType::None) {
    for (int j = threadIdx.x; j < d; j += kThreads) yr[j] = xr[j];
    return;
  }
  if (type == NormType::RMS) {
    double ss = 0.0;
    for (int j = threadIdx.x; j < d; j += kThreads) ss += double(xr[j]) * xr[j];
    ss = block_sum(ss, shared);
    const float inv = float(1.0 / sqrt(ss / double(d) + eps));
    for (int j = threadIdx.x; j < d; j += kThreads) yr[j] = xr[j] * inv * weight[j];
    return;
  }
  double mean = 0.0;
  for (int j = threadIdx.x; j < d; j += kThreads) mean += xr[j];
  mean = block_sum(mean, shared) / double(d);
  double var = 0.0;
  for (int j = threadIdx.x; j < d; j += kThreads) var += (xr[j] - mean) * (xr[j] - mean);
  var = block_sum(var, shared);
  const float inv = float(1.0 / sqrt(var / double(d) + eps));
  for (int j = threadIdx.x; j < d; j += kThreads) yr[j] = float(xr[j] - mean) * inv * weight[j] + bias[j];
}

__global__ void inverse_rms_kernel(const float* x, int ldx, int d, float eps, float* inv) {
  __shared__ double shared[kThreads / 32];
  const float* xr = x + size_t(blockIdx.x) * ldx;
  double ss = 0.0;
  for (int j = threadIdx.x; j < d; j += kThreads) ss += double(xr[j]) * xr[j];
  ss = block_sum(ss, shared);
  if (threadIdx.x == 0) inv[blockIdx.x] = float(1.0 / sqrt(ss / double(d) + eps));
}

}  // namespace

void normalize_rows(cudaStream_t stream, NormType type, const float* weight, const float* bias, float eps,
                    const float* x, int ldx, float* y, int ldy, int d, int n) {
  if (n == 0) return;
  launch_kernel(normalize_rows_kernel, n, kThreads, stream, type, weight, bias, eps, x, ldx, y, ldy, d);
  MMB_CUDA_LAUNCHED("normalize_rows_kernel");
}

void inverse_rms_rows(cudaStream_t stream, const float* x, int ldx, int d, float eps, float* inv, int n) {
  if (n == 0) return;
  launch_kernel(inverse_rms_kernel, n, kThreads, stream, x, ldx, d, eps, inv);
  MMB_CUDA_LAUNCHED("inverse_rms_kernel");
}

}  // namespace mmb::cuda
