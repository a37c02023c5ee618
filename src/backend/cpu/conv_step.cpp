#include "backend/cpu/conv_step.hpp"

#include "backend/cpu/silu_span.hpp"
#include "backend/cpu/weight_load.hpp"

#include <cstring>

namespace mmb::cpu {

namespace {

// One channel's convolution over every row. kLen: the window's length where it is
// a constant, the usual 3 (d_conv 4), so that the window's shift is three moves: as a
// loop of run-time length the compiler made it a call to memmove per row and channel;
// 0: conv_len.
template <size_t kLen>
void convolve_channel(const float* wk, float b, size_t conv_len, const ConvRows& rows, size_t c) {
  const size_t len = kLen ? kLen : conv_len;
  for (size_t row = 0; row < rows.n; ++row) {
    float* window = rows.windows[row] + c * len;
    const float x = rows.xs[row][c];
    float acc = b;
    for (size_t k = 0; k < len; ++k) acc += wk[k] * window[k];
    acc += wk[len] * x;
    for (size_t k = 0; k + 1 < len; ++k) window[k] = window[k + 1];
    if (len) window[len - 1] = x;
    rows.outs[row][c] = acc;
  }
}

// kBlock channels of windows of 3 over rows [r0, r1) that share one window (one
// session's tokens: a prefill chunk). The windows stay in local arrays across the rows,
// which the compiler keeps in vector registers, instead of a load and a store of each
// window per row and channel. Per channel, the same operations in the same order as
// convolve_channel<3>: the same bits.
constexpr size_t kBlock = 8;
void convolve_block(const float (&w)[4][kBlock], const float (&b)[kBlock], const ConvRows& rows, size_t r0, size_t r1,
                    size_t c) {
  float win[3][kBlock];
  float* window = rows.windows[r0] + c * 3;
  for (size_t i = 0; i < kBlock; ++i)
    for (size_t k = 0; k < 3; ++k) win[k][i] = window[i * 3 + k];
  for (size_t row = r0; row < r1; ++row) {
    float x[kBlock], out[kBlock];
    std::memcpy(x, rows.xs[row] + c, sizeof x);
    for (size_t i = 0; i < kBlock; ++i) {
      float acc = b[i];
      acc += w[0][i] * win[0][i];
      acc += w[1][i] * win[1][i];
      acc += w[2][i] * win[2][i];
      acc += w[3][i] * x[i];
      out[i] = acc;
      win[0][i] = win[1][i];
      win[1][i] = win[2][i];
      win[2][i] = x[i];
    }
    std::memcpy(rows.outs[row] + c, out, sizeof out);
  }
  for (size_t i = 0; i < kBlock; ++i)
    for (size_t k = 0; k < 3; ++k) window[i * 3 + k] = win[k][i];
}

// The end of the run of rows from r0 that share r0's window.
size_t shared_window_end(const ConvRows& rows, size_t r0) {
  size_t r1 = r0 + 1;
  while (r1 < rows.n && rows.windows[r1] == rows.windows[r0]) ++r1;
  return r1;
}

// The convolution itself, before the activation, for every row.
void convolve(const Matrix& weight, const Matrix& bias, size_t d_conv, const ConvRows& rows, size_t c0, size_t c1) {
  const size_t conv_len = d_conv - 1;
  // f32 kernels (as packed: the conv stays f32 in every dtype) are read in place; a
  // call per channel to widen 4 values cost more than the convolution.
  const bool f32 = weight.dtype == DType::F32;
  const float* w32 = reinterpret_cast<const float*>(weight.data);
  const float* b32 = bias && bias.dtype == DType::F32 ? reinterpret_cast<const float*>(bias.data) : nullptr;
  auto kernel = [&](size_t c, float* widened) {  // [d_inner, d_conv]: one row per channel
    if (f32) return w32 + c * d_conv;
    load_row(weight, c, widened);
    return static_cast<const float*>(widened);
  };
  auto bias_of = [&](size_t c) { return b32 ? b32[c] : bias ? load(bias, c) : 0.0f; };
  size_t c = c0;
  if (conv_len == 3)
    for (; c + kBlock <= c1; c += kBlock) {
      float w[4][kBlock], b[kBlock];
      for (size_t i = 0; i < kBlock; ++i) {
        float widened[64];
        const float* wk = kernel(c + i, widened);
        for (size_t k = 0; k < 4; ++k) w[k][i] = wk[k];
        b[i] = bias_of(c + i);
      }
      for (size_t r0 = 0, r1; r0 < rows.n; r0 = r1) {
        r1 = shared_window_end(rows, r0);
        convolve_block(w, b, rows, r0, r1, c);
      }
    }
  for (; c < c1; ++c) {
    float widened[64];
    const float* wk = kernel(c, widened);
    if (conv_len == 3)
      convolve_channel<3>(wk, bias_of(c), conv_len, rows, c);
    else
      convolve_channel<0>(wk, bias_of(c), conv_len, rows, c);
  }
}

}  // namespace

void conv_channels(const Matrix& weight, const Matrix& bias, size_t d_conv, const ConvRows& rows, size_t c0,
                   size_t c1) {
  convolve(weight, bias, d_conv, rows, c0, c1);
  for (size_t row = 0; row < rows.n; ++row) silu_span(rows.outs[row] + c0, c1 - c0);
}

}  // namespace mmb::cpu
