// The AVX2 (+ FMA, F16C), AVX-512 and NEON matrix kernels for every weight dtype (the
// portable kernels in linear.cpp and linear_quantized.cpp are their reference); one
// source for the float dtypes, linear_blocked.inc, and one for q8 and q4,
// linear_quantized_dot.inc. Register-blocked: a block of weight rows meets a block of
// vectors, so each loaded weight and each loaded input serves several products, and a
// batch of vectors turns the memory-bound matrix-vector product into compute-bound
// matrix-matrix work.
#pragma once

#include "backend/cpu/quantized_input.hpp"
#include "model/model_weights.hpp"

#include <cstddef>

namespace mmb::cpu {

// ys[b][r] = (row r of w) . xs[b] for r in [r0, r1) and b < n, w being f32, f16 or
// bf16. Only where
// kernel_path_supported() says so. Each output is summed in the same order whatever
// the blocking, so any batch size gives identical bits (within one path: the paths'
// lane counts differ).
void rows_avx2(const Matrix& w, size_t r0, size_t r1, const float* const* xs, float* const* ys, size_t n);
void rows_avx512(const Matrix& w, size_t r0, size_t r1, const float* const* xs, float* const* ys, size_t n);
void rows_neon(const Matrix& w, size_t r0, size_t r1, const float* const* xs, float* const* ys, size_t n);

// The same for q8 and q4 matrices (linear_quantized_x86.cpp, linear_quantized_neon.cpp)
// against vectors quantized per group (quantized_input.hpp), each group's products
// summed as integers; linear.cpp hands q8 and q4 to these, not to rows_*.
void q8_rows_avx2(const Matrix& w, size_t r0, size_t r1, const QuantizedInput& x, float* const* ys);
void q8_rows_avx512(const Matrix& w, size_t r0, size_t r1, const QuantizedInput& x, float* const* ys);
void q8_rows_neon(const Matrix& w, size_t r0, size_t r1, const QuantizedInput& x, float* const* ys);
void q4_rows_avx2(const Matrix& w, size_t r0, size_t r1, const QuantizedInput& x, float* const* ys);
void q4_rows_avx512(const Matrix& w, size_t r0, size_t r1, const QuantizedInput& x, float* const* ys);
void q4_rows_neon(const Matrix& w, size_t r0, size_t r1, const QuantizedInput& x, float* const* ys);
// The quantizer of the x86 paths (a vectorized form of quantize_input_group) and of
// NEON: the same bits as quantize_inputs_portable.
QuantizedInput quantize_inputs_x86(const float* const* xs, size_t n, size_t cols, int32_t zero, void* buffer);
QuantizedInput quantize_inputs_neon(const float* const* xs, size_t n, size_t cols, int32_t zero, void* buffer);
// The AVX2 kernels take AVX-VNNI where the CPU has it (cpu_has_avx_vnni), with the same
// bits as without: for tests, the AVX2 kernel of w's dtype (q8 or q4) without it.
void quantized_rows_avx2_without_vnni(const Matrix& w, size_t r0, size_t r1, const QuantizedInput& x,
                                      float* const* ys);
// Whether the q8 and q4 kernels of the path in use sum with VNNI (x86 builds only).
bool quantized_uses_vnni();

}  // namespace mmb::cpu
