// Element types of tensors, the byte layout each gives a tensor, and the conversions
// of the floating-point ones to f32 (q8's are in q8.hpp, q4's in q4.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>

namespace mmb {

// Q8: int8 values with one f16 scale per group of kQ8Group values of a row (layout
// below). Q4: 4-bit codes with one f16 scale per group of kQ4Group values of a row
// (layout below). Only 2-D weight matrices may be quantized (TensorSpec::quantizable).
enum class DType : uint8_t { F32 = 0, F16 = 1, BF16 = 2, Q8 = 3, Q4 = 4 };

constexpr bool dtype_known(uint8_t value) { return value <= uint8_t(DType::Q4); }

// The dtypes with per-group scales (q8, q4): 2-D weight matrices only.
constexpr bool dtype_quantized(DType t) { return t == DType::Q8 || t == DType::Q4; }

constexpr std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::F16: return "f16";
    case DType::BF16: return "bf16";
    case DType::Q8: return "q8";
    case DType::Q4: return "q4";
  }
  return "?";
}

// The width of the values shuffle-zstd splits into byte planes: 4 for f32, 2 for f16
// and bf16, 1 for q8 and q4 (their codes are nearly all of their bytes). Not a size: a
// quantized tensor has scales besides its codes; sizes come from tensor_bytes.
constexpr size_t dtype_shuffle_width(DType t) { return t == DType::F32 ? 4 : dtype_quantized(t) ? 1 : 2; }

// The q8 layout of a [rows, cols] tensor: the rows * cols int8 values, row-major; zero
// bytes up to the next multiple of kQ8BlockAlignment; then rows * q8_groups(cols) f16
// scales, row-major (scale g of row r covers columns [32 g, min(32 g + 32, cols)), so
// the last group of a row may be shorter). Value c of row r is q[r, c] * scale. Both
// blocks start 64-byte aligned in a loaded bundle.
inline constexpr uint64_t kQ8Group = 32;
inline constexpr uint64_t kQ8BlockAlignment = 64;
constexpr uint64_t q8_groups(uint64_t cols) { return cols / kQ8Group + (cols % kQ8Group != 0); }

// Where the scales start: the values' bytes rounded up to kQ8BlockAlignment; nullopt
// when that overflows 64 bits.
inline std::optional<uint64_t> q8_scales_offset(uint64_t rows, uint64_t cols) {
  uint64_t n;
  if (__builtin_mul_overflow(rows, cols, &n) || n > UINT64_MAX - (kQ8BlockAlignment - 1)) return std::nullopt;
  return (n + kQ8BlockAlignment - 1) / kQ8BlockAlignment * kQ8BlockAlignment;
}

// The q4 layout of a [rows, cols] tensor: each row's codes, q4_groups(cols) groups of
// kQ4GroupBytes bytes (a row's last group padded with zero bytes when cols is not a
// multiple of kQ4Group), rows one after another; zero bytes up to the next multiple of
// kQ4BlockAlignment; then rows * q4_groups(cols) f16 scales, row-major like q8's. Byte
// j (j < 16) of a group holds the code of the group's value j in its low nibble and of
// value j + 16 in its high nibble: one AND or one shift of 16 bytes gives 16
// consecutive codes. Value c of row r is (code - 8) * scale, the codes 0..15 standing
// for -8..7 (base/q4.hpp says how the quantizer picks the scale).
inline constexpr uint64_t kQ4Group = 32;
inline constexpr uint64_t kQ4GroupBytes = kQ4Group / 2;
inline constexpr uint64_t kQ4BlockAlignment = 64;
inline constexpr int kQ4Zero = 8;  // the code of the value 0
constexpr uint64_t q4_groups(uint64_t cols) { return cols / kQ4Group + (cols % kQ4Group != 0); }
constexpr uint64_t q4_row_bytes(uint64_t cols) { return q4_groups(cols) * kQ4GroupBytes; }

// Where q4 scales start: the codes' bytes rounded up to kQ4BlockAlignment; nullopt when
// that overflows 64 bits.
inline std::optional<uint64_t> q4_scales_offset(uint64_t rows, uint64_t cols) {
  uint64_t n;
  if (__builtin_mul_overflow(rows, q4_row_bytes(cols), &n) || n > UINT64_MAX - (kQ4BlockAlignment - 1))
    return std::nullopt;
  return (n + kQ4BlockAlignment - 1) / kQ4BlockAlignment * kQ4BlockAlignment;
}

// Groups per row and where the scales start, for either quantized dtype.
constexpr uint64_t quantized_groups(DType t, uint64_t cols) { return t == DType::Q4 ? q4_groups(cols) : q8_groups(cols); }
inline std::optional<uint64_t> quantized_scales_offset(DType t, uint64_t rows, uint64_t cols) {
  return t == DType::Q4 ? q4_scales_offset(rows, cols) : q8_scales_offset(rows, cols);
}

// Bytes of a tensor of `shape` stored as `dtype`: elements x 4 (f32) or x 2 (f16,
// bf16); q8 and q4 as above. The one place sizes are computed. nullopt when a count
// overflows 64 bits, or for q8 or q4 with a shape that is not 2-D.
inline std::optional<uint64_t> tensor_bytes(DType dtype, std::span<const uint64_t> shape) {
  if (dtype_quantized(dtype)) {
    if (shape.size() != 2) return std::nullopt;
    const std::optional<uint64_t> values = quantized_scales_offset(dtype, shape[0], shape[1]);
    uint64_t scales, total;
    if (!values || __builtin_mul_overflow(shape[0], quantized_groups(dtype, shape[1]) * 2, &scales) ||
        __builtin_add_overflow(*values, scales, &total))
      return std::nullopt;
    return total;
  }
  uint64_t n = dtype == DType::F32 ? 4 : 2;
  for (uint64_t d : shape)
    if (__builtin_mul_overflow(n, d, &n)) return std::nullopt;
  return n;
}

inline float bf16_to_f32(uint16_t h) {
  uint32_t bits = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Round to nearest even; NaN stays NaN (quiet bit forced so it cannot become Inf).
inline uint16_t f32_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return uint16_t((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return uint16_t(bits >> 16);
}

inline float f16_to_f32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112u) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {  // subnormal: normalize
    int shift = 0;
    while (!(mant & 0x400u)) { mant <<= 1; ++shift; }
    mant &= 0x3ffu;
    bits = sign | (uint32_t(113 - shift) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Round to nearest even, with overflow to Inf and gradual underflow.
inline uint16_t f32_to_f16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  uint32_t sign = (bits >> 16) & 0x8000u;
  uint32_t abs = bits & 0x7fffffffu;
  if (abs > 0x7f800000u) return uint16_t(sign | 0x7e00u);
  if (abs >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // rounds to >= 65520: Inf
  if (abs < 0x38800000u) {                                   // below 2^-14: subnormal or zero
    if (abs < 0x33000000u) return uint16_t(sign);            // below half the smallest subnormal
    uint32_t exp = abs >> 23;
    uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - exp;  // 14 + (127 - 1 - exp) - 13 ... value = mant * 2^(exp-150)
    uint32_t half = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1);
    uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1u))) ++half;
    return uint16_t(sign | half);
  }
  uint32_t rounded = abs + 0xfffu + ((abs >> 13) & 1u);
  return uint16_t(sign | ((rounded - 0x38000000u) >> 13));
}

}  // namespace mmb
