#include "backend/cpu/q4_activations.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace mmb::cpu {

Q4Activations q4_activation_layout(size_t n, size_t cols, void* buffer) {
  Q4Activations a;
  a.groups = q4_groups(cols);
  a.blocks = (a.groups + kQ4BlockGroups - 1) / kQ4BlockGroups;
  a.padded_groups = (a.groups + kQ4ScaleRun - 1) / kQ4ScaleRun * kQ4ScaleRun;
  // Scales and offsets first: they need 4-byte alignment, the values none.
  a.scale = static_cast<float*>(buffer);
  a.offset = reinterpret_cast<int32_t*>(a.scale + n * a.padded_groups);
  a.q = reinterpret_cast<int8_t*>(a.offset + n * a.blocks * kQ4BlockOffsets);
  const int8_t zeros[kQ4Group] = {};
  for (size_t v = 0; v < n; ++v) {
    std::fill(a.scale + v * a.padded_groups + a.groups, a.scale + (v + 1) * a.padded_groups, 0.0f);
    for (size_t g = a.groups; g < a.blocks * kQ4BlockGroups; ++g) store_q4_group(a, v, g, zeros, 0);
  }
  return a;
}

float quantize_q4_group(const float* x, size_t n, int8_t* q, int32_t* sum) {
  float m = 0.0f;
  bool finite = true;
  for (size_t k = 0; k < n; ++k) {
    m = std::max(m, std::fabs(x[k]));
    finite = finite && std::isfinite(x[k]);
  }
  const float d = m / 127.0f;
  std::fill(q, q + kQ4Group, int8_t(0));
  *sum = 0;
  if (!finite) return NAN;
  if (d == 0.0f) return 0.0f;
  for (size_t k = 0; k < n; ++k) {
    // Clamped for a subnormal d, whose rounding can leave m / d above 127.5.
    const float r = std::clamp(std::nearbyint(x[k] / d), -127.0f, 127.0f);
    q[k] = int8_t(r);
    *sum += int32_t(r);
  }
  return d;
}

void store_q4_group(const Q4Activations& a, size_t v, size_t g, const int8_t* q, int32_t sum) {
  std::memcpy(a.low_of(v, g), q, 16);
  std::memcpy(a.high_of(v, g), q + 16, 16);
  int32_t* o = a.offsets_of(v, g);
  std::fill(o, o + kQ4LanesPerGroup, -int32_t(kQ4Zero / kQ4LanesPerGroup) * sum);
}

}  // namespace mmb::cpu
