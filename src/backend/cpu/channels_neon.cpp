#include "backend/cpu/vector_channels.hpp"

#include "backend/cpu/weight_load.hpp"

#include <algorithm>
#include <cstring>
#include <initializer_list>

#if MMB_HAVE_NEON_PATH

namespace mmb::cpu {
namespace neon {
namespace {

// NEON is in every AArch64 CPU: no target attribute, only the inlining.
#define MMB_LANES __attribute__((always_inline)) inline

struct Lanes {
  using Reg = float32x4_t;
  static constexpr size_t kWidth = 4;
  static MMB_LANES Reg zero() { return vdupq_n_f32(0.0f); }
  static MMB_LANES Reg set1(float v) { return vdupq_n_f32(v); }
  static MMB_LANES Reg load(const float* p) { return vld1q_f32(p); }
  static MMB_LANES void store(float* p, Reg v) { vst1q_f32(p, v); }
  // NEON has no masked loads: a short group goes through a zeroed copy.
  static MMB_LANES Reg load_first(const float* p, size_t count) {
    if (count >= 4) return vld1q_f32(p);
    float part[4] = {};
    std::memcpy(part, p, count * sizeof(float));
    return vld1q_f32(part);
  }
  static MMB_LANES void store_first(float* p, size_t count, Reg v) {
    if (count >= 4) return vst1q_f32(p, v);
    float part[4];
    vst1q_f32(part, v);
    std::memcpy(p, part, count * sizeof(float));
  }
  static MMB_LANES Reg add(Reg a, Reg b) { return vaddq_f32(a, b); }
  static MMB_LANES Reg sub(Reg a, Reg b) { return vsubq_f32(a, b); }
  static MMB_LANES Reg mul(Reg a, Reg b) { return vmulq_f32(a, b); }
  static MMB_LANES Reg div(Reg a, Reg b) { return vdivq_f32(a, b); }
  static MMB_LANES Reg max(Reg a, Reg b) { return vmaxq_f32(a, b); }
  static MMB_LANES Reg abs(Reg a) { return vabsq_f32(a); }
  static MMB_LANES Reg fma(Reg a, Reg b, Reg c) { return vfmaq_f32(c, a, b); }
  static MMB_LANES Reg fnma(Reg a, Reg b, Reg c) { return vfmsq_f32(c, a, b); }
  static MMB_LANES Reg round(Reg a) { return vrndnq_f32(a); }
  static MMB_LANES Reg pow2(Reg n) {
    return vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23));
  }
  static MMB_LANES Reg negative_select(Reg z, Reg a, Reg b) { return vbslq_f32(vcltq_f32(z, vdupq_n_f32(0.0f)), a, b); }
  // Four sums: halves (j + j + 2), then pairs (j + j + 1), which lands in lane order.
  static MMB_LANES Reg sum_each(const Reg (&acc)[4]) {
    const Reg t0 = vaddq_f32(vcombine_f32(vget_low_f32(acc[0]), vget_low_f32(acc[1])),
                             vcombine_f32(vget_high_f32(acc[0]), vget_high_f32(acc[1])));
    const Reg t1 = vaddq_f32(vcombine_f32(vget_low_f32(acc[2]), vget_low_f32(acc[3])),
                             vcombine_f32(vget_high_f32(acc[2]), vget_high_f32(acc[3])));
    return vpaddq_f32(t0, t1);
  }
};

#include "backend/cpu/vector_channels.inc"

#undef MMB_LANES

}  // namespace
}  // namespace neon

void scan_channels_neon(const ScanStep& step, size_t c0, size_t c1, size_t d_state) {
  neon::scan_channels_lanes(step, c0, c1, d_state);
}

void silu_neon(float* v, size_t count) { neon::silu_span(v, count); }
void exp_neon(float* v, size_t count) { neon::exp_span(v, count); }

}  // namespace mmb::cpu

#endif
