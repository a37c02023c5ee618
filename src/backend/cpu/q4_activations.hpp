// The vectors a q4 matrix multiplies, quantized to int8 per group of kQ4Group columns,
// so that a q4 product is an integer dot product per group (docs/bundle-format.md,
// "q4 tensors"): with m the group's largest |x|, d = m / 127 (f32) and q = round(x / d)
// (halves to even), clamped to -127..127; a group of zeros (or of values so small that
// d is 0) has d = 0 and q = 0; a group holding NaN or an infinity has d = NaN, so the
// products it enters are NaN as they would be in f32. Every kernel path quantizes to
// the same bits.
#pragma once

#include "base/dtype.hpp"

#include <cstddef>
#include <cstdint>

namespace mmb::cpu {

// Groups go in blocks of four, laid out as q4 code groups unpack (16 bytes of low
// nibbles per group, then 16 of high ones): per block, the values of groups g .. g + 3's
// columns 0-15, then their columns 16-31, so a kernel taking 2 groups at a time
// reads 32 + 32 bytes and one taking 4 reads 64 + 64. A short last group is padded
// with zeros, as are a last block's missing groups.
inline constexpr size_t kQ4BlockGroups = 4;
inline constexpr size_t kQ4BlockBytes = kQ4BlockGroups * kQ4Group;
// Lanes per group of the kernels' integer sums: each block's offsets come as 16 int32.
inline constexpr size_t kQ4LanesPerGroup = 4;
inline constexpr size_t kQ4BlockOffsets = kQ4BlockGroups * kQ4LanesPerGroup;
// Scales are padded with zeros to a multiple of this many groups (a run the kernels
// convert at once).
inline constexpr size_t kQ4ScaleRun = 8;

// One or more quantized vectors of `groups` groups each.
struct Q4Activations {
  size_t groups = 0, blocks = 0, padded_groups = 0;
  int8_t* q = nullptr;         // blocks * kQ4BlockBytes per vector
  float* scale = nullptr;      // d per group, padded_groups per vector (zeros past groups)
  int32_t* offset = nullptr;   // per group, -(kQ4Zero / 4) * its sum of q, in 4 lanes
  float* scale_of(size_t v) const { return scale + v * padded_groups; }
  // Where group g's columns 0-15 (low) and 16-31 (high) and its offsets start.
  int8_t* low_of(size_t v, size_t g) const {
    return q + (v * blocks + g / kQ4BlockGroups) * kQ4BlockBytes + g % kQ4BlockGroups * 16;
  }
  int8_t* high_of(size_t v, size_t g) const { return low_of(v, g) + kQ4BlockBytes / 2; }
  int32_t* offsets_of(size_t v, size_t g) const { return offset + (v * blocks * kQ4BlockGroups + g) * kQ4LanesPerGroup; }
};

// Bytes one quantized vector of `cols` columns takes in a buffer.
constexpr size_t q4_activation_bytes(size_t cols) {
  const size_t groups = q4_groups(cols), blocks = (groups + kQ4BlockGroups - 1) / kQ4BlockGroups;
  const size_t padded = (groups + kQ4ScaleRun - 1) / kQ4ScaleRun * kQ4ScaleRun;
  return blocks * (kQ4BlockBytes + kQ4BlockOffsets * sizeof(int32_t)) + padded * sizeof(float);
}

// The buffer the kernels quantize into, on their stack: 32 KiB, a vector of up to about
// 21,000 columns (wider ones get a buffer of their own).
inline constexpr size_t kQ4ActivationStackBytes = 32 * 1024;

// Lays out room for n vectors of `cols` columns in `buffer` (at least n *
// q4_activation_bytes(cols) bytes, 4-byte aligned), the padding zeroed.
Q4Activations q4_activation_layout(size_t n, size_t cols, void* buffer);

// Quantizes one group of n <= kQ4Group values into q[0..kQ4Group) (zeros past n) as
// above, its sum of q into *sum; returns d.
float quantize_q4_group(const float* x, size_t n, int8_t* q, int32_t* sum);

// Group g's values, in column order (q, 32 values), and its offsets into vector v.
void store_q4_group(const Q4Activations& a, size_t v, size_t g, const int8_t* q, int32_t sum);

}  // namespace mmb::cpu
