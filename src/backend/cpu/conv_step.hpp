// The causal depthwise convolution's step (DESIGN.md section 5) for a run of channels
// over every row: each channel's window holds its last d_conv - 1 inputs, oldest first;
//   out[c] = silu(bias[c] + sum_k weight[c][k] * window[k] + weight[c][d_conv-1] * x[c])
// then the window shifts by one and takes x[c].
#pragma once

#include "model/model_weights.hpp"

#include <cstddef>

namespace mmb::cpu {

struct ConvRows {
  float* const* windows;    // per row: the layer's windows, [d_inner][d_conv - 1]
  const float* const* xs;   // per row: the inputs, d_inner
  float* const* outs;       // per row: the outputs, d_inner
  size_t n;                 // rows, in time order where they share a state
};

// Channels [c0, c1); weight is [d_inner, d_conv], bias [d_inner] or empty; d_conv <= 64.
// The SIMD paths apply silu to 16, 8 or 4 channels at a time as a vector; a channel's
// result does not depend on the run it is in.
void conv_channels(const Matrix& weight, const Matrix& bias, size_t d_conv, const ConvRows& rows, size_t c0,
                   size_t c1);

}  // namespace mmb::cpu
