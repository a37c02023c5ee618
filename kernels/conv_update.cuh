// The Mamba conv step for rows of token inputs: per channel c, with the row's state
// window w (d_conv - 1 previous inputs, oldest first, at states[r] + window_offset +
// c * (d_conv - 1)):
//   xc[r, c] = silu(sum_k conv_w[c, k] * w[k] + conv_w[c, d_conv - 1] * x[r, c] + conv_b[c])
// then the window shifts left by one and x[r, c] enters last.
//
// sequential = false: every row has its own state (a decode batch), one thread per
// (row, channel). sequential = true: all rows are tokens of one state in time order (a
// prefill chunk), one thread per channel walks the rows, as that many steps would.
#pragma once

#include <cuda_runtime.h>

namespace mmb::cuda {

struct ConvArgs {
  const float* x;       // [n, *] row stride ldx: the x half of in_proj's output
  int ldx;
  const float* weight;  // [d_inner, d_conv]
  const float* bias;    // [d_inner] or null
  float* const* states; // [n] state base pointers
  size_t window_offset; // floats from a state's base to this layer's conv window
  float* xc;            // [n, d_inner]
  int d_inner, d_conv;
};

void conv_update(cudaStream_t stream, const ConvArgs& args, int n, bool sequential);

}  // namespace mmb::cuda
