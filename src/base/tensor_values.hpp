// A tensor's values as f32 and as the bytes a bundle stores, for every dtype: what
// the writing side (mmb pack, synth, bench, the tests) converts with. The compute
// kernels read stored bytes directly (src/backend/cpu).
#pragma once

#include "base/dtype.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace mmb {

// The stored bytes of `values` (product(shape) of them, row-major) in `dtype`: f16 and
// bf16 round to nearest even; q8 and q4 quantize (q8.hpp, q4.hpp) and need a 2-D shape. Throws
// mmb::Error(MMB_ERR_INVALID_ARGUMENT) when the count disagrees with the shape, for q8
// with another rank, and when q8 cannot hold a value (NaN, Inf, or beyond
// kQ8MaxMagnitude): the message gives the value and its index; callers add the name.
std::vector<std::byte> encode_values(std::span<const float> values, DType dtype, std::span<const uint64_t> shape);

// The values of stored bytes (tensor_bytes(dtype, shape) of them) as f32. Throws
// mmb::Error(MMB_ERR_INVALID_ARGUMENT) when the size disagrees with the shape.
std::vector<float> decode_values(std::span<const std::byte> bytes, DType dtype, std::span<const uint64_t> shape);

}  // namespace mmb
