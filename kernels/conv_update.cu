#include "conv_update.cuh"
#include "launch.cuh"
#include "plugin_error.hpp"

namespace mmb::cuda {

namespace {

__device__ __forceinline__ float silu(float v) { return v / (1.0f + expf(-v)); }

__global__ void conv_update_kernel(ConvArgs a, int n, bool sequential) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= a.d_inner) return;
  const int conv_len = a.d_conv - 1;
  const float* wk = a.weight + size_t(c) * a.d_conv;
  const float bias = a.bias ? a.bias[c] : 0.0f;
  const int r0 = sequential ? 0 : blockIdx.y;
  const int r1 = sequential ? n : blockIdx.y + 1;
  for (int r = r0; r < r1; ++r) {
    float* window = a.states[r] + a.window_offset + size_t(c) * conv_len;
    const float x = a.x[size_t(r) * a.ldx + c];
    float acc = bias;
    for (int k = 0; k < conv_len; ++k) acc += wk[k] * window[k];
    acc += wk[conv_len] * x;
    for (int k = 0; k + 1 < conv_len; ++k) window[k] = window[k + 1];
    if (conv_len) window[conv_len - 1] = x;
    a.xc[size_t(r) * a.d_inner + c] = silu(acc);
  }
}

}  // namespace

void conv_update(cudaStream_t stream, const ConvArgs& args, int n, bool sequential) {
  if (n == 0) return;
  const dim3 grid((args.d_inner + 127) / 128, sequential ? 1 : n);
  launch_kernel(conv_update_kernel, grid, 128, stream, args, n, sequential);
  MMB_CUDA_LAUNCHED("conv_update_kernel");
}

}  // namespace mmb::cuda
