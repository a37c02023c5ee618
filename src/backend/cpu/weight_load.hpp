// Reading weight elements of any dtype as f32, scalar and in the inner loops.
#pragma once

#include "base/dtype.hpp"
#include "model/model_weights.hpp"

#include <cstdint>
#include <cstring>

namespace mmb::cpu {

// The f16 type the compiler converts in hardware where it can (F16C, NEON). On arm64
// that is __fp16: GCC before 13 defines __FLT16_MAX__ there but has no _Float16 in C++.
#if defined(__aarch64__)
inline float half_to_float(uint16_t h) {
  __fp16 v;
  std::memcpy(&v, &h, 2);
  return float(v);
}
#elif defined(__FLT16_MAX__)
inline float half_to_float(uint16_t h) {
  _Float16 v;
  std::memcpy(&v, &h, 2);
  return float(v);
}
#else
inline float half_to_float(uint16_t h) { return f16_to_f32(h); }
#endif

inline float bfloat_to_float(uint16_t h) { return bf16_to_f32(h); }

// f16 to f32 with integer and float operations only, no branches or table, so the
// compiler vectorizes it in the hot loops on any target (a scalar _Float16 cast is a
// library call without F16C). Exact for every value: placing the 15 low bits at the
// top of a float and scaling by 2^112 rebias normals and subnormals alike; the
// all-ones exponent (Inf, NaN) is restored separately.
inline float half_bits_to_float(uint16_t h) {
  const uint32_t magnitude = uint32_t(h & 0x7fffu) << 13;
  float scaled;
  std::memcpy(&scaled, &magnitude, 4);
  scaled *= 0x1p112f;
  uint32_t bits;
  std::memcpy(&bits, &scaled, 4);
  const uint32_t special = (h & 0x7c00u) == 0x7c00u ? 0xffffffffu : 0u;
  bits = (bits & ~special) | ((magnitude | 0x7f800000u) & special);
  bits |= uint32_t(h & 0x8000u) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Element i of a weight (vectors and small tables; the matrix kernels use typed loops).
inline float load(const Matrix& m, uint64_t i) {
  switch (m.dtype) {
    case DType::F32: { float f; std::memcpy(&f, m.data + 4 * i, 4); return f; }
    case DType::F16: { uint16_t h; std::memcpy(&h, m.data + 2 * i, 2); return half_to_float(h); }
    case DType::BF16: { uint16_t h; std::memcpy(&h, m.data + 2 * i, 2); return bfloat_to_float(h); }
    case DType::Q8: {
      const uint64_t r = i / m.cols, c = i % m.cols;
      uint16_t h;
      std::memcpy(&h, m.scales + 2 * (r * q8_groups(m.cols) + c / kQ8Group), 2);
      return float(int8_t(m.data[i])) * half_bits_to_float(h);
    }
  }
  return 0.0f;
}

// Row r of a matrix, converted to f32 into out[0..cols).
void load_row(const Matrix& m, uint64_t r, float* out);

}  // namespace mmb::cpu
