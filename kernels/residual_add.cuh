// y[r, :] += x[r, :] over [n, d] rows (the residual stream, shared experts, a
// parallel layer's two parts).
#pragma once

#include <cuda_runtime.h>

namespace mmb::cuda {

void add_rows(cudaStream_t stream, float* y, int ldy, const float* x, int ldx, int d, int n);

}  // namespace mmb::cuda
