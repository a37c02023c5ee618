// The portable q4 matrix kernel (layout in base/dtype.hpp), the reference of the SIMD
// paths' q4 (linear_q4_dot.inc, one lane): each vector quantized per group of 32
// (q4_activations.hpp), each group's sum of (code - 8) * q exact in integers, then
// y = sum over groups of that sum times (weight scale * vector scale), fused
// multiply-adds in f32 in group order. Compiled for baseline x86-64 and x86-64-v3 like
// the other dtypes' portable loops.
#pragma once

#include "model/model_weights.hpp"

#include <cstddef>
#include <cstdint>

namespace mmb::cpu {

// ys[b][r] = (row r of W) . xs[b] for r in [r0, r1) and b < n, W being q4.
void q4_rows_portable(const Matrix& W, size_t r0, size_t r1, const float* const* xs, float* const* ys, size_t n);

// Row r of a q4 matrix as f32 (an embedding lookup) into out[0..cols).
void q4_load_row(const Matrix& W, uint64_t r, float* out);

}  // namespace mmb::cpu
