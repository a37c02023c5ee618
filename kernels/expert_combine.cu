#include "expert_combine.cuh"
#include "launch.cuh"
#include "plugin_error.hpp"

namespace mmb::cuda {

namespace {

__global__ void expert_combine_kernel(const float* pair_out, int ld_pair, const float* gates, const float* inv_rms,
                                      int top_k, float* out, int ldo, int d) {
  const int r = blockIdx.y;
  for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < d; j += gridDim.x * blockDim.x) {
    float acc = 0.0f;
    for (int k = 0; k < top_k; ++k) {
      const int p = r * top_k + k;
      float g = gates[p];
      if (inv_rms) g *= inv_rms[p];
      acc += g * pair_out[size_t(p) * ld_pair + j];
    }
    out[size_t(r) * ldo + j] = acc;
  }
}

}  // namespace

void expert_combine(cudaStream_t stream, const float* pair_out, int ld_pair, const float* gates,
                    const float* inv_rms, int top_k, float* out, int ldo, int d, int n) {
  if (n == 0) return;
  launch_kernel(expert_combine_kernel, dim3((d + 255) / 256, n), 256, stream, pair_out, ld_pair, gates, inv_rms, top_k,
                out, ldo, d);
  MMB_CUDA_LAUNCHED("expert_combine_kernel");
}

}  // namespace mmb::cuda
