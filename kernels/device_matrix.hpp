// A weight matrix as the kernels see it: row-major [rows, cols] of f32, f16 or bf16
// (q8 and q4 were widened to f16 on upload). Vectors (norm weights, biases, conv kernels, D,
// A) are always f32 on the device. Plain C++: host code includes it too.
#pragma once

#include <cstdint>

namespace mmb::cuda {

enum class WeightType : uint8_t { F32 = 0, F16 = 1, BF16 = 2 };

struct DeviceMatrix {
  const void* data = nullptr;
  WeightType type = WeightType::F32;
  uint32_t rows = 0;
  uint32_t cols = 0;
  bool rounds_input = false;  // stored as q8 or q4: its input is rounded first (input_rounding.cuh)
  explicit operator bool() const { return data != nullptr; }
};

}  // namespace mmb::cuda
