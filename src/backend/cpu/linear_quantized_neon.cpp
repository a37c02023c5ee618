// The q8 and q4 matrix kernels on NEON (linear_quantized_dot.inc): widening int8
// multiplies (VMULL, VMLAL) and pairwise widening adds into four 32-bit lanes per group;
// q8's bytes multiply as they are (two products per 16-bit lane: at most 2 x 128 x 127).
#include "backend/cpu/linear_simd.hpp"

#include "backend/cpu/quantized_input.hpp"
#include "backend/cpu/row_chunks.hpp"
#include "backend/cpu/simd_dispatch.hpp"
#include "backend/cpu/weight_load.hpp"

#include <algorithm>
#include <cstring>
#include <cmath>
#include <cstdint>
#include <memory>
#include <new>

#if MMB_HAVE_NEON_PATH

namespace mmb::cpu {
namespace {
namespace neon {

#define MMB_KERNEL __attribute__((always_inline)) inline
#define MMB_KERNEL_ENTRY

// Two groups a step; codes as four registers: group g's columns 0-15, g + 1's 0-15, g's
// 16-31, g + 1's 16-31.
struct Vec {
  static constexpr size_t kStep = 2;
  using Acc = float32x4_t;
  struct Codes {
    int8x16_t low0, low1, high0, high1;  // group g's columns 0-15, g + 1's 0-15, g's 16-31, g + 1's 16-31
  };
  struct Ints {
    int32x4_t g0, g1;
  };
  static constexpr size_t kRowsFor4 = 2, kRowsFor3 = 2, kRowsFor2 = 3, kRowsFor1 = 4;
  static MMB_KERNEL Acc zero() { return vdupq_n_f32(0.0f); }
  // 16 codes times 16 values, two products per 16-bit lane.
  static MMB_KERNEL int16x8_t products(int8x16_t c, int8x16_t x) {
    return vmlal_s8(vmull_s8(vget_low_s8(c), vget_low_s8(x)), vget_high_s8(c), vget_high_s8(x));
  }
  // The two groups' sums, from a and b.
  static MMB_KERNEL Ints sums(const Codes& c, const int8_t* lo, const int8_t* hi, int32x4_t a, int32x4_t b) {
    const int8x16_t x0 = vld1q_s8(lo), x1 = vld1q_s8(lo + 16), x2 = vld1q_s8(hi), x3 = vld1q_s8(hi + 16);
    return {vpadalq_s16(vpadalq_s16(a, products(c.low0, x0)), products(c.high0, x2)),
            vpadalq_s16(vpadalq_s16(b, products(c.low1, x1)), products(c.high1, x3))};
  }
  static MMB_KERNEL Acc fma(const Ints& a, const float* p, Acc acc) {
    return vfmaq_f32(vfmaq_f32(acc, vcvtq_f32_s32(a.g0), vdupq_n_f32(p[0])), vcvtq_f32_s32(a.g1), vdupq_n_f32(p[1]));
  }
  static MMB_KERNEL float sum(Acc a) {
    const float32x2_t h = vadd_f32(vget_low_f32(a), vget_high_f32(a));
    return vget_lane_f32(h, 0) + vget_lane_f32(h, 1);
  }
  static MMB_KERNEL void prefetch_l2(const void* p) { __builtin_prefetch(p, 0, 2); }
  static MMB_KERNEL void multiply_run(const float* a, const float* b, float* out) {
    vst1q_f32(out, vmulq_f32(vld1q_f32(a), vld1q_f32(b)));
    vst1q_f32(out + 4, vmulq_f32(vld1q_f32(a + 4), vld1q_f32(b + 4)));
  }
  static MMB_KERNEL void scales(const std::byte* s, size_t g, size_t n, float* out) {
    if (n == 8) {
      uint16_t h[8];
      std::memcpy(h, s + 2 * g, sizeof h);
      vst1q_f32(out, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(h))));
      vst1q_f32(out + 4, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(h + 4))));
      return;
    }
    for (size_t k = 0; k < kInputScaleRun; ++k) out[k] = k < n ? q8_scale_at(s, g + k) : 0.0f;
  }
  static MMB_KERNEL float quantize_group(const float* x, size_t n, int8_t* q) {
    return quantize_input_group(x, n, q);
  }
  static MMB_KERNEL void store_group(const QuantizedInput& a, size_t v, size_t g, const int8_t* q, int32_t zero) {
    store_input_group(a, v, g, q, zero);
  }
};

struct Q4 : Vec {
  static constexpr size_t kGroupBytes = kQ4GroupBytes;
  static constexpr size_t row_bytes(size_t cols) { return q4_row_bytes(cols); }
  static MMB_KERNEL int8x16_t low(uint8x16_t b) { return vreinterpretq_s8_u8(vandq_u8(b, vdupq_n_u8(0x0f))); }
  static MMB_KERNEL int8x16_t high(uint8x16_t b) { return vreinterpretq_s8_u8(vshrq_n_u8(b, 4)); }
  static MMB_KERNEL Codes unpack(const uint8_t* p, size_t bytes) {
    const uint8x16_t a = vld1q_u8(p);
    if (bytes < 2 * kGroupBytes) return {low(a), vdupq_n_s8(0), high(a), vdupq_n_s8(0)};
    const uint8x16_t b = vld1q_u8(p + 16);
    return {low(a), low(b), high(a), high(b)};
  }
  static MMB_KERNEL Ints dot(const Codes& c, const int8_t* lo, const int8_t* hi, const int32_t* o) {
    return sums(c, lo, hi, vld1q_s32(o), vld1q_s32(o + 4));
  }
};

struct Q8 : Vec {
  static constexpr size_t kGroupBytes = kQ8Group;
  static constexpr size_t row_bytes(size_t cols) { return cols; }
  static MMB_KERNEL Codes unpack(const uint8_t* p, size_t bytes) {
    if (bytes < 2 * kGroupBytes) {
      alignas(16) int8_t tail[2 * kGroupBytes] = {};
      std::memcpy(tail, p, bytes);
      return {vld1q_s8(tail), vld1q_s8(tail + 32), vld1q_s8(tail + 16), vld1q_s8(tail + 48)};
    }
    const auto* v = reinterpret_cast<const int8_t*>(p);
    return {vld1q_s8(v), vld1q_s8(v + 32), vld1q_s8(v + 16), vld1q_s8(v + 48)};
  }
  // The values as they are: no offsets.
  static MMB_KERNEL Ints dot(const Codes& c, const int8_t* lo, const int8_t* hi, const int32_t*) {
    return sums(c, lo, hi, vdupq_n_s32(0), vdupq_n_s32(0));
  }
};

#include "backend/cpu/linear_quantized_dot.inc"

#undef MMB_KERNEL
#undef MMB_KERNEL_ENTRY

}  // namespace neon
}  // namespace

void q4_rows_neon(const Matrix& w, size_t r0, size_t r1, const QuantizedInput& x, float* const* ys) {
  neon::q4_rows(w, r0, r1, x, ys);
}

void q8_rows_neon(const Matrix& w, size_t r0, size_t r1, const QuantizedInput& x, float* const* ys) {
  neon::q8_rows(w, r0, r1, x, ys);
}

QuantizedInput quantize_inputs_neon(const float* const* xs, size_t n, size_t cols, int32_t zero, void* buffer) {
  return neon::quantize(xs, n, cols, zero, buffer);
}

}  // namespace mmb::cpu

#endif
