// One channel of the selective scan for one token (DESIGN.md section 5):
//   s[k] = s[k] * exp(dt * A[k]) + dt * x * B[k]   for k < d_state
//   returns sum_k s[k] * C[k]
// The exponentials dominate the scan's cost (d_state of them per channel per token),
// so the SIMD paths compute them as vectors with a polynomial exp (relative error
// below 2e-7, the same order as f32 rounding); the portable path uses std::exp.
#pragma once

#include "model/model_weights.hpp"

#include <cstddef>

namespace mmb::cpu {

// One row's scan step over a run of channels of a layer (DESIGN.md section 5):
//   dt = softplus(dt_raw[c]);  s_c = s_c * exp(dt A_c) + dt x[c] B   (s_c = scan_channel)
//   y[c] = (s_c . C + D[c] x[c]) * silu(z[c])
// state and A are [d_inner][d_state]; B and C are the row's d_state values.
struct ScanStep {
  float* state;
  const float* A;
  const float* B;
  const float* C;
  const float* dt_raw;
  const float* x;
  const float* z;
  const Matrix& D;
  float* y;
};

// Channels [c0, c1). The AVX-512 and AVX2 paths take 16 or 8 channels at a time as
// vectors (softplus, silu and the state sums too); a channel's result does not depend
// on which channels share its vector, so any split of the channels gives identical bits.
// The NEON and portable paths take one channel at a time (scan_channel).
void scan_channels(const ScanStep& step, size_t c0, size_t c1, size_t d_state);

float scan_channel(float* s, const float* A, const float* B, const float* C, float dt, float dtx, size_t d_state);

// The portable loop, whatever the kernel path (the SIMD paths' reference in tests).
float scan_channel_portable(float* s, const float* A, const float* B, const float* C, float dt, float dtx,
                            size_t d_state);

}  // namespace mmb::cpu
