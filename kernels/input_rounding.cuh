// The input of a q8 or q4 product, rounded as the CPU's integer kernels quantize it
// (docs/bundle-format.md, "What a q8 or q4 product computes"): per group of 32 columns
// of a row, d = max|x| / 127 in f32 and each x replaced by d * round(x / d) (halves to
// even) clamped to -127..127; d = 0 gives zeros and a non-finite value makes its group
// NaN. The device then multiplies the rounded input by the weights widened to f16, so
// both backends compute the same product up to f32 summation order.
#pragma once

#include <cuda_runtime.h>

namespace mmb::cuda {

// out[r, c] = rounded x[r, c] for r < rows, c < cols (out's rows cols apart).
void round_input_groups(cudaStream_t stream, const float* x, int ldx, float* out, int cols, int rows);

}  // namespace mmb::cuda
