#include "backend/cpu/selective_scan.hpp"

#include "backend/cpu/activations.hpp"
#include "backend/cpu/simd_dispatch.hpp"
#include "backend/cpu/vector_math.hpp"
#include "backend/cpu/weight_load.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>

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

// Lane i = the sum of acc[i]'s lanes, pairwise (lanes j and j + 8, then j + 4, j + 2,
// j + 1) whatever i: sixteen sums share each shuffle.
__attribute__((target("avx512f,avx2,fma,f16c"), always_inline)) inline __m512 sum16(const __m512 (&acc)[16]) {
  __m512 t[8], u[4], v[2];
  for (int i = 0; i < 8; ++i)  // 256-bit halves: lanes j + j + 8
    t[i] = _mm512_add_ps(_mm512_shuffle_f32x4(acc[i], acc[i + 8], 0x44), _mm512_shuffle_f32x4(acc[i], acc[i + 8], 0xEE));
  for (int i = 0; i < 4; ++i)  // 128-bit quarters: j + j + 4
    u[i] = _mm512_add_ps(_mm512_shuffle_f32x4(t[i], t[i + 4], 0x88), _mm512_shuffle_f32x4(t[i], t[i + 4], 0xDD));
  for (int i = 0; i < 2; ++i)  // within quarters: j + j + 2
    v[i] = _mm512_add_ps(_mm512_shuffle_ps(u[i], u[i + 2], 0x44), _mm512_shuffle_ps(u[i], u[i + 2], 0xEE));
  const __m512 r = _mm512_add_ps(_mm512_shuffle_ps(v[0], v[1], 0x88), _mm512_shuffle_ps(v[0], v[1], 0xDD));
  // r's lane 4q + m holds the sum of acc[order[4q + m]]; the order is its own inverse.
  const __m512i order = _mm512_setr_epi32(0, 2, 1, 3, 8, 10, 9, 11, 4, 6, 5, 7, 12, 14, 13, 15);
  return _mm512_permutexvar_ps(order, r);
}

// Sixteen channels (fewer at the end) per pass: their dt, softplus, silu and final sums
// as vectors; each channel's state update as in scan_avx512.
__attribute__((target("avx512f,avx2,fma,f16c"))) void scan_channels_avx512(const ScanStep& st, size_t c0, size_t c1,
                                                                         size_t ds) {
  for (size_t g = c0; g < c1; g += 16) {
    const size_t count = std::min<size_t>(16, c1 - g);
    const __mmask16 lanes = count == 16 ? __mmask16(0xffff) : __mmask16((1u << count) - 1);
    const __m512 dt = softplus16(_mm512_maskz_loadu_ps(lanes, st.dt_raw + g));
    const __m512 x = _mm512_maskz_loadu_ps(lanes, st.x + g);
    alignas(64) float dts[16], dtxs[16], Ds[16] = {};
    _mm512_store_ps(dts, dt);
    _mm512_store_ps(dtxs, _mm512_mul_ps(dt, x));
    for (size_t i = 0; i < count; ++i) Ds[i] = load(st.D, g + i);
    __m512 acc[16];
    for (size_t i = 0; i < 16; ++i) {
      acc[i] = _mm512_setzero_ps();
      if (i >= count) continue;
      float* s = st.state + (g + i) * ds;
      const float* A = st.A + (g + i) * ds;
      const __m512 vdt = _mm512_set1_ps(dts[i]), vdtx = _mm512_set1_ps(dtxs[i]);
      for (size_t k = 0; k < ds; k += 16) {
        const __mmask16 m = ds - k >= 16 ? __mmask16(0xffff) : __mmask16((1u << (ds - k)) - 1);
        const __m512 decay = exp16(_mm512_mul_ps(vdt, _mm512_maskz_loadu_ps(m, A + k)));
        const __m512 state = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, s + k), decay,
                                             _mm512_mul_ps(vdtx, _mm512_maskz_loadu_ps(m, st.B + k)));
        _mm512_mask_storeu_ps(s + k, m, state);
        acc[i] = _mm512_fmadd_ps(state, _mm512_maskz_loadu_ps(m, st.C + k), acc[i]);
      }
    }
    const __m512 y = _mm512_fmadd_ps(_mm512_load_ps(Ds), x, sum16(acc));
    _mm512_mask_storeu_ps(st.y + g, lanes, _mm512_mul_ps(y, silu16(_mm512_maskz_loadu_ps(lanes, st.z + g))));
  }
}

// Lane i = the sum of acc[i]'s lanes, pairwise (lanes j and j + 4, then j + 2, j + 1)
// whatever i: eight sums share each shuffle.
__attribute__((target("avx2,fma,f16c"), always_inline)) inline __m256 sum8(const __m256 (&acc)[8]) {
  __m256 t[4], u[2];
  for (int i = 0; i < 4; ++i)  // 128-bit halves: lanes j + j + 4
    t[i] = _mm256_add_ps(_mm256_permute2f128_ps(acc[i], acc[i + 4], 0x20), _mm256_permute2f128_ps(acc[i], acc[i + 4], 0x31));
  for (int i = 0; i < 2; ++i)  // within halves: j + j + 2
    u[i] = _mm256_add_ps(_mm256_shuffle_ps(t[i], t[i + 2], 0x44), _mm256_shuffle_ps(t[i], t[i + 2], 0xEE));
  const __m256 r = _mm256_add_ps(_mm256_shuffle_ps(u[0], u[1], 0x88), _mm256_shuffle_ps(u[0], u[1], 0xDD));
  // r's lane 4h + m holds the sum of acc[order[4h + m]]; the order is its own inverse.
  return _mm256_permutevar8x32_ps(r, _mm256_setr_epi32(0, 2, 1, 3, 4, 6, 5, 7));
}

