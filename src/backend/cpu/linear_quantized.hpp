// The portable q8 and q4 matrix kernels (layouts in base/dtype.hpp), the reference of
// the SIMD paths' (linear_quantized_dot.inc, one lane): each vector quantized per group
// of 32 (quantized_input.hpp), each group's sum of value * q exact in integers, then
// y = sum over groups of that sum times (weight scale * vector scale), fused
// multiply-adds in f32 in group order. Compiled for baseline x86-64 and x86-64-v3 like
// the other dtypes' portable loops.
#pragma once

#include "backend/cpu/quantized_input.hpp"
#include "model/model_weights.hpp"

#include <cstddef>
#include <cstdint>

namespace mmb::cpu {

// ys[b][r] = (row r of W) . x's vector b for r in [r0, r1), W being q8 / q4.
void q8_rows_portable(const Matrix& W, size_t r0, size_t r1, const QuantizedInput& x, float* const* ys);
void q4_rows_portable(const Matrix& W, size_t r0, size_t r1, const QuantizedInput& x, float* const* ys);
// xs[0..n) of `cols` values quantized into buffer (quantized_input.hpp) for codes
// stored as value + zero (input_zero).
QuantizedInput quantize_inputs_portable(const float* const* xs, size_t n, size_t cols, int32_t zero, void* buffer);

}  // namespace mmb::cpu
