#include "plugin_error.hpp"
#include "selective_scan.cuh"

namespace mmb::cuda {

namespace {

__device__ __forceinline__ float silu(float v) { return v / (1.0f + expf(-v)); }
__device__ __forceinline__ float softplus(float v) { return v > 20.0f ? v : log1pf(expf(v)); }

__global__ void selective_scan_kernel(ScanArgs a, int n, bool sequential) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= a.d_inner) return;
  const int ds = a.d_state;
  const int dbc_dim = a.dt_rank + 2 * ds;
  const float* Ac = a.A + size_t(c) * ds;
  const float Dc = a.D[c];
  const int r0 = sequential ? 0 : blockIdx.y;
  const int r1 = sequential ? n : blockIdx.y + 1;
  for (int r = r0; r < r1; ++r) {
    float* s = a.states[r] + a.scan_offset + size_t(c) * ds;
    const float dt = softplus(a.dt_raw[size_t(r) * a.d_inner + c]);
    const float x = a.xc[size_t(r) * a.d_inner + c];
    const float* B = a.dbc + size_t(r) * dbc_dim + a.dt_rank;
    const float* C = B + ds;
    float y = 0.0f;
    for (int k = 0; k < ds; ++k) {
      const float v = s[k] * expf(dt * Ac[k]) + dt * x * B[k];
      s[k] = v;
      y += v * C[k];
    }
    a.y[size_t(r) * a.d_inner + c] = (y + Dc * x) * silu(a.z[size_t(r) * a.ldz + c]);
  }
}

}  // namespace

void selective_scan(cudaStream_t stream, const ScanArgs& args, int n, bool sequential) {
  if (n == 0) return;
  const dim3 grid((args.d_inner + 127) / 128, sequential ? 1 : n);
  selective_scan_kernel<<<grid, 128, 0, stream>>>(args, n, sequential);
  MMB_CUDA_LAUNCHED("selective_scan_kernel");
}

}  // namespace mmb::cuda
