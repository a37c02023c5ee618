#include "backend/cpu/vector_channels.hpp"

#include "backend/cpu/weight_load.hpp"

#include <algorithm>
#include <initializer_list>

#if MMB_HAVE_AVX2_PATH

namespace mmb::cpu {
namespace avx2 {
namespace {

#define MMB_LANES __attribute__((target("avx2,fma,f16c"), always_inline)) inline

struct Lanes {
  using Reg = __m256;
  static constexpr size_t kWidth = 8;
  // Lanes [0, count) set: the mask of AVX2's masked loads and stores.
  static MMB_LANES __m256i first(size_t count) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(std::min<size_t>(count, 8))), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static MMB_LANES Reg zero() { return _mm256_setzero_ps(); }
  static MMB_LANES Reg set1(float v) { return _mm256_set1_ps(v); }
  static MMB_LANES Reg load(const float* p) { return _mm256_loadu_ps(p); }
  static MMB_LANES void store(float* p, Reg v) { _mm256_storeu_ps(p, v); }
  // Whole vectors (nearly every call) by plain loads and stores: the masked ones cost
  // more (a masked store several times a plain one).
  static MMB_LANES Reg load_first(const float* p, size_t count) {
    return count >= kWidth ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, first(count));
  }
  static MMB_LANES void store_first(float* p, size_t count, Reg v) {
    if (count >= kWidth) return _mm256_storeu_ps(p, v);
    _mm256_maskstore_ps(p, first(count), v);
  }
  static MMB_LANES Reg add(Reg a, Reg b) { return _mm256_add_ps(a, b); }
  static MMB_LANES Reg sub(Reg a, Reg b) { return _mm256_sub_ps(a, b); }
  static MMB_LANES Reg mul(Reg a, Reg b) { return _mm256_mul_ps(a, b); }
  static MMB_LANES Reg div(Reg a, Reg b) { return _mm256_div_ps(a, b); }
  static MMB_LANES Reg max(Reg a, Reg b) { return _mm256_max_ps(a, b); }
  static MMB_LANES Reg abs(Reg a) {
    return _mm256_castsi256_ps(_mm256_and_si256(_mm256_castps_si256(a), _mm256_set1_epi32(0x7fffffff)));
  }
  static MMB_LANES Reg fma(Reg a, Reg b, Reg c) { return _mm256_fmadd_ps(a, b, c); }
  static MMB_LANES Reg fnma(Reg a, Reg b, Reg c) { return _mm256_fnmadd_ps(a, b, c); }
  static MMB_LANES Reg round(Reg a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static MMB_LANES Reg pow2(Reg n) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23));
  }
  static MMB_LANES Reg negative_select(Reg z, Reg a, Reg b) {
    return _mm256_blendv_ps(b, a, _mm256_cmp_ps(z, _mm256_setzero_ps(), _CMP_LT_OQ));
  }
  // Eight sums sharing each shuffle: 128-bit halves (j + j + 4), then within halves
  // (j + j + 2, j + j + 1).
  static MMB_LANES Reg sum_each(const Reg (&acc)[8]) {
    Reg t[4], u[2];
    for (int i = 0; i < 4; ++i)
      t[i] = _mm256_add_ps(_mm256_permute2f128_ps(acc[i], acc[i + 4], 0x20), _mm256_permute2f128_ps(acc[i], acc[i + 4], 0x31));
    for (int i = 0; i < 2; ++i)
      u[i] = _mm256_add_ps(_mm256_shuffle_ps(t[i], t[i + 2], 0x44), _mm256_shuffle_ps(t[i], t[i + 2], 0xEE));
    const Reg r = _mm256_add_ps(_mm256_shuffle_ps(u[0], u[1], 0x88), _mm256_shuffle_ps(u[0], u[1], 0xDD));
    // r's lane 4h + m holds the sum of acc[order[4h + m]]; the order is its own inverse.
    return _mm256_permutevar8x32_ps(r, _mm256_setr_epi32(0, 2, 1, 3, 4, 6, 5, 7));
  }
};

#include "backend/cpu/vector_channels.inc"

#undef MMB_LANES

}  // namespace
}  // namespace avx2

__attribute__((target("avx2,fma,f16c"))) void scan_channels_avx2(const ScanStep& step, size_t c0, size_t c1,
                                                                size_t d_state) {
  avx2::scan_channels_lanes(step, c0, c1, d_state);
}

__attribute__((target("avx2,fma,f16c"))) void silu_avx2(float* v, size_t count) { avx2::silu_span(v, count); }
__attribute__((target("avx2,fma,f16c"))) void exp_avx2(float* v, size_t count) { avx2::exp_span(v, count); }

}  // namespace mmb::cpu

#endif
