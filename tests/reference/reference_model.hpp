// The test oracle: DESIGN.md section 5 written out naively in float64, one token at a
// time, straight from the text. It shares nothing with src/ except the plain config
// structs, so a mistake in the library's kernels cannot hide in here too.
//
// Choices the design text leaves open, made here and checked by the tests:
//   - Top-k selection orders experts by p + sel_bias, highest first; equal scores go
//     to the lower expert index.
//   - Renormalized gates: divided by their sum when that sum is positive; when every
//     selected p is zero (possible with a ReLU router) the gates stay zero.
//   - normalize_expert_output applies to routed experts only (it is defined as a step
//     "before gating", and shared experts are not gated); its eps is the model's norm_eps.
//   - A block norm of kind None is the identity.
//   - Routed projections (projections as experts) route exactly as MoE layers do, over
//     the projection's own input; both parts of a parallel layer read the block input.
//   - Mamba-2: dt is clamped to [dt_min, dt_max] after softplus (mamba_ssm's
//     time_step_limit); the gated norm's groups are consecutive channels.
//   - Group-limited selection: equal group scores go to the lower group index, as equal
//     expert keys go to the lower expert.
//   - Attention: a token's position is the number of tokens stepped before it since the
//     last reset; RoPE's inverse frequencies and angles are computed in float64.
#pragma once

