// The model's architecture as plain C++ values: what bundle.fbs's Config holds, what
// `mmb pack` builds from config.json, what the backends run. DESIGN.md section 5.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace mmb {

enum class NormKind : uint8_t { None = 0, RMS = 1, Layer = 2 };
enum class LayerKind : uint8_t { Mamba = 0, MoE = 1, MLP = 2, Parallel = 3, Mamba2 = 4, Attention = 5 };
// Mamba-1's optional RMS norms on dt (the dt_rank vector), B and C after x_proj:
// weightless (Falcon-Mamba) or each with its own weight (Jamba).
enum class InnerNorm : uint8_t { None = 0, RMS = 1, RMSWeighted = 2 };
enum class RouterAct : uint8_t { Softmax = 0, Sigmoid = 1, ReLU = 2 };
// ReLU2: relu(x)^2 (Nemotron-H's MLPs), not gated.
enum class ExpertAct : uint8_t { ReLU = 0, GELU = 1, GELUTanh = 2, SiLU = 3, SwiGLU = 4, GeGLU = 5, ReLU2 = 6 };

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
  // RMS norms of dt, B and C (x_proj's three parts) before they are used.
  InnerNorm dt_bc_norm = InnerNorm::None;
  float dt_bc_norm_eps = 1e-6f;
  bool split_in_proj() const { return x_proj_experts || z_proj_experts; }
};

// Mamba-2 (SSD; DESIGN.md section 5): heads of head_dim() channels with a scalar decay
// each, B and C shared by the n_heads / n_groups heads of a group, a gated RMSNorm
// before out_proj. in_proj's rows are [z: d_inner | xBC: conv_channels() | dt: n_heads].
struct Mamba2Config {
  uint32_t d_inner = 0;         // n_heads * head_dim
  uint32_t d_state = 128;       // N
  uint32_t d_conv = 4;
  uint32_t n_heads = 0;         // H
  uint32_t n_groups = 1;        // G: B and C are [G, N]; head h reads group h / (H / G)
  uint32_t norm_group_size = 0; // channels per group of the gated RMSNorm; 0: d_inner / n_groups
  bool gated_norm = true;       // rmsnorm(y * silu(z)) * weight; false: y * silu(z)
  float norm_eps = 1e-5f;
  bool in_proj_bias = false;
  bool conv_bias = true;
  bool out_proj_bias = false;
  bool d_per_channel = false;   // D is [d_inner] rather than one per head
  // softplus(dt + dt_bias) is clamped to [dt_min, dt_max] (time_step_limit).
  float dt_min = 0.0f;
  float dt_max = std::numeric_limits<float>::infinity();

  uint32_t head_dim() const { return n_heads ? d_inner / n_heads : 0; }
  uint32_t conv_channels() const { return d_inner + 2 * n_groups * d_state; }
  uint64_t in_proj_rows() const { return 2ull * d_inner + 2ull * n_groups * d_state + n_heads; }
  uint32_t norm_group() const { return norm_group_size ? norm_group_size : (n_groups ? d_inner / n_groups : 0); }
};

// Causal multi-head attention over every earlier token of the session (its KV cache;
// DESIGN.md section 5). Grouped-query: key/value head j serves query heads
// j g .. j g + g - 1, g = n_heads / n_kv_heads. RoPE (rotate-half convention) turns the
// first rotary_dim dimensions of each query and key head by position * theta^(-2i/rotary_dim).
struct AttentionConfig {
  uint32_t n_heads = 0;
  uint32_t n_kv_heads = 0;
  uint32_t head_dim = 0;
  uint32_t rotary_dim = 0;  // 0: no position encoding (Jamba, Nemotron-H, Granite's "nope")
  float rope_theta = 10000.0f;
  float scale = 0.0f;       // softmax scale; 0: 1 / sqrt(head_dim)
  bool qkv_bias = false;
  bool out_bias = false;

  uint32_t q_dim() const { return n_heads * head_dim; }
  uint32_t kv_dim() const { return n_kv_heads * head_dim; }
  float softmax_scale() const;
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
  // Group-limited selection (Nemotron-H, DeepSeek-V3): the experts form n_groups
  // contiguous groups, each scored by the sum of its two best selection keys; only the
  // topk_groups best groups stay eligible (the others' keys become 0).
  uint32_t n_groups = 1;
  uint32_t topk_groups = 1;
};

struct LayerConfig {
  LayerKind kind = LayerKind::Mamba;
  MambaConfig mamba;       // kind == Mamba or Parallel
  Mamba2Config mamba2;     // kind == Mamba2
  AttentionConfig attention;  // kind == Attention
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
  // Granite's multipliers: the residual starts as embed[token] * embedding_scale, each
  // layer adds residual_scale * its output, and the logits are divided by logits_divisor.
  float embedding_scale = 1.0f;
  float residual_scale = 1.0f;
  float logits_divisor = 1.0f;
  // The context the model was trained for: a session's default limit when it has
  // attention layers (0: kDefaultContext).
  uint32_t context_length = 0;
  static constexpr uint32_t kDefaultContext = 4096;
  uint32_t default_context() const { return context_length ? context_length : kDefaultContext; }
  bool has_attention() const;
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

// Floats of recurrent state per session: per Mamba part (Mamba and Parallel layers)
// d_inner * (d_state + d_conv - 1); per Mamba-2 layer d_inner * d_state (the heads'
// states) + conv_channels * (d_conv - 1).
uint64_t state_floats(const ModelConfig& config);

// Key and value elements one token adds to a session's KV cache: 2 n_kv_heads head_dim
// per attention layer (0 for a model without attention).
uint64_t kv_elements_per_token(const ModelConfig& config);

}  // namespace mmb
