#include "base/tensor_values.hpp"

#include "base/error.hpp"
#include "base/q4.hpp"
#include "base/q8.hpp"

namespace mmb {

namespace {

uint64_t count(std::span<const uint64_t> shape) {
  uint64_t n = 1;
  for (uint64_t d : shape) n *= d;
  return n;
}

uint64_t checked_bytes(DType dtype, std::span<const uint64_t> shape) {
  if (dtype_quantized(dtype) && shape.size() != 2)
    fail(MMB_ERR_INVALID_ARGUMENT, dtype_name(dtype), " needs a 2-D shape, not rank ", shape.size());
  const std::optional<uint64_t> bytes = tensor_bytes(dtype, shape);
  if (!bytes) fail(MMB_ERR_INVALID_ARGUMENT, "the shape's size in ", dtype_name(dtype), " does not fit in 64 bits");
  return *bytes;
}

}  // namespace

std::vector<std::byte> encode_values(std::span<const float> values, DType dtype, std::span<const uint64_t> shape) {
  const uint64_t bytes = checked_bytes(dtype, shape);
  if (values.size() != count(shape))
    fail(MMB_ERR_INVALID_ARGUMENT, values.size(), " values for a shape of ", count(shape), " elements");
  std::vector<std::byte> out(bytes);
  switch (dtype) {
    case DType::F32:
      if (!out.empty()) std::memcpy(out.data(), values.data(), out.size());  // no values: maybe no pointer
      break;
    case DType::F16:
    case DType::BF16:
      for (size_t i = 0; i < values.size(); ++i) {
        const uint16_t h = dtype == DType::F16 ? f32_to_f16(values[i]) : f32_to_bf16(values[i]);
        std::memcpy(&out[2 * i], &h, 2);
      }
      break;
    case DType::Q8:
      if (const std::optional<uint64_t> bad = quantize_q8(values.data(), shape[0], shape[1], out.data()))
        fail(MMB_ERR_INVALID_ARGUMENT, "value ", values[*bad], " at index ", *bad, " cannot be stored as q8 (it takes finite ",
             "values of magnitude up to ", kQ8MaxMagnitude, ")");
      break;
    case DType::Q4:
      if (const std::optional<uint64_t> bad = quantize_q4(values.data(), shape[0], shape[1], out.data()))
        fail(MMB_ERR_INVALID_ARGUMENT, "value ", values[*bad], " at index ", *bad, " cannot be stored as q4 (it takes finite ",
             "values of magnitude up to ", kQ4MaxMagnitude, ")");
      break;
  }
  return out;
}

std::vector<float> decode_values(std::span<const std::byte> bytes, DType dtype, std::span<const uint64_t> shape) {
  if (bytes.size() != checked_bytes(dtype, shape))
    fail(MMB_ERR_INVALID_ARGUMENT, bytes.size(), " bytes where ", dtype_name(dtype), " of ", count(shape),
         " elements takes ", checked_bytes(dtype, shape));
  std::vector<float> out(count(shape));
  switch (dtype) {
    case DType::F32:
      if (!out.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
      break;
    case DType::F16:
    case DType::BF16:
      for (size_t i = 0; i < out.size(); ++i) {
        uint16_t h;
        std::memcpy(&h, &bytes[2 * i], 2);
        out[i] = dtype == DType::F16 ? f16_to_f32(h) : bf16_to_f32(h);
      }
      break;
    case DType::Q8:
      for (uint64_t r = 0; r < shape[0]; ++r) dequantize_q8_row(bytes.data(), shape[0], shape[1], r, out.data() + r * shape[1]);
      break;
    case DType::Q4:
      for (uint64_t r = 0; r < shape[0]; ++r) dequantize_q4_row(bytes.data(), shape[0], shape[1], r, out.data() + r * shape[1]);
      break;
  }
  return out;
}

}  // namespace mmb
