// The selective scan's step for one token (DESIGN.md section 5). Per channel:
//   s[k] = s[k] * exp(dt * A[k]) + dt * x * B[k]   for k < d_state
//   y    = sum_k s[k] * C[k]
// The exponentials dominate its cost (d_state of them per channel per token), so the
// SIMD paths compute them, and softplus, silu and the sums, as vectors over several
// channels (vector_channels.inc; relative error below 3e-7, the order of f32 rounding);
// the portable path uses libm.
#pragma once

#include "model/model_weights.hpp"

#include <cstddef>

namespace mmb::cpu {

// One row's scan step over a run of channels of a layer:
//   dt = softplus(dt_raw[c]);  s_c = s_c * exp(dt A_c) + dt x[c] B   (as above)
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

// Channels [c0, c1). The AVX-512, AVX2 and NEON paths take 16, 8 or 4 channels at a
// time as vectors; a channel's result does not depend on which channels share its
// vector, so any split of the channels gives identical bits.
void scan_channels(const ScanStep& step, size_t c0, size_t c1, size_t d_state);

// One channel on the portable path (the reference of the vector paths in tests):
// updates s[0, d_state) and returns y; dtx is dt * x.
float scan_channel_portable(float* s, const float* A, const float* B, const float* C, float dt, float dtx,
                            size_t d_state);

}  // namespace mmb::cpu
