// The q8 matrix kernel (layout in base/dtype.hpp): for each row, each group's sum of
// q * x in f32, times the group's f16 scale, accumulated in f32. Two versions with the
// same order of operations: the portable loop (the reference, compiled for baseline
// x86-64 and x86-64-v3 like the other dtypes' loops) and explicit AVX2 (int8 widened
// to f32, FMA). linear() picks AVX2 where the CPU has it; both are declared here so
// the tests can run each on the same data.
#pragma once

#include "model/model_weights.hpp"

#include <cstddef>
#include <cstdint>

namespace mmb::cpu {

// ys[b][r] = (row r of W) . xs[b] for r in [r0, r1) and b < n, W being q8. avx2: allow
// the explicit AVX2 path, taken where q8_avx2_available(); false runs the portable one.
void q8_rows(const Matrix& W, size_t r0, size_t r1, const float* const* xs, float* const* ys, size_t n, bool avx2);

// Whether this CPU (and build) runs the AVX2 path.
bool q8_avx2_available();

// Row r of a q8 matrix as f32 (an embedding lookup) into out[0..cols).
void q8_load_row(const Matrix& W, uint64_t r, float* out);

}  // namespace mmb::cpu
