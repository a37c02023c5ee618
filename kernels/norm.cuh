// Per-row normalization of DESIGN.md section 5, in f32 with the sums in double like
// the CPU backend: RMSNorm y = x / sqrt(mean(x^2) + eps) * w; LayerNorm
// y = (x - mean) / sqrt(var + eps) * w + b; None copies. One block per row.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace mmb::cuda {

enum class NormType : uint8_t { None = 0, RMS = 1, Layer = 2 };

// x and y are [n, d] with row strides ldx, ldy (floats); weight and bias f32 [d].
void normalize_rows(cudaStream_t stream, NormType type, const float* weight, const float* bias, float eps,
                    const float* x, int ldx, float* y, int ldy, int d, int n);

// inv[r] = 1 / sqrt(mean(x[r]^2) + eps): the scale of normalize_expert_output.
void inverse_rms_rows(cudaStream_t stream, const float* x, int ldx, int d, float eps, float* inv, int n);

}  // namespace mmb::cuda
