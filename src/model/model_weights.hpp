// Typed views of a model's tensors, bound once at load: what the compute kernels
// read. Views point into the loaded bundle (mapped file or decoded buffers).
#pragma once

#include "base/dtype.hpp"
#include "model/model_config.hpp"

#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <vector>

namespace mmb {

// A row-major matrix [rows, cols] (or a vector when cols == 1) of any weight dtype.
// For q8, data holds the int8 values and scales the f16 scales, q8_groups(cols) per
// row (the tensor's own scale block: rows may be fewer than the tensor's); q4 likewise,
// data holding the codes, q4_row_bytes(cols) per row.
struct Matrix {
  const std::byte* data = nullptr;
  DType dtype = DType::F32;
  uint64_t rows = 0;
  uint64_t cols = 0;
  const std::byte* scales = nullptr;
  explicit operator bool() const { return data != nullptr; }
  // What the rows in use take (as tensor_bytes; padding of a quantized tensor left out).
  uint64_t bytes() const {
    if (dtype == DType::Q8) return rows * cols + 2 * rows * q8_groups(cols);
    if (dtype == DType::Q4) return rows * q4_row_bytes(cols) + 2 * rows * q4_groups(cols);
    const uint64_t shape[2] = {rows, cols};
    return *tensor_bytes(dtype, shape);
  }
};

struct NormWeights {
  NormKind kind = NormKind::None;
  Matrix weight;  // [d]
  Matrix bias;    // [d], LayerNorm only
};

struct LinearWeights {
  Matrix weight;  // [out, in]
  Matrix bias;    // [out] or empty
};

struct FeedForwardWeights {
  LinearWeights w1, w2, w3;  // w3 only for gated kinds
};

// A projection [out, in]: plain, or routed over linear experts (router set).
struct ProjectionWeights {
  LinearWeights plain;                // when not routed
  LinearWeights router;               // [n_experts, in] when routed
  Matrix sel_bias;                    // [n_experts] or empty
  std::vector<LinearWeights> experts; // each [out, in]
};

struct MambaWeights {
  LinearWeights in_proj;   // [2 d_inner, d_model], when in_proj is not split
  ProjectionWeights x_in;  // [d_inner, d_model] each, when split
  ProjectionWeights z_in;
  Matrix conv_weight;      // [d_inner, d_conv] (the [d_inner, 1, d_conv] tensor)
  Matrix conv_bias;        // [d_inner] or empty
  Matrix x_proj;           // [dt_rank + 2 d_state, d_inner]
  LinearWeights dt_proj;   // [d_inner, dt_rank] + bias
  Matrix A_log;            // [d_inner, d_state]
  Matrix D;                // [d_inner]
  ProjectionWeights out_proj;  // [d_model, d_inner]
  Matrix dt_norm, b_norm, c_norm;  // [dt_rank], [d_state], [d_state]: InnerNorm::RMSWeighted only
};

struct Mamba2Weights {
  LinearWeights in_proj;   // [2 d_inner + 2 G N + H, d_model]
  Matrix conv_weight;      // [conv_channels, d_conv]
  Matrix conv_bias;        // [conv_channels] or empty
  Matrix dt_bias;          // [H]
  Matrix D;                // [H] or [d_inner]
  Matrix norm;             // [d_inner], gated_norm only
  LinearWeights out_proj;  // [d_model, d_inner]
};

struct AttentionWeights {
  LinearWeights q, k, v;  // [n_heads head_dim, d_model], [n_kv_heads head_dim, d_model] twice
  LinearWeights o;        // [d_model, n_heads head_dim]
};

struct MoEWeights {
  LinearWeights router;    // [n_experts, d_model]
  Matrix sel_bias;         // [n_experts] or empty
  std::vector<FeedForwardWeights> experts;
  std::vector<FeedForwardWeights> shared;
};

struct LayerWeights {
  NormWeights norm;
  NormWeights norm_moe;  // Parallel without shared_norm
  MambaWeights mamba;
  Mamba2Weights mamba2;
  AttentionWeights attention;
  MoEWeights moe;
  FeedForwardWeights mlp;
  // Offset of this layer's recurrent state in a session's state (floats); Mamba and
  // Mamba-2 layers only. Mamba-2: the conv windows [conv_channels][d_conv - 1], then the
  // heads' states [H][head_dim][d_state].
  uint64_t state_offset = 0;
  // Attention layers: this layer's index among the model's attention layers (its slot
  // in a session's KV cache).
  uint32_t kv_slot = 0;
};

struct ModelWeights {
  // A lives in `memory` (the runtime's allocator hooks): it grows with the model.
  explicit ModelWeights(std::pmr::memory_resource* memory = std::pmr::get_default_resource()) : A(memory) {}

  Matrix embed;            // [rows >= vocab, d_model]
  std::vector<LayerWeights> layers;
  NormWeights norm_f;
  Matrix head;             // [vocab, d_model]: lm_head or the embedding (first vocab rows)
  // A_log turned into A = -exp(A_log) once at load, f32, per layer with a Mamba part
  // ([d_inner][d_state]) or a Mamba-2 layer ([H]); else empty.
  std::pmr::vector<std::pmr::vector<float>> A;
};

}  // namespace mmb
