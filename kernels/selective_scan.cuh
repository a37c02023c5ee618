// The fused selective-state update of a Mamba layer, per row r and channel c:
//   dt = softplus(dt_raw[r, c])            (dt_raw: dt_proj's output, bias included)
//   s[k] = s[k] * exp(dt * A[c, k]) + dt * xc[r, c] * B[r, k]     for k < d_state
//   y[r, c] = (sum_k s[k] * C[r, k] + D[c] * xc[r, c]) * silu(z[r, c])
// with s at states[r] + scan_offset + c * d_state, B and C the d_state columns of the
// x_proj output after its dt_rank columns. sequential as in conv_update.cuh: a prefill
// chunk walks its tokens in order, so it equals stepping. For d_state <= 32 each
// (channel, state entry) pair has its own thread holding the entry in a register over
// the walk, and C is contracted by a shuffle sum over the channel's lanes; a larger
// d_state takes one thread per channel.
#pragma once

#include <cuda_runtime.h>

namespace mmb::cuda {

struct ScanArgs {
  const float* dt_raw;   // [n, d_inner]
  const float* xc;       // [n, d_inner]
  const float* dbc;      // [n, dt_rank + 2 d_state]
  const float* z;        // [n, *] row stride ldz
  int ldz;
  const float* A;        // [d_inner, d_state]
  const float* D;        // [d_inner]
  float* const* states;  // [n]
  size_t scan_offset;    // floats from a state's base to this layer's scan state
  float* y;              // [n, d_inner]
  int d_inner, d_state, dt_rank;
};

void selective_scan(cudaStream_t stream, const ScanArgs& args, int n, bool sequential);

}  // namespace mmb::cuda
