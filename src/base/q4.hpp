// q4 tensors (layout in dtype.hpp): quantizing f32 rows into that layout and reading
// values back. Symmetric, per group of kQ4Group values, using all 16 codes: with m the
// group's value of largest magnitude (the first such), scale = m / -8 rounded to the
// nearest f16, or the next one up in magnitude where the nearest is smaller than |m| / 8
// (negative when m is positive), q = round(x / scale) (halves away from
// zero) clamped to -8..7, stored as the code q + 8. m itself gets q = -8; a value of
// the other sign near |m| is clamped to 7, so the error is at most |scale| / 2 but for
// those, at most |scale|. On Gaussian groups this is 11% less RMS error than a scale of
// max|x| / 7 with codes -7..7 (docs/packing.md). A group of zeros has scale 0.
#pragma once

#include "base/dtype.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>

namespace mmb {

// The largest |x| q4 can hold: 8 times the largest finite f16.
inline constexpr float kQ4MaxMagnitude = 8.0f * 65504.0f;

// Writes the q4 bytes of the [rows, cols] f32 values (row-major) into out, which holds
// tensor_bytes(Q4, {rows, cols}) bytes (padding included). Returns the index of the
// first value it cannot represent (NaN, Inf, or |x| above kQ4MaxMagnitude), having
// written nothing meaningful; nullopt on success.
std::optional<uint64_t> quantize_q4(const float* values, uint64_t rows, uint64_t cols, std::byte* out);

// The f16 bits of the scale of one group of n values (n <= kQ4Group), all finite and
// at most kQ4MaxMagnitude in magnitude.
uint16_t q4_group_scale(const float* group, size_t n);

// The code of value i (i < kQ4Group) of the group whose bytes start at `group`.
inline int q4_code(const std::byte* group, uint64_t i) {
  const uint8_t b = uint8_t(group[i % kQ4GroupBytes]);
  return i < kQ4GroupBytes ? b & 0x0f : b >> 4;
}

// Row r of a q4 tensor [rows, cols] at `tensor`, as f32, into out[0..cols).
void dequantize_q4_row(const std::byte* tensor, uint64_t rows, uint64_t cols, uint64_t r, float* out);

}  // namespace mmb
