#include "backend/cpu/linear_simd.hpp"

#include "backend/cpu/row_chunks.hpp"
#include "backend/cpu/simd_dispatch.hpp"
#include "backend/cpu/weight_load.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#if MMB_HAVE_AVX2_PATH

namespace mmb::cpu {
namespace avx2 {
namespace {

#define MMB_KERNEL __attribute__((target("avx2,fma,f16c"), always_inline)) inline
#define MMB_KERNEL_ENTRY __attribute__((target("avx2,fma,f16c")))

// 16 registers: 2 x 4 accumulators + 4 inputs + 1 weight at the widest block.
struct Vec {
  using Reg = __m256;
  static constexpr size_t kWidth = 8;
  static constexpr size_t kRowsFor4 = 2, kRowsFor3 = 2, kRowsFor2 = 4, kRowsFor1 = 8;
  // Lane panels of 16 rows against 6 vectors: 12 accumulators, 2 weights, 1 input.
  static constexpr size_t kPanelRegs = 2, kPanelVectors = 6;
  static MMB_KERNEL Reg zero() { return _mm256_setzero_ps(); }
  static MMB_KERNEL Reg set1(float v) { return _mm256_set1_ps(v); }
  static MMB_KERNEL Reg load(const float* p) { return _mm256_loadu_ps(p); }
  static MMB_KERNEL void store(float* p, Reg v) { _mm256_storeu_ps(p, v); }
  static MMB_KERNEL Reg add(Reg a, Reg b) { return _mm256_add_ps(a, b); }
  static MMB_KERNEL Reg mul(Reg a, Reg b) { return _mm256_mul_ps(a, b); }
  static MMB_KERNEL Reg fma(Reg a, Reg b, Reg c) { return _mm256_fmadd_ps(a, b, c); }
  static MMB_KERNEL float sum(Reg a) {
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
  }
  static MMB_KERNEL Reg load_f16(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static MMB_KERNEL Reg load_bf16(const uint16_t* p) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  static MMB_KERNEL void prefetch_l2(const void* p) { _mm_prefetch(static_cast<const char*>(p), _MM_HINT_T1); }
  // r[i] = row i of an 8 x 8 block, in place of its columns.
  static MMB_KERNEL void transpose(Reg (&r)[8]) {
    __m256 t[8], s[8];
    for (int i = 0; i < 8; i += 2) {
      t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);  // a0 b0 a1 b1 | a4 b4 a5 b5
      t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
      s[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);  // a0 b0 c0 d0 | a4 b4 c4 d4
      s[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
      s[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
      s[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int i = 0; i < 4; ++i) {
      r[i] = _mm256_permute2f128_ps(s[i], s[i + 4], 0x20);
      r[i + 4] = _mm256_permute2f128_ps(s[i], s[i + 4], 0x31);
    }
  }
};

#include "backend/cpu/linear_blocked.inc"

#undef MMB_KERNEL
#undef MMB_KERNEL_ENTRY

}  // namespace
}  // namespace avx2

void rows_avx2(const Matrix& w, size_t r0, size_t r1, const float* const* xs, float* const* ys, size_t n) {
  avx2::rows_float(w, r0, r1, xs, ys, n);
}

}  // namespace mmb::cpu

#endif
