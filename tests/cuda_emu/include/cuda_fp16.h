// The emulator's __half: 16 bits, converted through float with round-to-nearest-even
// by the project's own f16 code (src/base/dtype.hpp), as the device's cvt.rn does.
#pragma once

#include "cuda_runtime.h"

#include "base/dtype.hpp"

struct __half {
  uint16_t bits;
  __half() = default;
  __half(float f) : bits(mmb::f32_to_f16(f)) {}
  operator float() const { return mmb::f16_to_f32(bits); }
};
struct alignas(4) __half2 {
  __half x, y;
};

inline __half __float2half_rn(float f) { return __half(f); }
inline float __half2float(__half h) { return float(h); }
inline float2 __half22float2(__half2 h) { return {float(h.x), float(h.y)}; }
