// v / sqrt(mean(v^2) + eps), in place, times weight[offset + i] when a weight is given:
// the RMS norms inside the mixers (Mamba-1's dt/B/C norms, Mamba-2's gated norm over a
// group of channels). The sum is taken in double, as the block norms take it.
#pragma once

#include "backend/cpu/weight_load.hpp"

#include <cmath>
#include <cstddef>

namespace mmb::cpu {

inline void rms_normalize(float* v, size_t d, float eps, const Matrix* weight, size_t offset = 0) {
  double ss = 0.0;
  for (size_t i = 0; i < d; ++i) ss += double(v[i]) * v[i];
  const float inv = float(1.0 / std::sqrt(ss / double(d) + eps));
  for (size_t i = 0; i < d; ++i) v[i] = v[i] * inv * (weight ? load(*weight, offset + i) : 1.0f);
}

}  // namespace mmb::cpu
