// The model's architecture as plain C++ values: what bundle.fbs's Config holds, what
// `mmb pack` builds from config.json, what the backends run. DESIGN.md section 5.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mmb {

enum class NormKind : uint8_t { None = 0, RMS = 1, Layer = 2 };
enum class LayerKind : uint8_t { Mamba = 0, MoE = 1, MLP = 2, Parallel = 3 };
enum class RouterAct : uint8_t { Softmax = 0, Sigmoid = 1, ReLU = 2 };
enum class ExpertAct : uint8_t { ReLU = 0, GELU = 1, GELUTanh = 2, SiLU = 3, SwiGLU = 4, GeGLU = 5 };

// A projection made a routed mixture of linear experts (MoE-Mamba's projections as
// experts): out = sum over the top_k selected j of gate_j (W_j x + b_j), each W_j of
// the plain projection's shape, gates computed as in an MoE layer.
struct ProjectionExperts {
  uint32_t n_experts = 0;
  uint32_t top_k = 1;
  RouterAct router = RouterAct::Softmax;
  bool router_bias = false;
  bool sel_bias = false;
  bool renorm = false;
  float routed_scale = 1.0f;
  bool bias = false;  // each expert has b_j
};

struct MambaConfig {
  uint32_t d_inner = 0;
  uint32_t d_state = 16;
  uint32_t d_conv = 4;
  uint32_t dt_rank = 0;
  bool in_proj_bias = false;
  bool conv_bias = true;
  bool out_proj_bias = false;
  // Set: that projection is routed. x/z are the halves of in_proj (rows [0, d_inner)
  // and [d_inner, 2 d_inner)); when either is routed, in_proj is stored split.
  std::optional<ProjectionExperts> x_proj_experts, z_proj_experts, out_proj_experts;
  bool split_in_proj() const { return x_proj_experts || z_proj_experts; }
};

// One feed-forward expert: w2 act(w1 h + b1) + b2, or the gated forms with w3.
struct FeedForwardConfig {
  uint32_t d_ff = 0;
  ExpertAct act = ExpertAct::ReLU;
  bool bias = false;
  bool gated() const { return act == ExpertAct::SwiGLU || act == ExpertAct::GeGLU; }
};

struct MoEConfig {
  uint32_t n_experts = 0;
  uint32_t top_k = 1;
  FeedForwardConfig expert;
  RouterAct router = RouterAct::Softmax;
  bool router_bias = false;
  bool sel_bias = false;
  bool renorm = false;
  float routed_scale = 1.0f;
  uint32_t n_shared = 0;
  FeedForwardConfig shared;
  bool normalize_expert_output = false;
};

struct LayerConfig {
  LayerKind kind = LayerKind::Mamba;
  MambaConfig mamba;       // kind == Mamba or Parallel
  MoEConfig moe;           // kind == MoE or Parallel
  FeedForwardConfig mlp;   // kind == MLP
  // Parallel: r = r + mamba(norm(r)) + moe(norm_moe(r)); shared_norm uses norm for both.
  bool shared_norm = false;
  bool has_mamba() const { return kind == LayerKind::Mamba || kind == LayerKind::Parallel; }
  bool has_moe() const { return kind == LayerKind::MoE || kind == LayerKind::Parallel; }
};

struct ModelConfig {
  uint32_t d_model = 0;
  uint32_t vocab_size = 0;
  NormKind norm = NormKind::RMS;
  NormKind final_norm = NormKind::RMS;
  float norm_eps = 1e-5f;
  bool tie_embeddings = true;
  std::vector<LayerConfig> layers;
};

// One tensor the config implies. Row counts of embed.weight and lm_head.weight may be
// padded beyond the vocabulary (mamba_ssm pads to a multiple of 8): for those,
// shape[0] is the minimum and min_rows is set. quantizable: a weight matrix the
// kernels read only by rows (linear projections, routers, experts, the embedding and
// the head), the only tensors that may be stored as q8; norms, biases, the conv
// kernel, A_log and D are read element by element and may not.
struct TensorSpec {
  std::string name;
  std::vector<uint64_t> shape;
  bool min_rows = false;
  bool quantizable = false;
};

// Throws mmb::Error(MMB_ERR_FORMAT) naming the field when a value is out of range
// (zero sizes, top_k > n_experts, sizes whose products overflow, unknown enums).
void validate_config(const ModelConfig& config);

// Every tensor the config requires, in a fixed order (embedding, layers in order,
// final norm, head). A bundle holds exactly these tensors.
std::vector<TensorSpec> tensor_specs(const ModelConfig& config);

// Parameters in total, and those one token uses (only top_k routed experts per MoE
// part and per routed projection).
uint64_t params_total(const ModelConfig& config);
uint64_t params_active(const ModelConfig& config);

// Floats of recurrent state per session: per Mamba part (Mamba and Parallel layers) d_inner * (d_state + d_conv - 1).
uint64_t state_floats(const ModelConfig& config);

}  // namespace mmb
