#include "backend/cpu/conv_step.hpp"

#include "backend/cpu/silu_span.hpp"
#include "backend/cpu/weight_load.hpp"

namespace mmb::cpu {

namespace {

// The convolution itself, before the activation, for every row.
void convolve(const Matrix& weight, const Matrix& bias, size_t d_conv, const ConvRows& rows, size_t c0, size_t c1) {
  const size_t conv_len = d_conv - 1;
  // f32 kernels (as packed: the conv stays f32 in every dtype) are read in place; a
  // call per channel to widen 4 values cost more than the convolution.
  const bool f32 = weight.dtype == DType::F32;
  const float* w32 = reinterpret_cast<const float*>(weight.data);
  const float* b32 = bias && bias.dtype == DType::F32 ? reinterpret_cast<const float*>(bias.data) : nullptr;
  for (size_t c = c0; c < c1; ++c) {
    float widened[64];
    const float* wk = f32 ? w32 + c * d_conv : widened;  // [d_inner, d_conv]: one row per channel
    if (!f32) load_row(weight, c, widened);
    const float b = b32 ? b32[c] : bias ? load(bias, c) : 0.0f;
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

}  // namespace

void conv_channels(const Matrix& weight, const Matrix& bias, size_t d_conv, const ConvRows& rows, size_t c0,
                   size_t c1) {
  convolve(weight, bias, d_conv, rows, c0, c1);
  for (size_t row = 0; row < rows.n; ++row) silu_span(rows.outs[row] + c0, c1 - c0);
}

}  // namespace mmb::cpu
