#include "backend/cpu/linear_simd.hpp"

#include "backend/cpu/avx512_warnings.hpp"
#include "backend/cpu/row_chunks.hpp"
#include "backend/cpu/simd_dispatch.hpp"
#include "backend/cpu/weight_load.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#if MMB_HAVE_AVX2_PATH

namespace mmb::cpu {
namespace avx512 {
namespace {

#define MMB_KERNEL __attribute__((target("avx512f,avx2,fma,f16c"), always_inline)) inline
#define MMB_KERNEL_ENTRY __attribute__((target("avx512f,avx2,fma,f16c")))

// 32 registers: 4 x 4 accumulators + 4 inputs + 1 weight at the widest block.
struct Vec {
  using Reg = __m512;
  static constexpr size_t kWidth = 16;
  static constexpr size_t kRowsFor4 = 4, kRowsFor3 = 4, kRowsFor2 = 6, kRowsFor1 = 8;
  static constexpr size_t kPanelRegs = 0, kPanelVectors = 0;  // no lane panels (block() at every batch)
  static MMB_KERNEL Reg zero() { return _mm512_setzero_ps(); }
  static MMB_KERNEL Reg set1(float v) { return _mm512_set1_ps(v); }
  static MMB_KERNEL Reg load(const float* p) { return _mm512_loadu_ps(p); }
  static MMB_KERNEL void store(float* p, Reg v) { _mm512_storeu_ps(p, v); }
  static MMB_KERNEL Reg add(Reg a, Reg b) { return _mm512_add_ps(a, b); }
  static MMB_KERNEL Reg mul(Reg a, Reg b) { return _mm512_mul_ps(a, b); }
  static MMB_KERNEL Reg fma(Reg a, Reg b, Reg c) { return _mm512_fmadd_ps(a, b, c); }
  static MMB_KERNEL float sum(Reg a) {
    // The upper 256 bits swapped down (AVX-512F has no float extract of them).
    const __m256 h = _mm512_castps512_ps256(_mm512_add_ps(a, _mm512_shuffle_f32x4(a, a, 0x4E)));
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
  }
  static MMB_KERNEL Reg load_f16(const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static MMB_KERNEL Reg load_bf16(const uint16_t* p) {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
  static MMB_KERNEL void prefetch_l2(const void* p) { _mm_prefetch(static_cast<const char*>(p), _MM_HINT_T1); }
};

#include "backend/cpu/linear_blocked.inc"

#undef MMB_KERNEL
#undef MMB_KERNEL_ENTRY

}  // namespace
}  // namespace avx512

void rows_avx512(const Matrix& w, size_t r0, size_t r1, const float* const* xs, float* const* ys, size_t n) {
  avx512::rows_float(w, r0, r1, xs, ys, n);
}

}  // namespace mmb::cpu

#endif
