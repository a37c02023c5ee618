#include "backend/cpu/linear_q8.hpp"

#include "backend/cpu/simd_dispatch.hpp"
#include "backend/cpu/weight_load.hpp"
#include "base/q8.hpp"

namespace mmb::cpu {

namespace {

// Eight running sums take each group's eight partial sums times its scale; a short
// last group's columns beyond its whole eights are summed apart. The final reduction
// is pairwise (4, 2, 1).
[[gnu::always_inline]] inline float dot_q8(const int8_t* q, const std::byte* scales, const float* x, size_t cols) {
  float acc[8] = {};
  size_t c = 0, g = 0;
  for (; c + kQ8Group <= cols; c += kQ8Group, ++g) {
    float p[8] = {};
    for (size_t i = 0; i < kQ8Group; i += 8)
      for (size_t j = 0; j < 8; ++j) p[j] += float(q[c + i + j]) * x[c + i + j];
    const float s = q8_scale_at(scales, g);
    for (size_t j = 0; j < 8; ++j) acc[j] += p[j] * s;
  }
  float rest = 0.0f;
  if (c < cols) {
    float p[8] = {}, pr = 0.0f;
    for (; c + 8 <= cols; c += 8)
      for (size_t j = 0; j < 8; ++j) p[j] += float(q[c + j]) * x[c + j];
    for (; c < cols; ++c) pr += float(q[c]) * x[c];
    const float s = q8_scale_at(scales, g);
    for (size_t j = 0; j < 8; ++j) acc[j] += p[j] * s;
    rest = pr * s;
  }
  for (size_t w = 4; w > 0; w /= 2)
    for (size_t j = 0; j < w; ++j) acc[j] += acc[j + w];
  return acc[0] + rest;
}

MMB_HOT_CLONES void rows_q8(const int8_t* w, const std::byte* scales, size_t cols, size_t r0, size_t r1,
                                     const float* const* xs, float* const* ys, size_t n) {
  const size_t row_scales = 2 * q8_groups(cols);
  for (size_t r = r0; r < r1; ++r)
    for (size_t b = 0; b < n; ++b) ys[b][r] = dot_q8(w + r * cols, scales + r * row_scales, xs[b], cols);
}

}  // namespace

void q8_rows_portable(const Matrix& W, size_t r0, size_t r1, const float* const* xs, float* const* ys, size_t n) {
  rows_q8(reinterpret_cast<const int8_t*>(W.data), W.scales, W.cols, r0, r1, xs, ys, n);
}

void q8_load_row(const Matrix& W, uint64_t r, float* out) {
  const auto* q = reinterpret_cast<const int8_t*>(W.data) + r * W.cols;
  const std::byte* scales = W.scales + 2 * r * q8_groups(W.cols);
  for (uint64_t c = 0; c < W.cols; ++c) out[c] = float(q[c]) * q8_scale_at(scales, c / kQ8Group);
}

}  // namespace mmb::cpu
