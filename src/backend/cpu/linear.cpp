#include "backend/cpu/linear.hpp"

#include "backend/cpu/linear_q8.hpp"
#include "backend/cpu/simd_dispatch.hpp"
#include "backend/cpu/weight_load.hpp"

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

#if MMB_HAVE_AVX2_PATH
// 16-bit weights with AVX2 + F16C: eight values widened per instruction. The
// compiler does not vectorize the scalar _Float16 cast, so this path is explicit.
// Same accumulation order for every batch size, like the portable kernel.
template <bool kHalf>
__attribute__((target("avx2,fma,f16c"), always_inline)) inline __m256 widen_16bit(const uint16_t* p) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  if constexpr (kHalf) return _mm256_cvtph_ps(h);
  else return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

template <bool kHalf>
__attribute__((target("avx2,fma,f16c"))) void rows_16bit_avx2(const uint16_t* w, size_t cols, size_t r0, size_t r1,
                                                             const float* const* xs, float* const* ys, size_t n) {
  for (size_t r = r0; r < r1; ++r) {
    const uint16_t* row = w + r * cols;
    for (size_t b = 0; b < n; ++b) {
      const float* x = xs[b];
      __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
      size_t i = 0;
      for (; i + 16 <= cols; i += 16) {
        a0 = _mm256_fmadd_ps(widen_16bit<kHalf>(row + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(widen_16bit<kHalf>(row + i + 8), _mm256_loadu_ps(x + i + 8), a1);
      }
      const __m256 a = _mm256_add_ps(a0, a1);
      __m128 q = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
      q = _mm_add_ps(q, _mm_movehl_ps(q, q));
      q = _mm_add_ss(q, _mm_movehdup_ps(q));
      float sum = _mm_cvtss_f32(q);
      for (; i < cols; ++i) sum += (kHalf ? half_bits_to_float(row[i]) : bfloat_to_float(row[i])) * x[i];
      ys[b][r] = sum;
    }
  }
}

#endif

}  // namespace

void load_row(const Matrix& m, uint64_t r, float* out) {
  if (m.dtype == DType::Q8) return q8_load_row(m, r, out);
  for (uint64_t c = 0; c < m.cols; ++c) out[c] = load(m, r * m.cols + c);
}

void linear(ThreadPool& pool, const Matrix& W, const Matrix& bias, const float* const* xs, float* const* ys,
            size_t n) {
  const size_t rows = W.rows, cols = W.cols;
  // Blocks of at least 16 rows, and enough blocks for the pool to balance.
  const size_t min_block = 16;
  size_t n_tasks = std::max<size_t>(1, std::min<size_t>(rows / min_block, size_t(pool.size()) * 4));
  if (rows * cols * n < (1u << 17)) n_tasks = 1;  // too little work to be worth waking threads
  const size_t block = (rows + n_tasks - 1) / n_tasks;
  pool.run(n_tasks, [&](size_t task, int) {
    size_t r0 = task * block, r1 = std::min(rows, r0 + block);
    if (r0 >= r1) return;
    switch (W.dtype) {
      case DType::F32: rows_f32(reinterpret_cast<const float*>(W.data), cols, r0, r1, xs, ys, n); break;
      case DType::F16:
      case DType::BF16: {
        const auto* w16 = reinterpret_cast<const uint16_t*>(W.data);
        const bool half = W.dtype == DType::F16;
#if MMB_HAVE_AVX2_PATH
        if (cpu_has_avx2_f16c()) {
          if (half) rows_16bit_avx2<true>(w16, cols, r0, r1, xs, ys, n);
          else rows_16bit_avx2<false>(w16, cols, r0, r1, xs, ys, n);
          break;
        }
#endif
        if (half) rows_f16(w16, cols, r0, r1, xs, ys, n);
        else rows_bf16(w16, cols, r0, r1, xs, ys, n);
        break;
      }
      case DType::Q8: q8_rows(W, r0, r1, xs, ys, n, true); break;
    }
    if (bias)
      for (size_t r = r0; r < r1; ++r) {
        float bv = load(bias, r);
        for (size_t b = 0; b < n; ++b) ys[b][r] += bv;
      }
  });
}

}  // namespace mmb::cpu
