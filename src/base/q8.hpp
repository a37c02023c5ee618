// q8 tensors (layout in dtype.hpp): quantizing f32 rows into that layout and reading
// values back. Symmetric, per group of kQ8Group values: scale = max|x| / 127, rounded
// up to the next f16 so that no value needs clamping, q = round(x / scale) (halves away
// from zero), so |x - q * scale| <= scale / 2 for every value. A group of zeros has
// scale 0.
#pragma once

#include "base/dtype.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>

namespace mmb {

// The largest |x| q8 can hold: 127 times the largest finite f16.
inline constexpr float kQ8MaxMagnitude = 127.0f * 65504.0f;

// Writes the q8 bytes of the [rows, cols] f32 values (row-major) into out, which holds
// tensor_bytes(Q8, {rows, cols}) bytes (padding included). Returns the index of the
// first value it cannot represent (NaN, Inf, or |x| above kQ8MaxMagnitude), having
// written nothing meaningful; nullopt on success.
std::optional<uint64_t> quantize_q8(const float* values, uint64_t rows, uint64_t cols, std::byte* out);

// The f16 bits of the scale of one group of n values (n <= kQ8Group), all finite and
// at most kQ8MaxMagnitude in magnitude.
uint16_t q8_group_scale(const float* group, size_t n);

// Scale g of a row whose scales start at `scales` (f16, little-endian; the block is
// 2-byte aligned in a loaded bundle, but this reads it from any address).
inline float q8_scale(const std::byte* scales, uint64_t g) {
  uint16_t h;
  std::memcpy(&h, scales + 2 * g, 2);
  return f16_to_f32(h);
}

// Row r of a q8 tensor [rows, cols] at `tensor`, as f32, into out[0..cols).
void dequantize_q8_row(const std::byte* tensor, uint64_t rows, uint64_t cols, uint64_t r, float* out);

}  // namespace mmb
