// Reading weight elements on the device: the element type of each WeightType and
// its conversion to f32, shared by every kernel that reads a DeviceMatrix.
#pragma once

#include "device_matrix.hpp"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace mmb::cuda {

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

// Calls body(T{}) with T the element type of `type` (float, __half, __nv_bfloat16).
template <typename Body>
inline void with_weight_type(WeightType type, Body&& body) {
  switch (type) {
    case WeightType::F32: body(float{}); break;
    case WeightType::F16: body(__half{}); break;
    case WeightType::BF16: body(__nv_bfloat16{}); break;
  }
}

}  // namespace mmb::cuda
