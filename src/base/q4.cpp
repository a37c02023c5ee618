#include "base/q4.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace mmb {

uint16_t q4_group_scale(const float* group, size_t n) {
  float m = 0.0f;
  for (size_t i = 0; i < n; ++i)
    if (std::fabs(group[i]) > std::fabs(m)) m = group[i];
  uint16_t h = f32_to_f16(m / -8.0f);  // exact division by a power of two, one rounding to f16
  // Rounded down in magnitude (coarse subnormal steps) m / scale would pass -8: step
  // the magnitude up (the sign is the top bit, so this counts in magnitude).
  if (std::fabs(f16_to_f32(h)) < std::fabs(m) / 8.0f) ++h;
  return h;
}

std::optional<uint64_t> quantize_q4(const float* values, uint64_t rows, uint64_t cols, std::byte* out) {
  const uint64_t groups = q4_groups(cols), row_bytes = q4_row_bytes(cols);
  const uint64_t values_end = rows * cols;
  std::byte* scales = out + *q4_scales_offset(rows, cols);
  std::fill(out, scales, std::byte{0});
  for (uint64_t i = 0; i < values_end; ++i)
    if (!(std::fabs(values[i]) <= kQ4MaxMagnitude)) return i;  // NaN fails the comparison too
  for (uint64_t r = 0; r < rows; ++r) {
    for (uint64_t g = 0; g < groups; ++g) {
      const uint64_t c0 = g * kQ4Group, n = std::min(kQ4Group, cols - c0);
      const float* x = values + r * cols + c0;
      const uint16_t h = q4_group_scale(x, size_t(n));
      std::memcpy(scales + 2 * (r * groups + g), &h, 2);
      const float scale = f16_to_f32(h);
      std::byte* group = out + r * row_bytes + g * kQ4GroupBytes;
      for (uint64_t i = 0; i < n; ++i) {
        // In double the quotient is exact enough that the rounding is to the nearest
        // integer; the clamp takes +8 (a value of the other sign than m) to 7.
        const double q = scale == 0.0f ? 0.0 : std::clamp(std::round(double(x[i]) / double(scale)), -8.0, 7.0);
        const auto code = uint8_t(int(q) + kQ4Zero);
        group[i % kQ4GroupBytes] |= std::byte(i < kQ4GroupBytes ? code : uint8_t(code << 4));
      }
    }
  }
  return std::nullopt;
}

void dequantize_q4_row(const std::byte* tensor, uint64_t rows, uint64_t cols, uint64_t r, float* out) {
  const uint64_t groups = q4_groups(cols);
  const std::byte* codes = tensor + r * q4_row_bytes(cols);
  const std::byte* scales = tensor + *q4_scales_offset(rows, cols) + 2 * r * groups;
  for (uint64_t g = 0; g < groups; ++g) {
    uint16_t h;
    std::memcpy(&h, scales + 2 * g, 2);
    const float scale = f16_to_f32(h);
    const uint64_t c0 = g * kQ4Group, c1 = std::min(cols, c0 + kQ4Group);
    for (uint64_t c = c0; c < c1; ++c) out[c] = float(q4_code(codes + g * kQ4GroupBytes, c - c0) - kQ4Zero) * scale;
  }
}

}  // namespace mmb
