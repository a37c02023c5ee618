#include "model/model_config.hpp"

#include "base/error.hpp"

#include <algorithm>
#include <cmath>

namespace mmb {

namespace {

// Bounds that keep every size product far from overflow and reject absurd shapes
// before any allocation is attempted.
constexpr uint32_t kMaxDModel = 1u << 16;
constexpr uint32_t kMaxVocab = 1u << 24;
constexpr uint32_t kMaxLayers = 4096;
constexpr uint32_t kMaxInner = 1u << 20;
constexpr uint32_t kMaxState = 1024;
constexpr uint32_t kMaxConv = 64;
constexpr uint32_t kMaxExperts = 4096;
constexpr uint32_t kMaxShared = 64;
constexpr uint32_t kMaxExpertGroups = 64;
constexpr uint32_t kMaxHeads = 4096;
constexpr uint32_t kMaxHeadDim = 1024;
constexpr uint32_t kMaxContext = 1u << 24;

void check_range(uint64_t value, uint64_t lo, uint64_t hi, const std::string& field) {
  if (value < lo || value > hi) fail(MMB_ERR_FORMAT, "config ", field, " = ", value, " is outside [", lo, ", ", hi, "]");
}

void check_ff(const FeedForwardConfig& ff, const std::string& where) {
  check_range(ff.d_ff, 1, kMaxInner * 4, where + ".d_ff");
  if (uint8_t(ff.act) > uint8_t(ExpertAct::ReLU2)) fail(MMB_ERR_FORMAT, "config ", where, ".act has unknown value ", int(ff.act));
}

void add_norm(std::vector<TensorSpec>& out, NormKind kind, const std::string& prefix, uint64_t d) {
  if (kind == NormKind::None) return;
  out.push_back({prefix + ".weight", {d}});
  if (kind == NormKind::Layer) out.push_back({prefix + ".bias", {d}});
}

void add_linear(std::vector<TensorSpec>& out, const std::string& prefix, uint64_t rows, uint64_t cols, bool bias) {
  out.push_back({prefix + ".weight", {rows, cols}, false, true});
  if (bias) out.push_back({prefix + ".bias", {rows}});
}

void add_feed_forward(std::vector<TensorSpec>& out, const std::string& prefix, const FeedForwardConfig& ff, uint64_t d_model) {
  add_linear(out, prefix + ".w1", ff.d_ff, d_model, ff.bias);
  add_linear(out, prefix + ".w2", d_model, ff.d_ff, ff.bias);
  if (ff.gated()) add_linear(out, prefix + ".w3", ff.d_ff, d_model, ff.bias);
}

uint64_t elements(const TensorSpec& t) {
  uint64_t n = 1;
  for (uint64_t d : t.shape) n *= d;
  return n;
}

uint64_t feed_forward_params(const FeedForwardConfig& ff, uint64_t d_model) {
  std::vector<TensorSpec> specs;
  add_feed_forward(specs, "", ff, d_model);
  uint64_t n = 0;
  for (const auto& s : specs) n += elements(s);
  return n;
}

void check_router(RouterAct router, float routed_scale, const std::string& where) {
  if (uint8_t(router) > uint8_t(RouterAct::ReLU)) fail(MMB_ERR_FORMAT, "config ", where, ".router has unknown value ", int(router));
  if (!std::isfinite(routed_scale)) fail(MMB_ERR_FORMAT, "config ", where, ".routed_scale is not finite");
}

void check_projection(const std::optional<ProjectionExperts>& e, const std::string& where) {
  if (!e) return;
  check_range(e->n_experts, 1, kMaxExperts, where + ".n_experts");
  check_range(e->top_k, 1, e->n_experts, where + ".top_k");
  check_router(e->router, e->routed_scale, where);
}

void check_mamba(const MambaConfig& m, const std::string& where) {
  check_range(m.d_inner, 1, kMaxInner, where + ".d_inner");
  check_range(m.d_state, 1, kMaxState, where + ".d_state");
  check_range(m.d_conv, 1, kMaxConv, where + ".d_conv");
  check_range(m.dt_rank, 1, kMaxDModel, where + ".dt_rank");
  check_projection(m.x_proj_experts, where + ".x_proj_experts");
  check_projection(m.z_proj_experts, where + ".z_proj_experts");
  check_projection(m.out_proj_experts, where + ".out_proj_experts");
  // A routed projection's biases are its experts' (ProjectionExperts::bias): a plain
  // bias flag it would silently ignore is refused instead.
  if (m.out_proj_experts && m.out_proj_bias)
    fail(MMB_ERR_FORMAT, "config ", where, ".out_proj_bias is set but out_proj is routed (use out_proj_experts.bias)");
  if (m.x_proj_experts && m.z_proj_experts && m.in_proj_bias)
    fail(MMB_ERR_FORMAT, "config ", where, ".in_proj_bias is set but both halves of in_proj are routed (use their experts' bias)");
  if (uint8_t(m.dt_bc_norm) > uint8_t(InnerNorm::RMSWeighted))
    fail(MMB_ERR_FORMAT, "config ", where, ".dt_bc_norm has unknown value ", int(m.dt_bc_norm));
  if (!(std::isfinite(m.dt_bc_norm_eps) && m.dt_bc_norm_eps > 0.0f && m.dt_bc_norm_eps < 1.0f))
    fail(MMB_ERR_FORMAT, "config ", where, ".dt_bc_norm_eps = ", m.dt_bc_norm_eps, " must be in (0, 1)");
}

void check_mamba2(const Mamba2Config& m, const std::string& where) {
  check_range(m.d_inner, 1, kMaxInner, where + ".d_inner");
  check_range(m.d_state, 1, kMaxState, where + ".d_state");
  check_range(m.d_conv, 1, kMaxConv, where + ".d_conv");
  check_range(m.n_heads, 1, m.d_inner, where + ".n_heads");
  check_range(m.n_groups, 1, m.n_heads, where + ".n_groups");
  if (m.d_inner % m.n_heads) fail(MMB_ERR_FORMAT, "config ", where, ".d_inner = ", m.d_inner, " is not a multiple of n_heads = ", m.n_heads);
  if (m.n_heads % m.n_groups) fail(MMB_ERR_FORMAT, "config ", where, ".n_heads = ", m.n_heads, " is not a multiple of n_groups = ", m.n_groups);
  check_range(m.norm_group(), 1, m.d_inner, where + ".norm_group_size");
  if (m.d_inner % m.norm_group())
    fail(MMB_ERR_FORMAT, "config ", where, ".norm_group_size = ", m.norm_group(), " does not divide d_inner = ", m.d_inner);
  if (!(std::isfinite(m.norm_eps) && m.norm_eps > 0.0f && m.norm_eps < 1.0f))
    fail(MMB_ERR_FORMAT, "config ", where, ".norm_eps = ", m.norm_eps, " must be in (0, 1)");
  if (!(std::isfinite(m.dt_min) && m.dt_min >= 0.0f && !std::isnan(m.dt_max) && m.dt_max > m.dt_min))
    fail(MMB_ERR_FORMAT, "config ", where, ".dt_min = ", m.dt_min, ", dt_max = ", m.dt_max, ": need 0 <= dt_min < dt_max");
}

void check_moe(const MoEConfig& m, const std::string& where) {
  check_range(m.n_experts, 1, kMaxExperts, where + ".n_experts");
  check_range(m.top_k, 1, m.n_experts, where + ".top_k");
  check_ff(m.expert, where + ".expert");
  check_router(m.router, m.routed_scale, where);
  check_range(m.n_shared, 0, kMaxShared, where + ".n_shared");
  if (m.n_shared > 0) check_ff(m.shared, where + ".shared");
  check_range(m.n_groups, 1, std::min(m.n_experts, kMaxExpertGroups), where + ".n_groups");
  check_range(m.topk_groups, 1, m.n_groups, where + ".topk_groups");
  if (m.n_experts % m.n_groups)
    fail(MMB_ERR_FORMAT, "config ", where, ".n_experts = ", m.n_experts, " is not a multiple of n_groups = ", m.n_groups);
  // A group is scored by its two best keys.
  if (m.n_groups > 1 && m.n_experts / m.n_groups < 2)
    fail(MMB_ERR_FORMAT, "config ", where, ".n_groups = ", m.n_groups, " leaves fewer than 2 experts per group");
  if (uint64_t(m.topk_groups) * (m.n_experts / m.n_groups) < m.top_k)
    fail(MMB_ERR_FORMAT, "config ", where, ".topk_groups = ", m.topk_groups, " groups hold fewer than top_k = ", m.top_k, " experts");
}

void check_attention(const AttentionConfig& a, const std::string& where) {
  check_range(a.n_heads, 1, kMaxHeads, where + ".n_heads");
  check_range(a.n_kv_heads, 1, a.n_heads, where + ".n_kv_heads");
  if (a.n_heads % a.n_kv_heads)
    fail(MMB_ERR_FORMAT, "config ", where, ".n_heads = ", a.n_heads, " is not a multiple of n_kv_heads = ", a.n_kv_heads);
  check_range(a.head_dim, 1, kMaxHeadDim, where + ".head_dim");
  check_range(a.rotary_dim, 0, a.head_dim, where + ".rotary_dim");
  if (a.rotary_dim % 2) fail(MMB_ERR_FORMAT, "config ", where, ".rotary_dim = ", a.rotary_dim, " is odd");
  if (!(std::isfinite(a.rope_theta) && a.rope_theta > 1.0f))
    fail(MMB_ERR_FORMAT, "config ", where, ".rope_theta = ", a.rope_theta, " must be a finite number above 1");
  if (!(std::isfinite(a.scale) && a.scale >= 0.0f))
    fail(MMB_ERR_FORMAT, "config ", where, ".scale = ", a.scale, " must be finite and >= 0 (0: 1/sqrt(head_dim))");
}

void check_scale(float value, const char* field) {
  if (!(std::isfinite(value) && value != 0.0f)) fail(MMB_ERR_FORMAT, "config ", field, " = ", value, " must be finite and nonzero");
}

// A projection [rows, cols]: plain (`prefix.weight`, `.bias` when plain_bias) or, when
// routed, `prefix.router.*` and `prefix.experts.J.*`.
void add_projection(std::vector<TensorSpec>& out, const std::string& prefix, const std::optional<ProjectionExperts>& e,
                    uint64_t rows, uint64_t cols, bool plain_bias) {
  if (!e) return add_linear(out, prefix, rows, cols, plain_bias);
  add_linear(out, prefix + ".router", e->n_experts, cols, e->router_bias);
  if (e->sel_bias) out.push_back({prefix + ".router.sel_bias", {e->n_experts}});
  for (uint32_t j = 0; j < e->n_experts; ++j) add_linear(out, cat(prefix, ".experts.", j), rows, cols, e->bias);
}

void add_mamba(std::vector<TensorSpec>& out, const std::string& q, const MambaConfig& m, uint64_t d) {
  if (m.split_in_proj()) {
    add_projection(out, q + ".x_proj_in", m.x_proj_experts, m.d_inner, d, m.in_proj_bias);
    add_projection(out, q + ".z_proj_in", m.z_proj_experts, m.d_inner, d, m.in_proj_bias);
  } else {
    add_linear(out, q + ".in_proj", 2ull * m.d_inner, d, m.in_proj_bias);
  }
  out.push_back({q + ".conv1d.weight", {m.d_inner, 1, m.d_conv}});
  if (m.conv_bias) out.push_back({q + ".conv1d.bias", {m.d_inner}});
  out.push_back({q + ".x_proj.weight", {uint64_t(m.dt_rank) + 2ull * m.d_state, m.d_inner}, false, true});
  if (m.dt_bc_norm == InnerNorm::RMSWeighted) {
    out.push_back({q + ".dt_norm.weight", {m.dt_rank}});
    out.push_back({q + ".b_norm.weight", {m.d_state}});
    out.push_back({q + ".c_norm.weight", {m.d_state}});
  }
  add_linear(out, q + ".dt_proj", m.d_inner, m.dt_rank, true);
  out.push_back({q + ".A_log", {m.d_inner, m.d_state}});
  out.push_back({q + ".D", {m.d_inner}});
  add_projection(out, q + ".out_proj", m.out_proj_experts, d, m.d_inner, m.out_proj_bias);
}

void add_mamba2(std::vector<TensorSpec>& out, const std::string& q, const Mamba2Config& m, uint64_t d) {
  add_linear(out, q + ".in_proj", m.in_proj_rows(), d, m.in_proj_bias);
  out.push_back({q + ".conv1d.weight", {m.conv_channels(), 1, m.d_conv}});
  if (m.conv_bias) out.push_back({q + ".conv1d.bias", {m.conv_channels()}});
  out.push_back({q + ".dt_bias", {m.n_heads}});
  out.push_back({q + ".A_log", {m.n_heads}});
  out.push_back({q + ".D", {m.d_per_channel ? m.d_inner : m.n_heads}});
  if (m.gated_norm) out.push_back({q + ".norm.weight", {m.d_inner}});
  add_linear(out, q + ".out_proj", d, m.d_inner, m.out_proj_bias);
}

void add_attention(std::vector<TensorSpec>& out, const std::string& q, const AttentionConfig& a, uint64_t d) {
  add_linear(out, q + ".q_proj", a.q_dim(), d, a.qkv_bias);
  add_linear(out, q + ".k_proj", a.kv_dim(), d, a.qkv_bias);
  add_linear(out, q + ".v_proj", a.kv_dim(), d, a.qkv_bias);
  add_linear(out, q + ".o_proj", d, a.q_dim(), a.out_bias);
}

void add_moe(std::vector<TensorSpec>& out, const std::string& q, const MoEConfig& m, uint64_t d) {
  add_linear(out, q + ".router", m.n_experts, d, m.router_bias);
  if (m.sel_bias) out.push_back({q + ".router.sel_bias", {m.n_experts}});
  for (uint32_t j = 0; j < m.n_experts; ++j) add_feed_forward(out, cat(q, ".experts.", j), m.expert, d);
  for (uint32_t j = 0; j < m.n_shared; ++j) add_feed_forward(out, cat(q, ".shared.", j), m.shared, d);
}

// Parameters of the experts a token leaves unused in one routed projection.
uint64_t unused_projection_params(const std::optional<ProjectionExperts>& e, uint64_t rows, uint64_t cols) {
  if (!e) return 0;
  return uint64_t(e->n_experts - e->top_k) * (rows * cols + (e->bias ? rows : 0));
}

}  // namespace

void validate_config(const ModelConfig& c) {
  check_range(c.d_model, 1, kMaxDModel, "d_model");
  check_range(c.vocab_size, 1, kMaxVocab, "vocab_size");
  check_range(c.layers.size(), 1, kMaxLayers, "layers (count)");
  if (uint8_t(c.norm) > uint8_t(NormKind::Layer)) fail(MMB_ERR_FORMAT, "config norm has unknown value ", int(c.norm));
  if (uint8_t(c.final_norm) > uint8_t(NormKind::Layer)) fail(MMB_ERR_FORMAT, "config final_norm has unknown value ", int(c.final_norm));
  if (!(std::isfinite(c.norm_eps) && c.norm_eps > 0.0f && c.norm_eps < 1.0f))
    fail(MMB_ERR_FORMAT, "config norm_eps = ", c.norm_eps, " must be in (0, 1)");
  check_scale(c.embedding_scale, "embedding_scale");
  check_scale(c.residual_scale, "residual_scale");
  check_scale(c.logits_divisor, "logits_divisor");
  check_range(c.context_length, 0, kMaxContext, "context_length");
  for (size_t i = 0; i < c.layers.size(); ++i) {
    const LayerConfig& l = c.layers[i];
    std::string where = cat("layers[", i, "]");
    switch (l.kind) {
      case LayerKind::Mamba: check_mamba(l.mamba, where); break;
      case LayerKind::MoE: check_moe(l.moe, where); break;
      case LayerKind::MLP: check_ff(l.mlp, where + ".mlp"); break;
      case LayerKind::Mamba2: check_mamba2(l.mamba2, where + ".mamba2"); break;
      case LayerKind::Attention: check_attention(l.attention, where + ".attention"); break;
      case LayerKind::Parallel:
        check_mamba(l.mamba, where + ".mamba");
        check_moe(l.moe, where + ".moe");
        break;
      default:
        fail(MMB_ERR_FORMAT, "config ", where, ".kind has unknown value ", int(l.kind));
    }
  }
}

std::vector<TensorSpec> tensor_specs(const ModelConfig& c) {
  std::vector<TensorSpec> out;
  const uint64_t d = c.d_model;
  out.push_back({"embed.weight", {c.vocab_size, d}, true, true});
  for (size_t i = 0; i < c.layers.size(); ++i) {
    const LayerConfig& l = c.layers[i];
    const std::string p = cat("layers.", i);
    add_norm(out, c.norm, p + ".norm", d);
    switch (l.kind) {
      case LayerKind::Mamba: add_mamba(out, p + ".mamba", l.mamba, d); break;
      case LayerKind::MoE: add_moe(out, p + ".moe", l.moe, d); break;
      case LayerKind::MLP: add_feed_forward(out, p + ".mlp", l.mlp, d); break;
      case LayerKind::Mamba2: add_mamba2(out, p + ".mamba2", l.mamba2, d); break;
      case LayerKind::Attention: add_attention(out, p + ".attn", l.attention, d); break;
      case LayerKind::Parallel:
        if (!l.shared_norm) add_norm(out, c.norm, p + ".norm_moe", d);
        add_mamba(out, p + ".mamba", l.mamba, d);
        add_moe(out, p + ".moe", l.moe, d);
        break;
    }
  }
  add_norm(out, c.final_norm, "norm_f", d);
  if (!c.tie_embeddings) out.push_back({"lm_head.weight", {c.vocab_size, d}, true, true});
  return out;
}

uint64_t params_total(const ModelConfig& c) {
  uint64_t n = 0;
  for (const auto& s : tensor_specs(c)) n += elements(s);
  return n;
}

uint64_t params_active(const ModelConfig& c) {
  uint64_t n = params_total(c);
  const uint64_t d = c.d_model;
  for (const auto& l : c.layers) {
    if (l.has_moe()) n -= uint64_t(l.moe.n_experts - l.moe.top_k) * feed_forward_params(l.moe.expert, d);
    if (!l.has_mamba()) continue;
    const MambaConfig& m = l.mamba;
    n -= unused_projection_params(m.x_proj_experts, m.d_inner, d) + unused_projection_params(m.z_proj_experts, m.d_inner, d) +
         unused_projection_params(m.out_proj_experts, d, m.d_inner);
  }
  return n;
}

uint64_t state_floats(const ModelConfig& c) {
  uint64_t n = 0;
  for (const auto& l : c.layers) {
    if (l.has_mamba()) n += uint64_t(l.mamba.d_inner) * (l.mamba.d_state + l.mamba.d_conv - 1);
    if (l.kind == LayerKind::Mamba2)
      n += uint64_t(l.mamba2.d_inner) * l.mamba2.d_state + uint64_t(l.mamba2.conv_channels()) * (l.mamba2.d_conv - 1);
  }
  return n;
}

uint64_t kv_elements_per_token(const ModelConfig& c) {
  uint64_t n = 0;
  for (const auto& l : c.layers)
    if (l.kind == LayerKind::Attention) n += 2ull * l.attention.kv_dim();
  return n;
}

float AttentionConfig::softmax_scale() const { return scale > 0.0f ? scale : float(1.0 / std::sqrt(double(head_dim))); }

bool ModelConfig::has_attention() const {
  for (const auto& l : layers)
    if (l.kind == LayerKind::Attention) return true;
  return false;
}

}  // namespace mmb
