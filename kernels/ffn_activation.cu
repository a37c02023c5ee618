#include "ffn_activation.cuh"
#include "launch.cuh"
#include "plugin_error.hpp"

namespace mmb::cuda {

namespace {

__device__ __forceinline__ float activate(FfnActivation act, float x) {
  switch (act) {
    case FfnActivation::ReLU: return x > 0.0f ? x : 0.0f;
    case FfnActivation::GELU:
    case FfnActivation::GeGLU: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case FfnActivation::GELUTanh:
      return 0.5f * x * (1.0f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
    case FfnActivation::SiLU:
    case FfnActivation::SwiGLU: return x / (1.0f + expf(-x));
    case FfnActivation::ReLU2: return x > 0.0f ? x * x : 0.0f;
  }
  return x;
}

__global__ void ffn_activation_kernel(FfnActivation act, float* h, const float* gate_in, size_t count) {
  const bool gated = act == FfnActivation::SwiGLU || act == FfnActivation::GeGLU;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < count; i += size_t(gridDim.x) * blockDim.x)
    h[i] = gated ? activate(act, h[i]) * gate_in[i] : activate(act, h[i]);
}

}  // namespace

void ffn_activation(cudaStream_t stream, FfnActivation act, float* h, const float* gate_in, int d_ff, int n) {
  const size_t count = size_t(d_ff) * n;
  if (count == 0) return;
  const unsigned blocks = unsigned(std::min<size_t>((count + 255) / 256, 65535));
  launch_kernel(ffn_activation_kernel, blocks, 256, stream, act, h, gate_in, count);
  MMB_CUDA_LAUNCHED("ffn_activation_kernel");
}

}  // namespace mmb::cuda
