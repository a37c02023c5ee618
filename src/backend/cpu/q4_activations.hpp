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

// Groups go in pairs, laid out as a pair of q4 code groups unpacks (16 bytes of low
// nibbles per group, then 16 of high ones): per pair, the values of group g's columns
// 0-15, group g + 1's 0-15, g's 16-31, g + 1's 16-31. A short last group is padded
// with zeros, as is a last pair's missing group.
inline constexpr size_t kQ4PairBytes = 2 * kQ4Group;
// Lanes per group of the kernels' integer sums: each pair's offsets come as 8 int32.
inline constexpr size_t kQ4LanesPerGroup = 4;
// Scales are padded with zeros to a multiple of this many groups (a run the kernels
// convert at once).
inline constexpr size_t kQ4ScaleRun = 8;

// One or more quantized vectors, vector v's parts at q_of(v), scale_of(v), offset_of(v).
struct Q4Activations {
  size_t groups = 0, pairs = 0, padded_groups = 0;
  int8_t* q = nullptr;         // pairs * kQ4PairBytes per vector
  float* scale = nullptr;      // d per group, padded_groups per vector (zeros past groups)
  int32_t* offset = nullptr;   // per pair: -(kQ4Zero / 4) * sum of q, group g's in lanes 0-3, g + 1's in 4-7
  const int8_t* q_of(size_t v) const { return q + v * pairs * kQ4PairBytes; }
  const float* scale_of(size_t v) const { return scale + v * padded_groups; }
  const int32_t* offset_of(size_t v) const { return offset + v * pairs * 2 * kQ4LanesPerGroup; }
};

// Bytes one quantized vector of `cols` columns takes in a buffer.
constexpr size_t q4_activation_bytes(size_t cols) {
  const size_t groups = q4_groups(cols), pairs = (groups + 1) / 2;
  const size_t padded = (groups + kQ4ScaleRun - 1) / kQ4ScaleRun * kQ4ScaleRun;
  return pairs * (kQ4PairBytes + 2 * kQ4LanesPerGroup * sizeof(int32_t)) + padded * sizeof(float);
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

// Group g's values, in column order (q, 32 values), into a pair block of vector v.
void store_q4_group(const Q4Activations& a, size_t v, size_t g, const int8_t* q, int32_t sum);

}  // namespace mmb::cpu
