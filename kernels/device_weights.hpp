// The model's weights on the device, bound per layer like ModelWeights: big matrices
// keep their dtype (q8 and q4 widened to f16), vectors become f32, and each expert set
// carries device arrays of its experts' pointers for the grouped kernels.
#pragma once

#include "device_buffer.hpp"
#include "device_matrix.hpp"
#include "norm.cuh"

#include "model/model_config.hpp"
#include "model/model_weights.hpp"

#include <vector>

namespace mmb::cuda {

struct DeviceLinear {
  DeviceMatrix weight;
  const float* bias = nullptr;
};

struct DeviceNorm {
  NormType type = NormType::None;
  const float* weight = nullptr;
  const float* bias = nullptr;
};

// One linear per expert, all of one shape and type, for linear_rows_grouped.
struct DeviceExpertSet {
  DeviceMatrix shape;                  // the first expert's (every expert's shape and type)
  const void* const* weights = nullptr;  // device array [n]
  const float* const* biases = nullptr;  // device array [n] or null
  int n = 0;
};

struct DeviceFeedForward {
  DeviceLinear w1, w2, w3;
};

struct DeviceProjection {
  DeviceLinear plain;
  DeviceLinear router;
  const float* sel_bias = nullptr;
  DeviceExpertSet experts;
};

struct DeviceMamba {
  DeviceLinear in_proj;
  DeviceProjection x_in, z_in, out_proj;
  const float* conv_weight = nullptr;
  const float* conv_bias = nullptr;
  DeviceMatrix x_proj;
  DeviceLinear dt_proj;
  const float* A = nullptr;
  const float* D = nullptr;
};

struct DeviceMoE {
  DeviceLinear router;
  const float* sel_bias = nullptr;
  DeviceExpertSet w1, w2, w3;
  std::vector<DeviceFeedForward> shared;
};

struct DeviceLayer {
  DeviceNorm norm, norm_moe;
  DeviceMamba mamba;
  DeviceMoE moe;
  DeviceFeedForward mlp;
  size_t state_offset = 0;
};

struct DeviceWeights {
  DeviceMatrix embed;
  std::vector<DeviceLayer> layers;
  DeviceNorm norm_f;
  DeviceMatrix head;
  bool any_16bit = false;  // some matrix is f16 or bf16 (cuBLAS then splits its input)
  bool any_rounded_input = false;  // some matrix was q8 or q4
  std::vector<DeviceBuffer> buffers;  // everything above points into these
};

// Copies every weight of the model to the device (synchronous). Throws PluginError.
void upload_weights(MemoryCounter* counter, const ModelConfig& config, const ModelWeights& weights,
                    DeviceWeights& out);

// The f16 values of a q8 or q4 matrix: each element's value, rounded to f16 (what the
// device uses for a quantized weight; tests compare against it).
std::vector<uint16_t> widen_quantized_to_f16(const Matrix& m);

}  // namespace mmb::cuda
