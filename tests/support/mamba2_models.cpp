#include "support/mamba2_models.hpp"
#include "support/splitmix_rng.hpp"

#include "base/tensor_values.hpp"
#include "packed_dtype.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace mmb::testing {

using namespace builders;

namespace {

using E = ExpertAct;
using R = RouterAct;
using N = NormKind;
constexpr float kInf = std::numeric_limits<float>::infinity();

// Every option drawn independently: heads of 1 to 8 channels, any group count that
// divides the heads, any norm group that divides d_inner.
LayerConfig random_mamba2(SplitMixRng& rng) {
  const uint32_t heads = rng.pick({1u, 2u, 3u, 4u, 8u}), head_dim = rng.pick({1u, 2u, 4u, 5u, 8u});
  LayerConfig l = mamba2_layer(heads * head_dim, rng.pick({1u, 3u, 8u, 16u, 64u}), rng.pick({1u, 2u, 3u, 4u}), heads,
                               rng.pick(divisors(heads)));
  Mamba2Config& m = l.mamba2;
  if (rng.coin()) m.norm_group_size = rng.pick(divisors(m.d_inner));
  m.gated_norm = rng.below(4) != 0;
  m.norm_eps = rng.pick({1e-5f, 1e-3f});
  m.in_proj_bias = rng.coin();
  m.conv_bias = rng.coin();
  m.out_proj_bias = rng.coin();
  m.d_per_channel = rng.coin();
  m.dt_min = rng.pick({0.0f, 0.0f, 0.01f});
  m.dt_max = rng.pick({kInf, kInf, 0.1f});
  return l;
}

// N(0, 1) from two uniforms (Box-Muller); SplitMixRng keeps it the same everywhere.
double normal(SplitMixRng& rng) {
  const double u1 = std::max(double(rng.uniform(0.0f, 1.0f)), 1e-12), u2 = rng.uniform(0.0f, 1.0f);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

uint64_t name_hash(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char ch : s) h = (h ^ ch) * 1099511628211ull;
  return h;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

// The values of one tensor. Chosen so that every part of the scan matters:
//   - the embedding is N(0, 1), so logits are O(sqrt(d_model)) and the relative logit
//     tolerance is not swamped by its "+ 1" (as it would be with tiny logits);
//   - dt_bias is softplus^-1 of dt log-uniform in [1e-3, 1e-1] (mamba_ssm's init); with
//     in_proj's dt rows adding O(1), softplus(dt + dt_bias) spans about [1e-3, 1], so a
//     clamp to [0.02, 0.08] cuts on both sides;
//   - Mamba-2's A = -exp(A_log) is uniform in [-16, -1] (mamba_ssm's A_init_range): per
//     token decays from exp(-1e-3) to exp(-16), so the state carries over tens of tokens,
//     across prefill chunks, without growing without bound;
//   - norm weights 1 +- 0.1, so a norm applied with the wrong weight or group shows.
void fill(const TensorSpec& spec, const ModelConfig& config, SplitMixRng& rng, std::vector<float>& v) {
  const std::string& n = spec.name;
  const double cols = double(spec.shape.size() >= 2 ? spec.shape.back() : 1);
  const double residual_scale = 1.0 / std::sqrt(2.0 * double(config.layers.size()));
  auto gaussian = [&](double stddev, double mean = 0.0) {
    for (float& x : v) x = float(mean + stddev * normal(rng));
  };
  if (n == "embed.weight") return gaussian(1.0);
  if (n == "lm_head.weight") return gaussian(1.0 / std::sqrt(double(config.d_model)));
  if (ends_with(n, "norm.weight") || ends_with(n, ".norm_moe.weight") || n == "norm_f.weight") return gaussian(0.1, 1.0);
  if (ends_with(n, ".mamba2.A_log")) {
    for (float& x : v) x = float(std::log(rng.uniform(1.0f, 16.0f)));
    return;
  }
  if (ends_with(n, ".A_log")) {  // Mamba-1: A_log[c][n] = log(n + 1), S4D-real
    for (size_t i = 0; i < v.size(); ++i) v[i] = float(std::log(double(i % spec.shape[1] + 1)) + 0.05 * normal(rng));
    return;
  }
  if (ends_with(n, ".D")) return gaussian(0.1, 1.0);
  if (ends_with(n, ".dt_bias") || ends_with(n, "dt_proj.bias")) {
    for (float& x : v) {
      const double dt = std::exp(std::log(1e-3) + rng.uniform(0.0f, 1.0f) * (std::log(1e-1) - std::log(1e-3)));
      x = float(dt + std::log(-std::expm1(-dt)));
    }
    return;
  }
  if (ends_with(n, "conv1d.weight")) return gaussian(1.0 / std::sqrt(double(spec.shape[2])));
  if (ends_with(n, ".bias") || ends_with(n, ".sel_bias")) return gaussian(0.1);
  const bool to_residual = ends_with(n, "out_proj.weight") || ends_with(n, "o_proj.weight") || ends_with(n, "w2.weight") ||
                           contains(n, ".out_proj.experts.");
  gaussian(1.0 / std::sqrt(cols) * (to_residual ? residual_scale : 1.0));
}

}  // namespace

LayerConfig mamba2_layer(uint32_t d_inner, uint32_t d_state, uint32_t d_conv, uint32_t n_heads, uint32_t n_groups) {
  LayerConfig l;
  l.kind = LayerKind::Mamba2;
  l.mamba2 = {d_inner, d_state, d_conv, n_heads, n_groups};
  return l;
}

LayerConfig inner_norm_mamba_layer(uint32_t d_inner, uint32_t d_state, uint32_t d_conv, uint32_t dt_rank, InnerNorm norm,
                                   float eps) {
  LayerConfig l = mamba(d_inner, d_state, d_conv, dt_rank);
  l.mamba.dt_bc_norm = norm;
  l.mamba.dt_bc_norm_eps = eps;
  return l;
}

std::vector<ModelCase> mamba2_cases() {
  std::vector<ModelCase> cases;
  {  // The plainest: one group, default norm groups, two layers.
    cases.push_back(named("mamba2 G=1", model(32, 256, N::RMS, N::RMS, true,
                                              {mamba2_layer(64, 16, 4, 4, 1), mamba2_layer(64, 16, 4, 4, 1)}), 301));
  }
  {  // Several groups, a norm group (16) other than d_inner / G (32), every bias, D per
     // channel, untied padded head; then one group per head.
    LayerConfig a = mamba2_layer(64, 32, 4, 8, 2);
    a.mamba2.norm_group_size = 16;
    a.mamba2.in_proj_bias = a.mamba2.out_proj_bias = true;
    a.mamba2.d_per_channel = true;
    ModelCase c = named("mamba2 H=8 G=2, norm groups of 16, biases, D per channel",
                        model(32, 270, N::RMS, N::Layer, false, {a, mamba2_layer(64, 8, 4, 8, 8)}), 302);
    c.pad_rows = 2;
    cases.push_back(c);
  }
  {  // No gated norm, no conv bias, dt clamped on both sides; then a lower clamp only,
     // with a norm eps large enough that using another eps shows.
    LayerConfig a = mamba2_layer(48, 8, 3, 8, 4);
    a.mamba2.gated_norm = false;
    a.mamba2.conv_bias = false;
    a.mamba2.dt_min = 0.02f;
    a.mamba2.dt_max = 0.08f;
    LayerConfig b = mamba2_layer(48, 8, 4, 4, 4);
    b.mamba2.dt_min = 0.05f;
    b.mamba2.norm_eps = 0.1f;
    cases.push_back(named("mamba2 H=8 G=4, no gated norm, no conv bias, dt clamped",
                          model(24, 256, N::RMS, N::RMS, true, {a, b}), 303));
  }
  {  // A state as wide as Mamba-2 checkpoints use (N = 256; mamba2-2.7b has 128).
    cases.push_back(named("mamba2 d_state 256", model(32, 256, N::RMS, N::RMS, true,
                                                      {mamba2_layer(64, 256, 4, 4, 2), mlp(ff(48, E::SiLU))}), 304));
  }
  {  // Odd sizes: 15 heads of 2 in 3 groups with norm groups of 6 and d_conv 1 (no conv
     // state); 3 heads of 7 with d_conv 5.
    LayerConfig a = mamba2_layer(30, 5, 1, 15, 3);
    a.mamba2.norm_group_size = 6;
    a.mamba2.d_per_channel = true;
    LayerConfig b = mamba2_layer(21, 7, 5, 3, 1);
    b.mamba2.out_proj_bias = true;
    ModelCase c = named("mamba2 odd sizes", model(20, 263, N::RMS, N::RMS, true, {a, b}), 305);
    c.config.norm_eps = 1e-3f;
    cases.push_back(c);
  }
  {  // MoE-Mamba-2: alternating Mamba-2 and MoE layers, llm-random's norms (LayerNorm
     // pre-norm, no final norm, untied head).
    LayerConfig m2 = moe(4, 2, ff(32, E::SwiGLU), R::Sigmoid);
    m2.moe.renorm = true;
    cases.push_back(named("moe-mamba2", model(24, 256, N::Layer, N::None, false,
                                              {mamba2_layer(48, 16, 4, 6, 2), moe(4, 1, ff(48, E::ReLU), R::Softmax),
                                               mamba2_layer(48, 16, 4, 6, 3), m2}), 306));
  }
  {  // Mamba-1 and Mamba-2 in one plan, with MoE, MLP and a parallel block.
    const LayerConfig par = parallel(mamba(32, 8, 3, 2), moe(3, 1, ff(24, E::GELU), R::Softmax), true);
    LayerConfig m2 = mamba2_layer(32, 8, 2, 2, 2);
    m2.mamba2.in_proj_bias = true;
    cases.push_back(named("mamba + mamba2 mixed plan",
                          model(32, 256, N::RMS, N::RMS, true,
                                {mamba(64, 16, 4, 2), mamba2_layer(64, 16, 4, 8, 2),
                                 moe(4, 2, ff(32, E::GeGLU), R::Softmax), mlp(ff(40, E::SiLU)), par, m2}),
                          307));
  }
  {  // Falcon-Mamba: weightless RMS norms on dt, B and C.
    cases.push_back(named("falcon-mamba-like: RMS dt/B/C norms",
                          model(32, 256, N::RMS, N::RMS, true,
                                {inner_norm_mamba_layer(64, 16, 4, 4, InnerNorm::RMS),
                                 inner_norm_mamba_layer(64, 16, 4, 3, InnerNorm::RMS, 1e-3f)}),
                          308));
  }
  {  // Jamba: weighted norms, beside MoE and Mamba-2; an eps of 0.25 so that it matters.
    cases.push_back(named("jamba-like: weighted dt/B/C norms",
                          model(32, 256, N::RMS, N::RMS, true,
                                {inner_norm_mamba_layer(64, 16, 4, 4, InnerNorm::RMSWeighted),
                                 moe(4, 2, ff(32, E::SwiGLU), R::Softmax), mamba2_layer(64, 16, 4, 4, 1),
                                 inner_norm_mamba_layer(64, 8, 4, 2, InnerNorm::RMSWeighted, 0.25f)}),
                          309));
  }
  SplitMixRng rng(20250514);
  for (int i = 0; i < 6; ++i) {
    const uint32_t d_model = rng.pick({16u, 24u, 32u});
    ModelCase c = named("random mamba2 " + std::to_string(i),
                        model(d_model, 256 + rng.below(40), rng.pick({N::RMS, N::Layer}),
                              rng.pick({N::RMS, N::Layer, N::None}), rng.coin(), {}),
                        400 + i);
    const uint32_t n_layers = 1 + rng.below(3);
    for (uint32_t l = 0; l < n_layers; ++l) c.config.layers.push_back(random_mamba2(rng));
    cases.push_back(c);
  }
  return cases;
}

ModelCase mamba2_case(const std::string& name) { return case_named(mamba2_cases(), name); }

SyntheticModel build_mamba2_weights(const ModelCase& c) {
  validate_config(c.config);
  SyntheticModel m;
  m.contents.config = c.config;
  m.contents.metadata = {{"name", c.name}};
  const std::vector<TensorSpec> specs = tensor_specs(c.config);
  m.storage.resize(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    TensorSpec spec = specs[i];
    const uint64_t real_rows = spec.shape[0];
    if (spec.min_rows) spec.shape[0] += c.pad_rows;
    uint64_t count = 1;
    for (uint64_t d : spec.shape) count *= d;
    std::vector<float> values(count);
    SplitMixRng rng(c.seed ^ name_hash(spec.name));
    fill(spec, c.config, rng, values);
    // Padding rows hold large values: a library that read them would be far off.
    for (uint64_t k = real_rows * (count / spec.shape[0]); k < count; ++k) values[k] = 100.0f;
    for (const auto& [name, v] : c.overrides)
      if (name == spec.name) {
        REQUIRE(v.size() == values.size());
        values = v;
      }
    const DType dtype = packed_dtype(spec, c.dtype);
    m.storage[i] = encode_values(values, dtype, spec.shape);
    m.contents.tensors.push_back({spec.name, dtype, spec.shape, std::span<const std::byte>(m.storage[i])});
  }
  return m;
}

uint64_t expected_state_floats(const ModelConfig& config) {
  uint64_t n = 0;
  for (const LayerConfig& l : config.layers) {
    if (l.kind == LayerKind::Mamba || l.kind == LayerKind::Parallel)
      n += uint64_t(l.mamba.d_inner) * l.mamba.d_state + uint64_t(l.mamba.d_inner) * (l.mamba.d_conv - 1);
    if (l.kind == LayerKind::Mamba2) {
      const Mamba2Config& m = l.mamba2;
      const uint64_t heads = m.n_heads, head_dim = m.d_inner / m.n_heads;
      const uint64_t conv_channels = uint64_t(m.d_inner) + 2ull * m.n_groups * m.d_state;
      n += heads * head_dim * m.d_state + conv_channels * (m.d_conv - 1);
    }
  }
  return n;
}

}  // namespace mmb::testing