// scan_channels_avx512's method with eight channels per pass.
__attribute__((target("avx2,fma,f16c"))) void scan_channels_avx2(const ScanStep& st, size_t c0, size_t c1, size_t ds) {
  for (size_t g = c0; g < c1; g += 8) {
    const size_t count = std::min<size_t>(8, c1 - g);
    const __m256i lanes = first_lanes8(count);
    const __m256 dt = softplus8(_mm256_maskload_ps(st.dt_raw + g, lanes));
    const __m256 x = _mm256_maskload_ps(st.x + g, lanes);
    alignas(32) float dts[8], dtxs[8], Ds[8] = {};
    _mm256_store_ps(dts, dt);
    _mm256_store_ps(dtxs, _mm256_mul_ps(dt, x));
    for (size_t i = 0; i < count; ++i) Ds[i] = load(st.D, g + i);
    __m256 acc[8];
    for (size_t i = 0; i < 8; ++i) {
      acc[i] = _mm256_setzero_ps();
      if (i >= count) continue;
      float* s = st.state + (g + i) * ds;
      const float* A = st.A + (g + i) * ds;
      const __m256 vdt = _mm256_set1_ps(dts[i]), vdtx = _mm256_set1_ps(dtxs[i]);
      for (size_t k = 0; k < ds; k += 8) {
        const __m256i m = first_lanes8(ds - k);
        const __m256 decay = exp8(_mm256_mul_ps(vdt, _mm256_maskload_ps(A + k, m)));
        const __m256 state = _mm256_fmadd_ps(_mm256_maskload_ps(s + k, m), decay,
                                             _mm256_mul_ps(vdtx, _mm256_maskload_ps(st.B + k, m)));
        _mm256_maskstore_ps(s + k, m, state);
        acc[i] = _mm256_fmadd_ps(state, _mm256_maskload_ps(st.C + k, m), acc[i]);
      }
    }
    const __m256 y = _mm256_fmadd_ps(_mm256_load_ps(Ds), x, sum8(acc));
    _mm256_maskstore_ps(st.y + g, lanes, _mm256_mul_ps(y, silu8(_mm256_maskload_ps(st.z + g, lanes))));
  }
}

}  // namespace
#endif

#if MMB_HAVE_NEON_PATH
namespace {

// exp8's method, four lanes (the same operations, so the same bits lane for lane).
[[gnu::always_inline]] inline float32x4_t exp4(float32x4_t x) {
  x = vmaxq_f32(x, vdupq_n_f32(-87.0f));
  const float32x4_t n = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(1.44269504088896341f)));  // to nearest, ties even
  float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693359375f));
  r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
  float32x4_t p = vdupq_n_f32(1.0f / 720.0f);
  for (float c : {1.0f / 120.0f, 1.0f / 24.0f, 1.0f / 6.0f, 0.5f, 1.0f, 1.0f}) p = vfmaq_f32(vdupq_n_f32(c), p, r);
  const int32x4_t bits = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
  return vmulq_f32(p, vreinterpretq_f32_s32(bits));
}

float scan_neon(float* s, const float* A, const float* B, const float* C, float dt, float dtx, size_t d_state) {
  float32x4_t acc = vdupq_n_f32(0.0f);
  const float32x4_t vdt = vdupq_n_f32(dt), vdtx = vdupq_n_f32(dtx);
  size_t k = 0;
  for (; k + 4 <= d_state; k += 4) {
    const float32x4_t decay = exp4(vmulq_f32(vdt, vld1q_f32(A + k)));
    const float32x4_t state = vfmaq_f32(vmulq_f32(vdtx, vld1q_f32(B + k)), vld1q_f32(s + k), decay);
    vst1q_f32(s + k, state);
    acc = vfmaq_f32(acc, state, vld1q_f32(C + k));
  }
  const float32x2_t h = vadd_f32(vget_low_f32(acc), vget_high_f32(acc));  // lanes j + j + 2, then 0 + 1
  const float y = vget_lane_f32(h, 0) + vget_lane_f32(h, 1);
  return y + scan_channel_portable(s + k, A + k, B + k, C + k, dt, dtx, d_state - k);
}

}  // namespace
#endif

void scan_channels(const ScanStep& st, size_t c0, size_t c1, size_t d_state) {
#if MMB_HAVE_AVX2_PATH
  if (kernel_path() == KernelPath::AVX512) return scan_channels_avx512(st, c0, c1, d_state);
  if (kernel_path() == KernelPath::AVX2) return scan_channels_avx2(st, c0, c1, d_state);
#endif
  for (size_t c = c0; c < c1; ++c) {
    const float dt = softplus(st.dt_raw[c]);
    const float x = st.x[c];
    const float y = scan_channel(st.state + c * d_state, st.A + c * d_state, st.B, st.C, dt, dt * x, d_state);
    st.y[c] = (y + load(st.D, c) * x) * silu(st.z[c]);
  }
}

float scan_channel(float* s, const float* A, const float* B, const float* C, float dt, float dtx, size_t d_state) {
  switch (kernel_path()) {
#if MMB_HAVE_AVX2_PATH
    case KernelPath::AVX512: return scan_avx512(s, A, B, C, dt, dtx, d_state);
    case KernelPath::AVX2: return scan_avx2(s, A, B, C, dt, dtx, d_state);
#endif
#if MMB_HAVE_NEON_PATH
    case KernelPath::NEON: return scan_neon(s, A, B, C, dt, dtx, d_state);
#endif
    default: break;
  }
  return scan_channel_portable(s, A, B, C, dt, dtx, d_state);
}

}  // namespace mmb::cpu
