// The matrix-vector kernel for few rows (decode): Y[r, j] = W[j, :] . X[r, :] + b[j],
// one warp per output j, each weight element read once for up to 8 rows at a time
// (further rows read it again, mostly from L2), f32 accumulation. Weights and inputs
// are read 16 bytes per lane when widths and strides allow (in a multiple of 4 f32 or
// 8 f16/bf16 values, row strides a multiple of 4 floats), one element per lane else.
//
// Grouped form (expert dispatch without host synchronisation): group g (one expert)
// has its own W_g and b_g and runs over the members offsets[g] .. offsets[g] +
// counts[g] of a device-built list, member m reading X row in_rows[m] and writing Y
// row out_rows[m]. The grid covers every group; a group nobody chose exits at once,
// so the host never needs the counts.
#pragma once

#include "device_matrix.hpp"

#include <cuda_runtime.h>

namespace mmb::cuda {

// X: [n, in] (row stride ldx), Y: [n, out] (ldy); bias f32 [out] or null.
void linear_rows(cudaStream_t stream, const DeviceMatrix& w, const float* bias, const float* x, int ldx, float* y,
                 int ldy, int n);

// Every group's matrix has the shape and type of `shape`; weights[g] and biases[g]
// (null entries or a null array: no bias) are device arrays of n_groups pointers.
struct GroupedRows {
  const int32_t* offsets;   // [n_groups]
  const int32_t* counts;    // [n_groups]
  const int32_t* in_rows;   // [members]
  const int32_t* out_rows;  // [members]
};
void linear_rows_grouped(cudaStream_t stream, const DeviceMatrix& shape, const void* const* weights,
                         const float* const* biases, int n_groups, const GroupedRows& rows, const float* x, int ldx,
                         float* y, int ldy);

}  // namespace mmb::cuda
