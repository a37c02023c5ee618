// The emulator's __nv_bfloat16: the high 16 bits of a float, rounded to nearest even
// by the project's own bf16 code (src/base/dtype.hpp).
#pragma once

#include "cuda_runtime.h"

#include "base/dtype.hpp"

struct __nv_bfloat16 {
  uint16_t bits;
  __nv_bfloat16() = default;
  __nv_bfloat16(float f) : bits(mmb::f32_to_bf16(f)) {}
  operator float() const { return mmb::bf16_to_f32(bits); }
};
struct alignas(4) __nv_bfloat162 {
  __nv_bfloat16 x, y;
};

inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __nv_bfloat16(f); }
inline float __bfloat162float(__nv_bfloat16 h) { return float(h); }
inline float2 __bfloat1622float2(__nv_bfloat162 h) { return {float(h.x), float(h.y)}; }
