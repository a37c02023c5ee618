// Vector forms of the nonlinearities the CPU kernels apply per lane (AVX2: 8 lanes,
// AVX-512: 16), with their accuracy; x86-64 only, each compiled for its instruction set.
#pragma once

#include "backend/cpu/simd_dispatch.hpp"

#include <initializer_list>

#if MMB_HAVE_AVX2_PATH

// GCC 12's AVX-512 headers start some intrinsics from an "undefined" register and then
// warn about it under -W(maybe-)uninitialized (GCC bug 105593): not this code's doing.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace mmb::cpu {

// exp(x) for x <= 88 (the callers' arguments are never positive): x = n ln2 + r with
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

// log(1 + u) for u in [0, 1]: 2 atanh(s) with s = u / (2 + u) in [0, 1/3], by its series
// to s^15 (truncation below 2e-9 relative); no cancellation for small u.
__attribute__((target("avx512f,avx2,fma,f16c"), always_inline)) inline __m512 log1p_unit16(__m512 u) {
  const __m512 s = _mm512_div_ps(u, _mm512_add_ps(_mm512_set1_ps(2.0f), u));
  const __m512 s2 = _mm512_mul_ps(s, s);
  __m512 p = _mm512_set1_ps(1.0f / 15.0f);
  for (float c : {1.0f / 13.0f, 1.0f / 11.0f, 1.0f / 9.0f, 1.0f / 7.0f, 1.0f / 5.0f, 1.0f / 3.0f, 1.0f})
    p = _mm512_fmadd_ps(p, s2, _mm512_set1_ps(c));
  return _mm512_mul_ps(_mm512_add_ps(s, s), p);
}

__attribute__((target("avx512f,avx2,fma,f16c"), always_inline)) inline __m512 abs16(__m512 x) {
  return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(0x7fffffff)));
}

// softplus(x) = max(x, 0) + log(1 + e^-|x|): never overflows.
__attribute__((target("avx512f,avx2,fma,f16c"), always_inline)) inline __m512 softplus16(__m512 x) {
  return _mm512_add_ps(_mm512_max_ps(x, _mm512_setzero_ps()), log1p_unit16(exp16(_mm512_sub_ps(_mm512_setzero_ps(), abs16(x)))));
}

// silu(z) = z sigmoid(z), the sigmoid from e^-|z| (never overflows).
__attribute__((target("avx512f,avx2,fma,f16c"), always_inline)) inline __m512 silu16(__m512 z) {
  const __m512 t = exp16(_mm512_sub_ps(_mm512_setzero_ps(), abs16(z)));
  const __m512 positive = _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_add_ps(_mm512_set1_ps(1.0f), t));
  const __mmask16 negative = _mm512_cmp_ps_mask(z, _mm512_setzero_ps(), _CMP_LT_OQ);
  return _mm512_mul_ps(z, _mm512_mask_mul_ps(positive, negative, positive, t));
}

// The same four with eight lanes (AVX2).
__attribute__((target("avx2,fma,f16c"), always_inline)) inline __m256 log1p_unit8(__m256 u) {
  const __m256 s = _mm256_div_ps(u, _mm256_add_ps(_mm256_set1_ps(2.0f), u));
  const __m256 s2 = _mm256_mul_ps(s, s);
  __m256 p = _mm256_set1_ps(1.0f / 15.0f);
  for (float c : {1.0f / 13.0f, 1.0f / 11.0f, 1.0f / 9.0f, 1.0f / 7.0f, 1.0f / 5.0f, 1.0f / 3.0f, 1.0f})
    p = _mm256_fmadd_ps(p, s2, _mm256_set1_ps(c));
  return _mm256_mul_ps(_mm256_add_ps(s, s), p);
}

__attribute__((target("avx2,fma,f16c"), always_inline)) inline __m256 abs8(__m256 x) {
  return _mm256_castsi256_ps(_mm256_and_si256(_mm256_castps_si256(x), _mm256_set1_epi32(0x7fffffff)));
}

__attribute__((target("avx2,fma,f16c"), always_inline)) inline __m256 softplus8(__m256 x) {
  return _mm256_add_ps(_mm256_max_ps(x, _mm256_setzero_ps()), log1p_unit8(exp8(_mm256_sub_ps(_mm256_setzero_ps(), abs8(x)))));
}

__attribute__((target("avx2,fma,f16c"), always_inline)) inline __m256 silu8(__m256 z) {
  const __m256 t = exp8(_mm256_sub_ps(_mm256_setzero_ps(), abs8(z)));
  const __m256 positive = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_add_ps(_mm256_set1_ps(1.0f), t));
  const __m256 negative = _mm256_cmp_ps(z, _mm256_setzero_ps(), _CMP_LT_OQ);
  return _mm256_mul_ps(z, _mm256_blendv_ps(positive, _mm256_mul_ps(positive, t), negative));
}

// Lanes [0, count) set: the mask of AVX2's masked loads and stores.
__attribute__((target("avx2,fma,f16c"), always_inline)) inline __m256i first_lanes8(size_t count) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(count)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

}  // namespace mmb::cpu

#endif
