#include "backend/cpu/selective_scan.hpp"

#include "backend/cpu/simd_dispatch.hpp"

#include <cmath>
#include <cstdint>
#include <initializer_list>

// GCC 12's AVX-512 headers start some intrinsics from an "undefined" register and then
// warn about it under -W(maybe-)uninitialized (GCC bug 105593): not this code's doing.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace mmb::cpu {

float scan_channel_portable(float* s, const float* A, const float* B, const float* C, float dt, float dtx,
                            size_t d_state) {
  float y = 0.0f;
  for (size_t k = 0; k < d_state; ++k) {
    s[k] = s[k] * std::exp(dt * A[k]) + dtx * B[k];
    y += s[k] * C[k];
  }
  return y;
}

#if MMB_HAVE_AVX2_PATH
namespace {

// exp(x) for x <= 88 (the scan's dt * A is never positive): x = n ln2 + r with
// |r| <= ln2 / 2 (ln2 in two parts, so r is exact), e^r by its degree-6 Taylor
// polynomial (error below 1.2e-7 relative on that interval), times 2^n built in the
// exponent bits. Inputs below -87 give e^-87 (about 1.6e-38) instead of less.
__attribute__((target("avx2,fma,f16c"), always_inline)) inline __m256 exp8(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.0f / 720.0f);
  for (float c : {1.0f / 120.0f, 1.0f / 24.0f, 1.0f / 6.0f, 0.5f, 1.0f, 1.0f}) p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(c));
  const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

// exp8's method, sixteen lanes.
__attribute__((target("avx512f,avx2,fma,f16c"), always_inline)) inline __m512 exp16(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.0f / 720.0f);
  for (float c : {1.0f / 120.0f, 1.0f / 24.0f, 1.0f / 6.0f, 0.5f, 1.0f, 1.0f}) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c));
  const __m512i bits = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
  return _mm512_mul_ps(p, _mm512_castsi512_ps(bits));
}

__attribute__((target("avx2,fma,f16c"))) float scan_avx2(float* s, const float* A, const float* B, const float* C,
                                                        float dt, float dtx, size_t d_state) {
  __m256 acc = _mm256_setzero_ps();
  const __m256 vdt = _mm256_set1_ps(dt), vdtx = _mm256_set1_ps(dtx);
  size_t k = 0;
  for (; k + 8 <= d_state; k += 8) {
    const __m256 decay = exp8(_mm256_mul_ps(vdt, _mm256_loadu_ps(A + k)));
    const __m256 state = _mm256_fmadd_ps(_mm256_loadu_ps(s + k), decay, _mm256_mul_ps(vdtx, _mm256_loadu_ps(B + k)));
    _mm256_storeu_ps(s + k, state);
    acc = _mm256_fmadd_ps(state, _mm256_loadu_ps(C + k), acc);
  }
  __m128 q = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
  q = _mm_add_ps(q, _mm_movehl_ps(q, q));
  q = _mm_add_ss(q, _mm_movehdup_ps(q));
  float y = _mm_cvtss_f32(q);
  return y + scan_channel_portable(s + k, A + k, B + k, C + k, dt, dtx, d_state - k);
}

__attribute__((target("avx512f,avx2,fma,f16c"))) float scan_avx512(float* s, const float* A, const float* B,
                                                                  const float* C, float dt, float dtx,
                                                                  size_t d_state) {
  __m512 acc = _mm512_setzero_ps();
  const __m512 vdt = _mm512_set1_ps(dt), vdtx = _mm512_set1_ps(dtx);
  for (size_t k = 0; k < d_state; k += 16) {
    // The last group masked: lanes past d_state read and write nothing and add 0.
    const __mmask16 m = d_state - k >= 16 ? __mmask16(0xffff) : __mmask16((1u << (d_state - k)) - 1);
    const __m512 decay = exp16(_mm512_mul_ps(vdt, _mm512_maskz_loadu_ps(m, A + k)));
    const __m512 state = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, s + k), decay,
                                         _mm512_mul_ps(vdtx, _mm512_maskz_loadu_ps(m, B + k)));
    _mm512_mask_storeu_ps(s + k, m, state);
    acc = _mm512_fmadd_ps(state, _mm512_maskz_loadu_ps(m, C + k), acc);
  }
  return _mm512_reduce_add_ps(acc);
}

}  // namespace
#endif

float scan_channel(float* s, const float* A, const float* B, const float* C, float dt, float dtx, size_t d_state) {
#if MMB_HAVE_AVX2_PATH
  switch (kernel_path()) {
    case KernelPath::AVX512: return scan_avx512(s, A, B, C, dt, dtx, d_state);
    case KernelPath::AVX2: return scan_avx2(s, A, B, C, dt, dtx, d_state);
    case KernelPath::Portable: break;
  }
#endif
  return scan_channel_portable(s, A, B, C, dt, dtx, d_state);
}

}  // namespace mmb::cpu
