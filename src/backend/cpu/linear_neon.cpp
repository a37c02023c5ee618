#include "backend/cpu/linear_simd.hpp"

#include "backend/cpu/row_chunks.hpp"
#include "backend/cpu/simd_dispatch.hpp"
#include "backend/cpu/weight_load.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#if MMB_HAVE_NEON_PATH

namespace mmb::cpu {
namespace neon {
namespace {

// NEON is in every AArch64 CPU: no target attribute, only the inlining.
#define MMB_KERNEL __attribute__((always_inline)) inline
#define MMB_KERNEL_ENTRY

// 32 registers, as with AVX-512: 4 x 4 accumulators + 4 inputs + 1 weight at the
// widest block.
struct Vec {
  using Reg = float32x4_t;
  static constexpr size_t kWidth = 4;
  static constexpr size_t kRowsFor4 = 4, kRowsFor3 = 4, kRowsFor2 = 6, kRowsFor1 = 8;
  static constexpr size_t kPanelRegs = 0, kPanelVectors = 0;  // no lane panels (block() at every batch)
  static MMB_KERNEL Reg zero() { return vdupq_n_f32(0.0f); }
  static MMB_KERNEL Reg set1(float v) { return vdupq_n_f32(v); }
  static MMB_KERNEL Reg load(const float* p) { return vld1q_f32(p); }
  static MMB_KERNEL void store(float* p, Reg v) { vst1q_f32(p, v); }
  static MMB_KERNEL Reg add(Reg a, Reg b) { return vaddq_f32(a, b); }
  static MMB_KERNEL Reg mul(Reg a, Reg b) { return vmulq_f32(a, b); }
  static MMB_KERNEL Reg fma(Reg a, Reg b, Reg c) { return vfmaq_f32(c, a, b); }
  static MMB_KERNEL float sum(Reg a) {
    // (lane 0 + lane 2) + (lane 1 + lane 3), the x86 paths' order on their last quarter.
    const float32x2_t h = vadd_f32(vget_low_f32(a), vget_high_f32(a));
    return vget_lane_f32(h, 0) + vget_lane_f32(h, 1);
  }
  static MMB_KERNEL Reg load_f16(const uint16_t* p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }
  static MMB_KERNEL Reg load_bf16(const uint16_t* p) {
    return vreinterpretq_f32_u32(vshlq_n_u32(vmovl_u16(vld1_u16(p)), 16));
  }
  static MMB_KERNEL void prefetch_l2(const void* p) { __builtin_prefetch(p, 0, 2); }
};

#include "backend/cpu/linear_blocked.inc"

#undef MMB_KERNEL
#undef MMB_KERNEL_ENTRY

}  // namespace
}  // namespace neon

void rows_neon(const Matrix& w, size_t r0, size_t r1, const float* const* xs, float* const* ys, size_t n) {
  neon::rows_float(w, r0, r1, xs, ys, n);
}

}  // namespace mmb::cpu

#endif
