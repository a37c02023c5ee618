#include "backend/cpu/conv_step.hpp"

#include "backend/cpu/activations.hpp"
#include "backend/cpu/simd_dispatch.hpp"
#include "backend/cpu/vector_math.hpp"
#include "backend/cpu/weight_load.hpp"

namespace mmb::cpu {

namespace {

// The convolution itself, before the activation, for every row.
void convolve(const Matrix& weight, const Matrix& bias, size_t d_conv, const ConvRows& rows, size_t c0, size_t c1) {
  const size_t conv_len = d_conv - 1;
  for (size_t c = c0; c < c1; ++c) {
    float wk[64];
    load_row(weight, c, wk);  // [d_inner, d_conv]: one row per channel
    const float b = bias ? load(bias, c) : 0.0f;
    for (size_t row = 0; row < rows.n; ++row) {
      float* window = rows.windows[row] + c * conv_len;
      const float x = rows.xs[row][c];
      float acc = b;
      for (size_t k = 0; k < conv_len; ++k) acc += wk[k] * window[k];
      acc += wk[conv_len] * x;
      for (size_t k = 0; k + 1 < conv_len; ++k) window[k] = window[k + 1];
      if (conv_len) window[conv_len - 1] = x;
      rows.outs[row][c] = acc;
    }
  }
}

#if MMB_HAVE_AVX2_PATH
__attribute__((target("avx512f,avx2,fma,f16c"))) void silu_avx512(float* v, size_t count) {
  for (size_t i = 0; i < count; i += 16) {
    const __mmask16 m = count - i >= 16 ? __mmask16(0xffff) : __mmask16((1u << (count - i)) - 1);
    _mm512_mask_storeu_ps(v + i, m, silu16(_mm512_maskz_loadu_ps(m, v + i)));
  }
}

__attribute__((target("avx2,fma,f16c"))) void silu_avx2(float* v, size_t count) {
  for (size_t i = 0; i < count; i += 8) {
    const __m256i m = first_lanes8(count - i);
    _mm256_maskstore_ps(v + i, m, silu8(_mm256_maskload_ps(v + i, m)));
  }
}
#endif

}  // namespace

void conv_channels(const Matrix& weight, const Matrix& bias, size_t d_conv, const ConvRows& rows, size_t c0,
                   size_t c1) {
  convolve(weight, bias, d_conv, rows, c0, c1);
#if MMB_HAVE_AVX2_PATH
  if (kernel_path() == KernelPath::AVX512) {
    for (size_t row = 0; row < rows.n; ++row) silu_avx512(rows.outs[row] + c0, c1 - c0);
    return;
  }
  if (kernel_path() == KernelPath::AVX2) {
    for (size_t row = 0; row < rows.n; ++row) silu_avx2(rows.outs[row] + c0, c1 - c0);
    return;
  }
#endif
  for (size_t row = 0; row < rows.n; ++row)
    for (size_t c = c0; c < c1; ++c) rows.outs[row][c] = silu(rows.outs[row][c]);
}

}  // namespace mmb::cpu
