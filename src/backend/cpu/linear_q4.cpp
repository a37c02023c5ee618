#include "backend/cpu/linear_q4.hpp"

#include "backend/cpu/simd_dispatch.hpp"
#include "backend/cpu/weight_load.hpp"

#include <algorithm>

namespace mmb::cpu {

namespace {

// A group's 32 codes as signed values, in column order: the low nibbles of its 16
// bytes, then the high ones.
[[gnu::always_inline]] inline void unpack_group(const uint8_t* g, float* q) {
  for (size_t j = 0; j < kQ4GroupBytes; ++j) {
    q[j] = float(int(g[j] & 0x0f) - kQ4Zero);
    q[j + kQ4GroupBytes] = float(int(g[j] >> 4) - kQ4Zero);
  }
}

// Eight running sums take each group's eight partial sums times its scale; a short
// last group's columns beyond its whole eights are summed apart. The final reduction
// is pairwise (4, 2, 1).
[[gnu::always_inline]] inline float dot_q4(const uint8_t* codes, const std::byte* scales, const float* x,
                                           size_t cols) {
  float acc[8] = {};
  float rest = 0.0f;
  for (size_t c = 0, g = 0; c < cols; c += kQ4Group, ++g) {
    float q[kQ4Group];
    unpack_group(codes + g * kQ4GroupBytes, q);
    const size_t n = std::min<size_t>(kQ4Group, cols - c);
    float p[8] = {}, pr = 0.0f;
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
      for (size_t j = 0; j < 8; ++j) p[j] += q[i + j] * x[c + i + j];
    for (; i < n; ++i) pr += q[i] * x[c + i];
    const float s = q8_scale_at(scales, g);
    for (size_t j = 0; j < 8; ++j) acc[j] += p[j] * s;
    rest += pr * s;
  }
  for (size_t w = 4; w > 0; w /= 2)
    for (size_t j = 0; j < w; ++j) acc[j] += acc[j + w];
  return acc[0] + rest;
}

MMB_HOT_CLONES void rows_q4(const uint8_t* w, const std::byte* scales, size_t cols, size_t r0, size_t r1,
                            const float* const* xs, float* const* ys, size_t n) {
  const size_t row_bytes = q4_row_bytes(cols), row_scales = 2 * q4_groups(cols);
  for (size_t r = r0; r < r1; ++r)
    for (size_t b = 0; b < n; ++b) ys[b][r] = dot_q4(w + r * row_bytes, scales + r * row_scales, xs[b], cols);
}

}  // namespace

void q4_rows_portable(const Matrix& W, size_t r0, size_t r1, const float* const* xs, float* const* ys, size_t n) {
  rows_q4(reinterpret_cast<const uint8_t*>(W.data), W.scales, W.cols, r0, r1, xs, ys, n);
}

void q4_load_row(const Matrix& W, uint64_t r, float* out) {
  const auto* codes = reinterpret_cast<const uint8_t*>(W.data) + r * q4_row_bytes(W.cols);
  const std::byte* scales = W.scales + 2 * r * q4_groups(W.cols);
  for (uint64_t c0 = 0, g = 0; c0 < W.cols; c0 += kQ4Group, ++g) {
    float q[kQ4Group];
    unpack_group(codes + g * kQ4GroupBytes, q);
    const float s = q8_scale_at(scales, g);
    for (uint64_t c = c0; c < std::min<uint64_t>(W.cols, c0 + kQ4Group); ++c) out[c] = q[c - c0] * s;
  }
}

}  // namespace mmb::cpu
