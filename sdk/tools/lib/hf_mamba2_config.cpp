#include "hf_mamba2_config.hpp"

#include "base/error.hpp"
#include "hf_mamba_config.hpp"

#include <cmath>
#include <cstdint>
#include <limits>

namespace mmb {

using nlohmann::json;

namespace {

constexpr uint64_t kU32 = UINT32_MAX;

// mamba_ssm's per-group gated RMSNorm (RMSNormGated with group_size = d_inner / ngroups),
// the norm every Mamba-2 checkpoint was trained with.
void per_group_norm(Mamba2Config& m) {
  if (m.n_groups && m.d_inner % m.n_groups == 0) m.norm_group_size = m.d_inner / m.n_groups;
}

}  // namespace

void read_dt_limit(JsonFields& f, const char* key, Mamba2Config& m) {
  if (!f.given(key)) return;
  const json& v = f.value(key);
  if (!v.is_array() || v.size() != 2)
    fail(MMB_ERR_FORMAT, f.field(key), ": expected [low, high], got ", json_type_name(v));
  const auto bound = [&](size_t i, double none) {
    if (v[i].is_null()) return none;
    const std::optional<double> x = python_float(v[i]);
    if (!x || std::isnan(*x))
      fail(MMB_ERR_FORMAT, f.field(key), "[", i, "]: expected a number or Infinity, got ", json_type_name(v[i]));
    return *x;
  };
  const double low = bound(0, 0.0), high = bound(1, HUGE_VAL);
  if (!(low >= 0.0 && std::isfinite(low) && high > low))
    fail(MMB_ERR_FORMAT, f.field(key), ": [", low, ", ", high, "] is not a range 0 <= low < high");
  m.dt_min = float(low);
  m.dt_max = std::isfinite(high) ? float(high) : std::numeric_limits<float>::infinity();
}

ModelConfig parse_hf_mamba2_config(const json& config, const std::string& what) {
  JsonFields f(config, what);
  const std::string act = f.string("hidden_act", "silu");
  if (act != "silu") fail(MMB_ERR_UNSUPPORTED, f.field("hidden_act"), ": \"", act, "\" is not supported (Mamba-2 mixers use \"silu\")");
  const uint32_t d_model = uint32_t(f.integer("hidden_size", 1, kU32, 4096));

  Mamba2Config m;
  m.d_inner = read_expanded_width(f, "expand", d_model);
  m.n_heads = uint32_t(f.integer("num_heads", 1, kU32, 128));
  const uint64_t head_dim = f.integer("head_dim", 1, kU32, 64);
  if (uint64_t(m.n_heads) * head_dim != m.d_inner)
    fail(MMB_ERR_FORMAT, what, ": num_heads (", m.n_heads, ") x head_dim (", head_dim, ") = ", uint64_t(m.n_heads) * head_dim,
         " but the mixer's width is int(expand x hidden_size) = ", m.d_inner);
  m.d_state = uint32_t(f.integer("state_size", 1, kU32, 128));
  m.n_groups = uint32_t(f.integer("n_groups", 1, kU32, 8));
  m.d_conv = uint32_t(f.integer("conv_kernel", 1, kU32, 4));
  m.in_proj_bias = m.out_proj_bias = f.boolean("use_bias", false);
  m.conv_bias = f.boolean("use_conv_bias", true);
  m.gated_norm = true;  // transformers applies it whatever "rms_norm" says
  f.boolean("rms_norm", true);
  per_group_norm(m);
  read_dt_limit(f, "time_step_limit", m);

  ModelConfig c;
  c.d_model = d_model;
  c.vocab_size = uint32_t(f.integer("vocab_size", 1, kU32, 32768));
  c.norm = c.final_norm = NormKind::RMS;
  c.norm_eps = float(f.number("layer_norm_epsilon", 0.0, 1.0, 1e-5));
  m.norm_eps = c.norm_eps;  // MambaRMSNormGated(intermediate_size, eps=config.layer_norm_epsilon)
  c.tie_embeddings = f.boolean("tie_word_embeddings", false);
  LayerConfig layer;
  layer.kind = LayerKind::Mamba2;
  layer.mamba2 = m;
  c.layers.assign(f.integer("num_hidden_layers", 1, 4096, 64), layer);
  return validated_config(std::move(c), what);
}

Mamba2Config mamba_ssm_mamba2_mixer(JsonFields& ssm, uint32_t d_model) {
  Mamba2Config m;
  m.d_inner = read_expanded_width(ssm, "expand", d_model);
  if (ssm.has("d_ssm") && !ssm.value("d_ssm").is_null() && ssm.integer("d_ssm", 1, kU32) != m.d_inner)
    fail(MMB_ERR_UNSUPPORTED, ssm.field("d_ssm"), ": an SSM narrower than d_inner (with a gated MLP beside it) is not supported");
  const uint64_t head_dim = ssm.integer("headdim", 1, kU32, 64);
  if (m.d_inner % head_dim)
    fail(MMB_ERR_FORMAT, ssm.field("headdim"), ": ", head_dim, " does not divide d_inner = expand x d_model = ", m.d_inner);
  m.n_heads = uint32_t(m.d_inner / head_dim);
  m.d_state = uint32_t(ssm.integer("d_state", 1, kU32, m.d_state));
  m.d_conv = uint32_t(ssm.integer("d_conv", 1, kU32, m.d_conv));
  m.n_groups = uint32_t(ssm.integer("ngroups", 1, kU32, 1));
  m.d_per_channel = ssm.boolean("D_has_hdim", false);
  m.gated_norm = ssm.boolean("rmsnorm", true);
  if (ssm.boolean("norm_before_gate", false))
    fail(MMB_ERR_UNSUPPORTED, ssm.field("norm_before_gate"), ": true (rmsnorm(y) * silu(z)) is not supported");
  m.norm_eps = 1e-5f;  // RMSNormGated(d_ssm, eps=1e-5, ...): fixed in mamba2.py
  m.in_proj_bias = m.out_proj_bias = ssm.boolean("bias", false);
  m.conv_bias = ssm.boolean("conv_bias", true);
  per_group_norm(m);
  read_dt_limit(ssm, "dt_limit", m);
  return m;
}

}  // namespace mmb
