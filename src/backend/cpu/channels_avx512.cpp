#include "backend/cpu/vector_channels.hpp"

#include "backend/cpu/avx512_warnings.hpp"
#include "backend/cpu/weight_load.hpp"

#include <algorithm>
#include <initializer_list>

#if MMB_HAVE_AVX2_PATH

namespace mmb::cpu {
namespace avx512 {
namespace {

#define MMB_LANES __attribute__((target("avx512f,avx2,fma,f16c"), always_inline)) inline

struct Lanes {
  using Reg = __m512;
  static constexpr size_t kWidth = 16;
  static MMB_LANES __mmask16 first(size_t count) {
    return count >= 16 ? __mmask16(0xffff) : __mmask16((1u << count) - 1);
  }
  static MMB_LANES Reg zero() { return _mm512_setzero_ps(); }
  static MMB_LANES Reg set1(float v) { return _mm512_set1_ps(v); }
  static MMB_LANES Reg load(const float* p) { return _mm512_loadu_ps(p); }
  static MMB_LANES void store(float* p, Reg v) { _mm512_storeu_ps(p, v); }
  static MMB_LANES Reg load_first(const float* p, size_t count) { return _mm512_maskz_loadu_ps(first(count), p); }
  static MMB_LANES void store_first(float* p, size_t count, Reg v) { _mm512_mask_storeu_ps(p, first(count), v); }
  static MMB_LANES Reg add(Reg a, Reg b) { return _mm512_add_ps(a, b); }
  static MMB_LANES Reg sub(Reg a, Reg b) { return _mm512_sub_ps(a, b); }
  static MMB_LANES Reg mul(Reg a, Reg b) { return _mm512_mul_ps(a, b); }
  static MMB_LANES Reg div(Reg a, Reg b) { return _mm512_div_ps(a, b); }
  static MMB_LANES Reg max(Reg a, Reg b) { return _mm512_max_ps(a, b); }
  static MMB_LANES Reg abs(Reg a) {
    return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(a), _mm512_set1_epi32(0x7fffffff)));
  }
  static MMB_LANES Reg fma(Reg a, Reg b, Reg c) { return _mm512_fmadd_ps(a, b, c); }
  static MMB_LANES Reg fnma(Reg a, Reg b, Reg c) { return _mm512_fnmadd_ps(a, b, c); }
  static MMB_LANES Reg round(Reg a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static MMB_LANES Reg pow2(Reg n) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23));
  }
  static MMB_LANES Reg negative_select(Reg z, Reg a, Reg b) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(z, _mm512_setzero_ps(), _CMP_LT_OQ), b, a);
  }
  // Sixteen sums sharing each shuffle: 256-bit halves (j + j + 8), 128-bit quarters
  // (j + j + 4), then within quarters (j + j + 2, j + j + 1).
  static MMB_LANES Reg sum_each(const Reg (&acc)[16]) {
    Reg t[8], u[4], v[2];
    for (int i = 0; i < 8; ++i)
      t[i] = _mm512_add_ps(_mm512_shuffle_f32x4(acc[i], acc[i + 8], 0x44), _mm512_shuffle_f32x4(acc[i], acc[i + 8], 0xEE));
    for (int i = 0; i < 4; ++i)
      u[i] = _mm512_add_ps(_mm512_shuffle_f32x4(t[i], t[i + 4], 0x88), _mm512_shuffle_f32x4(t[i], t[i + 4], 0xDD));
    for (int i = 0; i < 2; ++i)
      v[i] = _mm512_add_ps(_mm512_shuffle_ps(u[i], u[i + 2], 0x44), _mm512_shuffle_ps(u[i], u[i + 2], 0xEE));
    const Reg r = _mm512_add_ps(_mm512_shuffle_ps(v[0], v[1], 0x88), _mm512_shuffle_ps(v[0], v[1], 0xDD));
    // r's lane 4q + m holds the sum of acc[order[4q + m]]; the order is its own inverse.
    return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 2, 1, 3, 8, 10, 9, 11, 4, 6, 5, 7, 12, 14, 13, 15), r);
  }
};

#include "backend/cpu/vector_channels.inc"

#undef MMB_LANES

}  // namespace
}  // namespace avx512

__attribute__((target("avx512f,avx2,fma,f16c"))) void scan_channels_avx512(const ScanStep& step, size_t c0, size_t c1,
                                                                         size_t d_state) {
  avx512::scan_channels_lanes(step, c0, c1, d_state);
}

__attribute__((target("avx512f,avx2,fma,f16c"))) void silu_avx512(float* v, size_t count) { avx512::silu_span(v, count); }
__attribute__((target("avx512f,avx2,fma,f16c"))) void exp_avx512(float* v, size_t count) { avx512::exp_span(v, count); }

}  // namespace mmb::cpu

#endif
