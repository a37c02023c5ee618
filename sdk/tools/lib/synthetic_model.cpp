#include "synthetic_model.hpp"

#include "base/error.hpp"
#include "base/tensor_values.hpp"
#include "packed_dtype.hpp"

#include <cmath>
#include <cstring>

namespace mmb {

namespace {

// splitmix64 then Box-Muller: portable, so bundles are identical on every machine.
class Gaussian {
 public:
  explicit Gaussian(uint64_t seed) : state_(seed) {}
  double uniform() { return double(next() >> 11) * 0x1.0p-53; }
  double normal() {
    double u1 = uniform(), u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  uint64_t state_;
};

uint64_t name_hash(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

bool ends_with(const std::string& s, const char* suffix) {
  size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

// Fills one tensor's values (f32) according to what the tensor is.
void fill(const TensorSpec& spec, const ModelConfig& config, Gaussian& g, std::vector<float>& v) {
  const std::string& n = spec.name;
  const uint64_t cols = spec.shape.size() >= 2 ? spec.shape.back() : 1;
  const double residual_scale = 1.0 / std::sqrt(2.0 * double(config.layers.size()));
  auto normal = [&](double stddev, double mean = 0.0) { for (auto& x : v) x = float(mean + stddev * g.normal()); };
  if (n == "embed.weight") return normal(0.02);  // the usual init; larger values make a tied head echo its input
  if (n == "lm_head.weight") return normal(1.0 / std::sqrt(double(config.d_model)));
  if (ends_with(n, "norm.weight") || ends_with(n, "norm_f.weight")) return normal(0.1, 1.0);
  const bool mamba2 = n.find(".mamba2.") != std::string::npos;
  if (mamba2 && ends_with(n, ".A_log")) {
    // One decay per head: A = -uniform(1, 16), mamba_ssm's A_init_range.
    for (auto& x : v) x = float(std::log(1.0 + 15.0 * g.uniform()));
    return;
  }
  if (mamba2 && ends_with(n, ".D")) {
    for (auto& x : v) x = 1.0f;  // mamba_ssm's init
    return;
  }
  if (ends_with(n, ".A_log")) {
    const uint64_t d_state = spec.shape[1];
    for (uint64_t i = 0; i < v.size(); ++i) v[i] = float(std::log(double(i % d_state + 1)) + 0.05 * g.normal());
    return;
  }
  if (ends_with(n, ".D")) return normal(0.1, 1.0);
  if (ends_with(n, "dt_proj.bias") || ends_with(n, ".dt_bias")) {
    // softplus^-1 of dt drawn log-uniformly from [1e-3, 1e-1], as Mamba initializes it.
    for (auto& x : v) {
      double dt = std::exp(std::log(1e-3) + g.uniform() * (std::log(1e-1) - std::log(1e-3)));
      x = float(dt + std::log(-std::expm1(-dt)));
    }
    return;
  }
  if (ends_with(n, "conv1d.weight")) return normal(1.0 / std::sqrt(double(spec.shape[2])));
  if (ends_with(n, ".bias") || ends_with(n, ".sel_bias")) return normal(0.1);
  double stddev = 1.0 / std::sqrt(double(cols));
  const bool out_proj_expert = n.find(".out_proj.experts.") != std::string::npos;
  if (ends_with(n, "out_proj.weight") || out_proj_expert || ends_with(n, "w2.weight")) stddev *= residual_scale;
  normal(stddev);
}

LayerConfig mamba_layer(uint32_t d_model, uint32_t d_state = 16) {
  LayerConfig l;
  l.kind = LayerKind::Mamba;
  l.mamba.d_inner = 2 * d_model;
  l.mamba.d_state = d_state;
  l.mamba.d_conv = 4;
  l.mamba.dt_rank = (d_model + 15) / 16;
  return l;
}

// mamba_ssm's Mamba2 defaults: d_state 128, headdim 64, expand 2, ngroups 1, d_conv 4.
LayerConfig mamba2_layer(uint32_t d_model) {
  LayerConfig l;
  l.kind = LayerKind::Mamba2;
  l.mamba2.d_inner = 2 * d_model;
  l.mamba2.n_heads = l.mamba2.d_inner / 64;
  return l;
}

LayerConfig moe_layer(uint32_t n_experts, uint32_t top_k, uint32_t d_ff, ExpertAct act) {
  LayerConfig l;
  l.kind = LayerKind::MoE;
  l.moe.n_experts = n_experts;
  l.moe.top_k = top_k;
  l.moe.expert.d_ff = d_ff;
  l.moe.expert.act = act;
  return l;
}

}  // namespace

std::vector<float> SyntheticModel::values(const std::string& name) const {
  for (const auto& t : contents.tensors) {
    if (t.name == name) return decode_values(t.data, t.dtype, t.shape);
  }
  fail(MMB_ERR_INVALID_ARGUMENT, "synthetic model has no tensor '", name, "'");
}

SyntheticModel make_synthetic_model(const ModelConfig& config, const SyntheticOptions& options) {
  validate_config(config);
  SyntheticModel m;
  m.contents.config = config;
  m.contents.metadata = {{"name", "synthetic"}, {"source", cat("make_synthetic_model seed ", options.seed)}};
  const auto specs = tensor_specs(config);
  m.storage.resize(specs.size());
  auto dtype_of = [&](const TensorSpec& spec) { return options.dtype == DType::Q8 ? packed_dtype(spec, DType::Q8) : options.dtype; };
  uint64_t progress_done = 0, progress_total = 0;
  for (const TensorSpec& spec : specs) progress_total += tensor_bytes(dtype_of(spec), spec.shape).value_or(0);
  report_progress(options.progress, 0, progress_total, "making the synthetic model");
  std::vector<float> values;
  for (size_t i = 0; i < specs.size(); ++i) {
    const TensorSpec& spec = specs[i];
    uint64_t count = 1;
    for (uint64_t d : spec.shape) count *= d;
    values.resize(count);
    Gaussian g(options.seed ^ name_hash(spec.name));  // per tensor: independent of order
    fill(spec, config, g, values);
    const DType dtype = dtype_of(spec);
    m.storage[i] = encode_values(values, dtype, spec.shape);
    m.contents.tensors.push_back({spec.name, dtype, spec.shape, std::span<const std::byte>(m.storage[i])});
    progress_done += m.storage[i].size();
    report_progress(options.progress, progress_done, progress_total, "making the synthetic model");
  }
  return m;
}

ModelConfig named_shape(const std::string& name) {
  ModelConfig c;
  if (name == "tiny") {
    c.d_model = 64;
    c.vocab_size = 256;
    c.layers = {mamba_layer(64), moe_layer(4, 1, 128, ExpertAct::ReLU), mamba_layer(64),
                moe_layer(4, 2, 96, ExpertAct::SwiGLU)};
    LayerConfig mlp;
    mlp.kind = LayerKind::MLP;
    mlp.mlp.d_ff = 128;
    mlp.mlp.act = ExpertAct::GELU;
    c.layers.push_back(mamba_layer(64));
    c.layers.push_back(mlp);
  } else if (name == "tiny-parallel-routed") {
    c.d_model = 64;
    c.vocab_size = 256;
    LayerConfig parallel;
    parallel.kind = LayerKind::Parallel;
    parallel.mamba = mamba_layer(64).mamba;
    parallel.moe = moe_layer(4, 1, 128, ExpertAct::ReLU).moe;
    LayerConfig routed = mamba_layer(64);
    ProjectionExperts experts;
    experts.n_experts = 4;
    routed.mamba.x_proj_experts = routed.mamba.out_proj_experts = experts;
    experts.top_k = 2;
    routed.mamba.z_proj_experts = experts;
    LayerConfig shared = parallel;
    shared.shared_norm = true;
    shared.mamba.out_proj_experts = routed.mamba.out_proj_experts;
    c.layers = {parallel, routed, shared};
  } else if (name == "mamba-130m") {
    c.d_model = 768;
    c.vocab_size = 50280;
    for (int i = 0; i < 24; ++i) c.layers.push_back(mamba_layer(768));
  } else if (name == "moe-mamba-130m") {
    c.d_model = 768;
    c.vocab_size = 50280;
    for (int i = 0; i < 12; ++i) {
      c.layers.push_back(mamba_layer(768));
      c.layers.push_back(moe_layer(8, 1, 3072, ExpertAct::ReLU));
    }
  } else if (name == "mamba2-130m" || name == "mamba2-1.3b") {
    // state-spaces/mamba2-130m and mamba2-1.3b: ssm_cfg {"layer": "Mamba2"} (all else
    // mamba_ssm's defaults), vocab 50277 padded to a multiple of 16, tied embeddings.
    const bool small = name == "mamba2-130m";
    c.d_model = small ? 768 : 2048;
    c.vocab_size = 50288;
    for (int i = 0; i < (small ? 24 : 48); ++i) c.layers.push_back(mamba2_layer(c.d_model));
  } else if (name == "falcon-mamba-7b") {
    // tiiuae/falcon-mamba-7b: intermediate_size 8192 (its "expand": 16 is not used),
    // state_size 16, time_step_rank 256, conv_kernel 4, no in/out_proj bias, RMS norms
    // of dt, B and C with mixer_rms_eps 1e-6, vocab 65024, untied head.
    c.d_model = 4096;
    c.vocab_size = 65024;
    c.tie_embeddings = false;
    LayerConfig l = mamba_layer(4096);
    l.mamba.dt_rank = 256;
    l.mamba.dt_bc_norm = InnerNorm::RMS;
    l.mamba.dt_bc_norm_eps = 1e-6f;
    c.layers.assign(64, l);
  } else {
    std::string known;
    for (const auto& n : named_shapes()) known += (known.empty() ? "" : ", ") + n;
    fail(MMB_ERR_INVALID_ARGUMENT, "unknown shape '", name, "' (known: ", known, ")");
  }
  return c;
}

std::vector<std::string> named_shapes() {
  return {"tiny", "tiny-parallel-routed", "mamba-130m", "moe-mamba-130m", "mamba2-130m", "mamba2-1.3b", "falcon-mamba-7b"};
}

}  // namespace mmb
