#include "backend/cpu/linear.hpp"

#include "backend/cpu/linear_simd.hpp"
#include "backend/cpu/linear_quantized.hpp"
#include "backend/cpu/simd_dispatch.hpp"
#include "backend/cpu/weight_load.hpp"
#include "base/q4.hpp"
#include "base/q8.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace mmb::cpu {

namespace {

// 16 independent partial sums let the compiler keep several vector accumulators
// in flight; the fixed order keeps results identical for any batch size.
template <typename T, typename Convert>
[[gnu::always_inline]] inline float dot(const T* w, const float* x, size_t n, Convert convert) {
  constexpr size_t L = 16;
  float acc[L] = {};
  size_t i = 0;
  for (; i + L <= n; i += L)
    for (size_t j = 0; j < L; ++j) acc[j] += convert(w[i + j]) * x[i + j];
  float tail = 0.0f;
  for (; i < n; ++i) tail += convert(w[i]) * x[i];
  for (size_t s = L / 2; s > 0; s /= 2)
    for (size_t j = 0; j < s; ++j) acc[j] += acc[j + s];
  return acc[0] + tail;
}

template <typename T, typename Convert>
[[gnu::always_inline]] inline void rows_kernel(const T* w, size_t cols, size_t r0, size_t r1, const float* const* xs,
                                               float* const* ys, size_t n, Convert convert) {
  for (size_t r = r0; r < r1; ++r) {
    const T* row = w + r * cols;
    for (size_t b = 0; b < n; ++b) ys[b][r] = dot(row, xs[b], cols, convert);
  }
}

MMB_HOT_CLONES void rows_f32(const float* w, size_t cols, size_t r0, size_t r1, const float* const* xs,
                             float* const* ys, size_t n) {
  rows_kernel(w, cols, r0, r1, xs, ys, n, [](float v) { return v; });
}

MMB_HOT_CLONES void rows_f16(const uint16_t* w, size_t cols, size_t r0, size_t r1, const float* const* xs,
                             float* const* ys, size_t n) {
  rows_kernel(w, cols, r0, r1, xs, ys, n, [](uint16_t v) { return half_bits_to_float(v); });
}

MMB_HOT_CLONES void rows_bf16(const uint16_t* w, size_t cols, size_t r0, size_t r1, const float* const* xs,
                              float* const* ys, size_t n) {
  rows_kernel(w, cols, r0, r1, xs, ys, n, [](uint16_t v) { return bfloat_to_float(v); });
}

void rows_portable(const Matrix& W, size_t r0, size_t r1, const float* const* xs, float* const* ys, size_t n) {
  switch (W.dtype) {
    case DType::F32: return rows_f32(reinterpret_cast<const float*>(W.data), W.cols, r0, r1, xs, ys, n);
    case DType::F16: return rows_f16(reinterpret_cast<const uint16_t*>(W.data), W.cols, r0, r1, xs, ys, n);
    case DType::BF16: return rows_bf16(reinterpret_cast<const uint16_t*>(W.data), W.cols, r0, r1, xs, ys, n);
    case DType::Q8: return q8_rows_portable(W, r0, r1, xs, ys, n);
    case DType::Q4: return q4_rows_portable(W, r0, r1, xs, ys, n);
  }
}

}  // namespace

void load_row(const Matrix& m, uint64_t r, float* out) {
  if (m.dtype == DType::Q8) return dequantize_q8_row(m.data, m.rows, m.cols, r, out);
  if (m.dtype == DType::Q4) return dequantize_q4_row(m.data, m.rows, m.cols, r, out);
  for (uint64_t c = 0; c < m.cols; ++c) out[c] = load(m, r * m.cols + c);
}

void linear(ThreadPool& pool, const Matrix& W, const Matrix& bias, const float* const* xs, float* const* ys,
            size_t n) {
  linear(pool, W, bias, 0, W.rows, xs, ys, n);
}

void linear(ThreadPool& pool, const Matrix& W, const Matrix& bias, size_t r0, size_t r1, const float* const* xs,
            float* const* ys, size_t n) {
  const size_t rows = r1 - r0, cols = W.cols;
  // Blocks of at least 16 rows, and enough blocks for the pool to balance.
  const size_t min_block = 16;
  size_t n_tasks = std::max<size_t>(1, std::min<size_t>(rows / min_block, size_t(pool.size()) * 4));
  if (rows * cols * n < (1u << 17)) n_tasks = 1;  // too little work to be worth waking threads
  const size_t block = (rows + n_tasks - 1) / n_tasks;
  pool.run(n_tasks, [&](size_t task, int) {
    const size_t b0 = r0 + task * block, b1 = std::min(r1, b0 + block);
    if (b0 < b1) linear_rows(W, bias, b0, b1, xs, ys, n);
  });
}

void linear_rows(const Matrix& W, const Matrix& bias, size_t r0, size_t r1, const float* const* xs,
                 float* const* ys, size_t n) {
  switch (kernel_path()) {
#if MMB_HAVE_AVX2_PATH
    case KernelPath::AVX512: rows_avx512(W, r0, r1, xs, ys, n); break;
    case KernelPath::AVX2: rows_avx2(W, r0, r1, xs, ys, n); break;
#endif
#if MMB_HAVE_NEON_PATH
    case KernelPath::NEON: rows_neon(W, r0, r1, xs, ys, n); break;
#endif
    default: rows_portable(W, r0, r1, xs, ys, n); break;
  }
  if (bias)
    for (size_t r = r0; r < r1; ++r) {
      const float bv = load(bias, r);
      for (size_t b = 0; b < n; ++b) ys[b][r] += bv;
    }
}

}  // namespace mmb::cpu
