// The feed-forward nonlinearity, in place over [n, d_ff] rows: h = act(h) for relu,
// gelu (erf form), gelu_tanh, silu and relu2 (relu(x)^2, Nemotron-H's); h = act(h) * u
// (u = w3's output) for the gated SwiGLU (silu) and GeGLU (gelu).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace mmb::cuda {

enum class FfnActivation : uint8_t { ReLU = 0, GELU = 1, GELUTanh = 2, SiLU = 3, SwiGLU = 4, GeGLU = 5, ReLU2 = 6 };

// gate_in: [n, d_ff] (the w3 output) for the gated kinds, ignored otherwise.
void ffn_activation(cudaStream_t stream, FfnActivation act, float* h, const float* gate_in, int d_ff, int n);

}  // namespace mmb::cuda