#include "model/model_config.hpp"

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mmb::reference {

// Values of one tensor by its native name (DESIGN.md section 5), row-major. Must throw
// for a name it does not have: the reference asks only for what the config implies.
// Called only while the ReferenceModel is being constructed.
using TensorValues = std::function<std::vector<double>(const std::string& name)>;

// Whether the weight matrix of this name (e.g. "layers.0.mamba.in_proj.weight") is
// stored as q8 or q4: the library multiplies such a matrix by its input quantized to
// int8 per group of 32 (docs/bundle-format.md, "What a q8 or q4 product computes"), and
// the reference rounds the input the same way (written here from that text) before its
// float64 product.
using QuantizedWeights = std::function<bool(const std::string& name)>;

// x as the library's q8 and q4 products see it (docs/bundle-format.md): per
// group of 32 values (the last may be shorter), taken as f32, m = the largest |x|,
// d = m / 127 in f32, each x replaced by d times round(x / d) (halves to even) clamped
// to -127..127; d = 0 leaves zeros, a non-finite value makes the group NaN.
std::vector<double> quantized_input(const std::vector<double>& x);

class ReferenceModel {
 public:
  ReferenceModel(const ModelConfig& config, const TensorValues& values, const QuantizedWeights& quantized_weights = {});

  // Feeds one token; returns the vocab_size logits after it.
  std::vector<double> step(int token);
  // Back to the empty state (position 0, no keys or values).
  void reset();
  // Tokens stepped since the last reset.
  size_t position() const { return position_; }

  // The selective-scan state of layer `layer` (a Mamba, Parallel or Mamba-2 layer), as
  // [d_inner][d_state]: channel c = h * head_dim + p for Mamba-2. For tests that check
  // the state itself.
  const std::vector<double>& ssm_state(size_t layer) const;

  // The smallest gap seen so far, over every MoE selection, between the score of the
  // last expert chosen and the experts left out, counting only gaps where either
  // expert's p is non-zero (otherwise the choice cannot change the output), and, with
  // group-limited selection, between the score of the last group kept and the groups
  // left out. A tiny gap means a float32 implementation may rightly choose differently;
  // tests check it.
  // Exact ties are not counted: the tie rule settles them, and the tests build them
  // only from router rows of zeros, which tie exactly in float32 as well.
  double min_selection_margin() const { return min_selection_margin_; }

 private:
  struct Linear {
    std::vector<double> w;  // rows x cols
    std::vector<double> b;  // rows, or empty
    size_t rows = 0, cols = 0;
    bool quantized = false; // stored as q8 or q4: the input is quantized first
  };
  struct Norm {
    NormKind kind = NormKind::None;
    std::vector<double> weight, bias;
  };
  struct FeedForward {
    ExpertAct act = ExpertAct::ReLU;
    Linear w1, w2, w3;  // w3 only for SwiGLU / GeGLU
  };
  // Router options and weights, shared by MoE layers and routed projections.
  struct Router {
    uint32_t n_experts = 0, top_k = 1;
    RouterAct act = RouterAct::Softmax;
    bool renorm = false;
    double routed_scale = 1.0;
    Linear linear;                 // [n_experts, in]
    std::vector<double> sel_bias;  // empty when absent
    uint32_t n_groups = 1, topk_groups = 1;  // group-limited selection (MoE layers only)
  };
  // A projection: plain, or a routed mixture of linear experts.
  struct Projection {
    bool routed = false;
    Linear plain;
    Router router;
    std::vector<Linear> experts;
  };
  struct MambaLayer {
    MambaConfig cfg;
    // in_proj when it is whole; x_in and z_in (its halves) when it is split.
    Projection in_proj, x_in, z_in, out_proj;
    Linear x_proj, dt_proj;
    std::vector<double> conv_w, conv_b;  // [d_inner][d_conv]; conv_b may be empty
    std::vector<double> A_log, D;
    // dt_bc_norm == RMSWeighted: the weights of the norms of dt, B and C.
    std::vector<double> dt_norm, b_norm, c_norm;  // [dt_rank], [d_state], [d_state]
    // State: the last d_conv inputs of the conv per channel, oldest first, and s.
    std::vector<double> conv_window;  // [d_inner][d_conv]
    std::vector<double> s;            // [d_inner][d_state]
  };
  struct Mamba2Layer {
    Mamba2Config cfg;
    Linear in_proj, out_proj;
    std::vector<double> conv_w, conv_b;  // [conv_channels][d_conv]; conv_b may be empty
    std::vector<double> dt_bias, A_log;  // [n_heads]
    std::vector<double> D;               // [n_heads], or [d_inner] when d_per_channel
    std::vector<double> norm;            // [d_inner]; empty without gated_norm
    // State: the last d_conv inputs of the conv per channel (of xBC), oldest first, and s.
    std::vector<double> conv_window;  // [conv_channels][d_conv]
    std::vector<double> s;            // [n_heads][head_dim][d_state]
  };
  struct AttentionLayer {
    AttentionConfig cfg;
    Linear q, k, v, o;
    // State: the keys (after RoPE) and values of every token stepped so far, each
    // [n_kv_heads][head_dim].
    std::vector<std::vector<double>> keys, values;
  };
  struct MoELayer {
    MoEConfig cfg;
    Router router;
    std::vector<FeedForward> experts, shared;
  };
  struct Layer {
    LayerKind kind = LayerKind::Mamba;
    Norm norm;
    Norm norm_moe;  // Parallel: the MoE part's norm (a copy of norm when shared)
    MambaLayer mamba;
    Mamba2Layer mamba2;
    AttentionLayer attention;
    MoELayer moe;
    FeedForward mlp;
  };

  Linear load_linear(const TensorValues& values, const std::string& prefix, bool bias, size_t rows, size_t cols) const;
  Norm load_norm(const TensorValues& values, NormKind kind, const std::string& prefix) const;
  Projection load_projection(const TensorValues& values, const std::string& prefix,
                             const std::optional<ProjectionExperts>& experts, bool plain_bias, size_t rows,
                             size_t cols) const;
  FeedForward load_feed_forward(const TensorValues& values, const std::string& prefix, const FeedForwardConfig& ff) const;

  std::vector<double> apply(const Linear& l, const std::vector<double>& x) const;
  std::vector<double> apply(const Norm& n, const std::vector<double>& x) const;
  std::vector<double> feed_forward(const FeedForward& f, const std::vector<double>& h) const;
  // The selected experts and their gates.
  std::vector<std::pair<size_t, double>> route(const Router& r, const std::vector<double>& h);
  std::vector<double> apply(const Projection& p, const std::vector<double>& x);
  std::vector<double> mamba(MambaLayer& m, const std::vector<double>& h);
  std::vector<double> mamba2(Mamba2Layer& m, const std::vector<double>& h);
  std::vector<double> attention(AttentionLayer& a, const std::vector<double>& h);
  std::vector<double> moe(const MoELayer& m, const std::vector<double>& h);

  ModelConfig config_;
  QuantizedWeights quantized_weights_;
  std::vector<double> embed_;  // rows >= vocab_size, d_model columns
  std::vector<double> head_;   // first vocab_size rows of lm_head or embed
  bool head_quantized_ = false;
  Norm final_norm_;
  std::vector<Layer> layers_;
  size_t position_ = 0;
  double min_selection_margin_;
};

}  // namespace mmb::reference
