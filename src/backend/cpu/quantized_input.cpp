#include "backend/cpu/quantized_input.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace mmb::cpu {

QuantizedInput quantized_input_layout(size_t n, size_t cols, void* buffer) {
  QuantizedInput a;
  a.vectors = n;
  a.groups = (cols + kInputGroup - 1) / kInputGroup;
  a.blocks = (a.groups + kInputBlockGroups - 1) / kInputBlockGroups;
  a.padded_groups = (a.groups + kInputScaleRun - 1) / kInputScaleRun * kInputScaleRun;
  // Scales and offsets first: they need 4-byte alignment, the values none.
  a.scale = static_cast<float*>(buffer);
  a.offset = reinterpret_cast<int32_t*>(a.scale + n * a.padded_groups);
  a.q = reinterpret_cast<int8_t*>(a.offset + n * a.blocks * kInputBlockOffsets);
  const int8_t zeros[kInputGroup] = {};
  for (size_t v = 0; v < n; ++v) {
    std::fill(a.scale + v * a.padded_groups + a.groups, a.scale + (v + 1) * a.padded_groups, 0.0f);
    for (size_t g = a.groups; g < a.blocks * kInputBlockGroups; ++g) store_input_group(a, v, g, zeros, 0);
  }
  return a;
}

float quantize_input_group(const float* x, size_t n, int8_t* q) {
  float m = 0.0f;
  bool finite = true;
  for (size_t k = 0; k < n; ++k) {
    m = std::max(m, std::fabs(x[k]));
    finite = finite && std::isfinite(x[k]);
  }
  const float d = m / 127.0f;
  std::fill(q, q + kInputGroup, int8_t(0));
  if (!finite) return NAN;
  if (d == 0.0f) return 0.0f;
  for (size_t k = 0; k < n; ++k) {
    // Clamped for a subnormal d, whose rounding can leave m / d above 127.5.
    const float r = std::clamp(std::nearbyint(x[k] / d), -127.0f, 127.0f);
    q[k] = int8_t(r);
  }
  return d;
}

void store_input_group(const QuantizedInput& a, size_t v, size_t g, const int8_t* q, int32_t zero) {
  std::memcpy(a.low_of(v, g), q, 16);
  std::memcpy(a.high_of(v, g), q + 16, 16);
  int32_t* o = a.offsets_of(v, g);
  for (size_t l = 0; l < kInputLanesPerGroup; ++l) {
    int32_t sum = 0;
    for (size_t k = 4 * l; k < 4 * l + 4; ++k) sum += q[k] + q[16 + k];
    o[l] = -zero * sum;
  }
}

}  // namespace mmb::cpu
