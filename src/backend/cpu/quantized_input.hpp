// The vectors q8 and q4 matrices multiply, quantized to int8 per group of 32 columns
// (the weights' group), so that a product is an integer dot product per group
// (docs/bundle-format.md, "What a q8 or q4 product computes"): with m the group's
// largest |x|, d = m / 127 (f32) and q = round(x / d) (halves to even), clamped to
// -127..127; a group of zeros (or of values so small that d is 0) has d = 0 and q = 0;
// a group holding NaN or an infinity has d = NaN, so the products it enters are NaN as
// they would be in f32. Every kernel path quantizes to the same bits.
#pragma once

#include "base/dtype.hpp"

#include <cstddef>
#include <cstdint>

namespace mmb::cpu {

inline constexpr size_t kInputGroup = 32;
static_assert(kInputGroup == kQ8Group && kInputGroup == kQ4Group, "the weights' groups");

// Groups go in blocks of four, laid out as q4 code groups unpack (16 bytes of low
// nibbles per group, then 16 of high ones): per block, the values of groups g .. g + 3's
// columns 0-15, then their columns 16-31, so a kernel taking 2 groups at a time
// reads 32 + 32 bytes and one taking 4 reads 64 + 64 (q8 kernels permute their codes
// to match). A short last group is padded with zeros, as are a last block's missing
// groups.
inline constexpr size_t kInputBlockGroups = 4;
inline constexpr size_t kInputBlockBytes = kInputBlockGroups * kInputGroup;
// Lanes per group of the kernels' integer sums: each block's offsets come as 16 int32.
inline constexpr size_t kInputLanesPerGroup = 4;
inline constexpr size_t kInputBlockOffsets = kInputBlockGroups * kInputLanesPerGroup;
// Scales are padded with zeros to a multiple of this many groups (a run the kernels
// convert at once).
inline constexpr size_t kInputScaleRun = 8;
// The offsets' zero for q8 (its bytes made unsigned) and q4 (its nibbles).
inline constexpr int32_t kQ8InputZero = 128;
constexpr int32_t input_zero(DType t) { return t == DType::Q4 ? kQ4Zero : kQ8InputZero; }

// One or more quantized vectors of `groups` groups each.
struct QuantizedInput {
  size_t vectors = 0, groups = 0, blocks = 0, padded_groups = 0;
  int8_t* q = nullptr;         // blocks * kInputBlockBytes per vector
  float* scale = nullptr;      // d per group, padded_groups per vector (zeros past groups)
  // Per group and lane, -zero times the sum of q over the lane's columns (lane l: the
  // columns 4l .. 4l + 3 and 16 + 4l .. 16 + 4l + 3, as the x86 kernels sum them): a
  // kernel that multiplies q by codes stored as value + zero (q4's nibbles, q8's bytes
  // made unsigned) starts its sums from these, and its lanes then hold the same
  // integers as a kernel that multiplies the values themselves.
  int32_t* offset = nullptr;
  float* scale_of(size_t v) const { return scale + v * padded_groups; }
  // Where group g's columns 0-15 (low) and 16-31 (high) and its offsets start.
  int8_t* low_of(size_t v, size_t g) const {
    return q + (v * blocks + g / kInputBlockGroups) * kInputBlockBytes + g % kInputBlockGroups * 16;
  }
  int8_t* high_of(size_t v, size_t g) const { return low_of(v, g) + kInputBlockBytes / 2; }
  int32_t* offsets_of(size_t v, size_t g) const {
    return offset + (v * blocks * kInputBlockGroups + g) * kInputLanesPerGroup;
  }
};

// Bytes one quantized vector of `cols` columns takes in a buffer.
constexpr size_t quantized_input_bytes(size_t cols) {
  const size_t groups = (cols + kInputGroup - 1) / kInputGroup;
  const size_t blocks = (groups + kInputBlockGroups - 1) / kInputBlockGroups;
  const size_t padded = (groups + kInputScaleRun - 1) / kInputScaleRun * kInputScaleRun;
  return blocks * (kInputBlockBytes + kInputBlockOffsets * sizeof(int32_t)) + padded * sizeof(float);
}


// The buffer on the stack that quantized vectors go into, where they fit: 32 KiB, e.g.
// 26 vectors of 768 columns, or one of up to about 21,000.
inline constexpr size_t kQuantizedInputStackBytes = 32 * 1024;

// Lays out room for n vectors of `cols` columns in `buffer` (at least n *
// quantized_input_bytes(cols) bytes, 4-byte aligned), the padding zeroed.
QuantizedInput quantized_input_layout(size_t n, size_t cols, void* buffer);

// Quantizes one group of n <= kInputGroup values into q[0..kInputGroup) (zeros past n)
// as above; returns d.
float quantize_input_group(const float* x, size_t n, int8_t* q);

// Group g's values, in column order (q, 32 values), and its offsets for codes stored
// as value + zero, into vector v.
void store_input_group(const QuantizedInput& a, size_t v, size_t g, const int8_t* q, int32_t zero);

}  // namespace mmb::cpu
