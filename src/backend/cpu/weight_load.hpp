// Reading weight elements of any dtype as f32, scalar and in the inner loops.
#pragma once

#include "base/dtype.hpp"
#include "model/model_weights.hpp"

#include <cstdint>
#include <cstring>

namespace mmb::cpu {

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

// Scale g of a q8 (or q4) row whose f16 scales start at `scales`, without the branches of
// f16_to_f32 (the kernels read one per 32 weights). The scales are 2-byte aligned in a
// loaded bundle; not assumed here.
inline float q8_scale_at(const std::byte* scales, uint64_t g) {
  uint16_t h;
  std::memcpy(&h, scales + 2 * g, 2);
  return half_bits_to_float(h);
}

// Element i of a weight (vectors and small tables; the matrix kernels use typed loops).
inline float load(const Matrix& m, uint64_t i) {
  switch (m.dtype) {
    case DType::F32: { float f; std::memcpy(&f, m.data + 4 * i, 4); return f; }
    case DType::F16: { uint16_t h; std::memcpy(&h, m.data + 2 * i, 2); return half_bits_to_float(h); }
    case DType::BF16: { uint16_t h; std::memcpy(&h, m.data + 2 * i, 2); return bfloat_to_float(h); }
    case DType::Q8: {
      const uint64_t r = i / m.cols, c = i % m.cols;
      return float(int8_t(m.data[i])) * q8_scale_at(m.scales, r * q8_groups(m.cols) + c / kQ8Group);
    }
    case DType::Q4: {
      const uint64_t r = i / m.cols, c = i % m.cols;
      const std::byte* group = m.data + r * q4_row_bytes(m.cols) + c / kQ4Group * kQ4GroupBytes;
      const uint64_t k = c % kQ4Group;
      const uint8_t b = uint8_t(group[k % kQ4GroupBytes]);
      const int code = k < kQ4GroupBytes ? b & 0x0f : b >> 4;
      return float(code - kQ4Zero) * q8_scale_at(m.scales, r * q4_groups(m.cols) + c / kQ4Group);
    }
  }
  return 0.0f;
}

// Row r of a matrix, converted to f32 into out[0..cols).
void load_row(const Matrix& m, uint64_t r, float* out);

}  // namespace mmb::cpu
