#include "base/q8.hpp"

#include <algorithm>
#include <cmath>

namespace mmb {

uint16_t q8_group_scale(const float* group, size_t n) {
  float max_abs = 0.0f;
  for (size_t i = 0; i < n; ++i) max_abs = std::max(max_abs, std::fabs(group[i]));
  const double want = double(max_abs) / 127.0;  // in double: no rounding below the true quotient
  uint16_t h = f32_to_f16(float(want));
  // Rounded to nearest, the f16 may fall below max|x| / 127 and push a value past 127:
  // step up to the next f16 instead of clamping (positive f16 bits order like values).
  if (double(f16_to_f32(h)) < want) ++h;
  return h;
}

std::optional<uint64_t> quantize_q8(const float* values, uint64_t rows, uint64_t cols, std::byte* out) {
  const uint64_t groups = q8_groups(cols);
  const uint64_t values_end = rows * cols;
  std::byte* scales = out + *q8_scales_offset(rows, cols);
  std::fill(out + values_end, scales, std::byte{0});
  for (uint64_t i = 0; i < values_end; ++i)
    if (!(std::fabs(values[i]) <= kQ8MaxMagnitude)) return i;  // NaN fails the comparison too
  for (uint64_t r = 0; r < rows; ++r) {
    for (uint64_t g = 0; g < groups; ++g) {
      const uint64_t c0 = g * kQ8Group, n = std::min(kQ8Group, cols - c0);
      const float* x = values + r * cols + c0;
      const uint16_t h = q8_group_scale(x, size_t(n));
      std::memcpy(scales + 2 * (r * groups + g), &h, 2);
      const float scale = f16_to_f32(h);
      for (uint64_t i = 0; i < n; ++i) {
        // In double the quotient is exact enough that the rounding is to the nearest
        // integer; it lies in [-127, 127] by the choice of scale (the clamp is a guard).
        const double q = scale == 0.0f ? 0.0 : std::clamp(std::round(double(x[i]) / double(scale)), -127.0, 127.0);
        out[r * cols + c0 + i] = std::byte(uint8_t(int8_t(q)));
      }
    }
  }
  return std::nullopt;
}

void dequantize_q8_row(const std::byte* tensor, uint64_t rows, uint64_t cols, uint64_t r, float* out) {
  const uint64_t groups = q8_groups(cols);
  const auto* q = reinterpret_cast<const int8_t*>(tensor) + r * cols;
  const std::byte* scales = tensor + *q8_scales_offset(rows, cols) + 2 * r * groups;
  for (uint64_t g = 0; g < groups; ++g) {
    const float scale = q8_scale(scales, g);
    const uint64_t c1 = std::min(cols, (g + 1) * kQ8Group);
    for (uint64_t c = g * kQ8Group; c < c1; ++c) out[c] = float(q[c]) * scale;
  }
}

}  // namespace mmb
