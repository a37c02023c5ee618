// One channel of the selective scan for one token (DESIGN.md section 5):
//   s[k] = s[k] * exp(dt * A[k]) + dt * x * B[k]   for k < d_state
//   returns sum_k s[k] * C[k]
// The exponentials dominate the scan's cost (d_state of them per channel per token),
// so the SIMD paths compute them as vectors with a polynomial exp (relative error
// below 2e-7, the same order as f32 rounding); the portable path uses std::exp.
#pragma once

#include <cstddef>

namespace mmb::cpu {

float scan_channel(float* s, const float* A, const float* B, const float* C, float dt, float dtx, size_t d_state);

// The portable loop, whatever the kernel path (the SIMD paths' reference in tests).
float scan_channel_portable(float* s, const float* A, const float* B, const float* C, float dt, float dtx,
                            size_t d_state);

}  // namespace mmb::cpu
