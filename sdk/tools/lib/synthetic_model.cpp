#include "synthetic_model.hpp"

#include "base/error.hpp"
#include "base/tensor_values.hpp"
#include "packed_dtype.hpp"

#include <algorithm>
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

LayerConfig mlp_layer(uint32_t d_ff, ExpertAct act) {
  LayerConfig l;
  l.kind = LayerKind::MLP;
  l.mlp = {d_ff, act};
  return l;
}

// An IBM Granite 4.0 H stack (GraniteMoeHybridForCausalLM; hf_granite_hybrid_config.hpp):
// per decoder layer a mixer, Mamba-2 (heads of 64 channels, one group, d_conv 4) or, at
// the listed decoder layers, attention without positions ("nope"), then the feed-forward:
// routed SwiGLU experts (softmax over the top-k logits) plus the shared SwiGLU MLP, or,
// with no experts, that MLP alone. What every published 4.0 H model shares: vocab 100352,
// tied embeddings, RMS eps 1e-5, embedding_multiplier 12, residual_multiplier 0.22,
// 128K context (max_position_embeddings 131072).
struct GraniteShape {
  uint32_t d_model = 0, decoder_layers = 0;
  std::vector<uint32_t> attention_at;
  uint32_t heads = 0, kv_heads = 0;  // of d_model / heads
  float attention_multiplier = 0.0f;
  uint32_t mamba_heads = 0, d_state = 0;
  uint32_t experts = 0, top_k = 0, d_ff = 0, shared_ff = 0;  // experts 0: dense
  float logits_scaling = 1.0f;
};

ModelConfig granite_hybrid(const GraniteShape& g) {
  ModelConfig c;
  c.d_model = g.d_model;
  c.vocab_size = 100352;
  c.norm_eps = 1e-5f;
  c.embedding_scale = 12.0f;
  c.residual_scale = 0.22f;
  c.logits_divisor = g.logits_scaling;
  c.context_length = 131072;
  LayerConfig mamba2 = mamba2_layer(g.d_model);
  mamba2.mamba2.d_inner = g.mamba_heads * 64;
  mamba2.mamba2.n_heads = g.mamba_heads;
  mamba2.mamba2.d_state = g.d_state;
  mamba2.mamba2.norm_eps = c.norm_eps;
  LayerConfig attention = attention_layer(g.heads, g.kv_heads, g.d_model / g.heads);
  attention.attention.scale = g.attention_multiplier;
  LayerConfig ffn;
  if (g.experts) {
    ffn = moe_layer(g.experts, g.top_k, g.d_ff, ExpertAct::SwiGLU);
    ffn.moe.renorm = true;
    ffn.moe.n_shared = 1;
    ffn.moe.shared = {g.shared_ff, ExpertAct::SwiGLU};
  } else {
    ffn = mlp_layer(g.shared_ff, ExpertAct::SwiGLU);
  }
  for (uint32_t i = 0; i < g.decoder_layers; ++i) {
    const bool attends = std::find(g.attention_at.begin(), g.attention_at.end(), i) != g.attention_at.end();
    c.layers.push_back(attends ? attention : mamba2);
    c.layers.push_back(ffn);
  }
  return c;
}

}  // namespace

LayerConfig attention_layer(uint32_t n_heads, uint32_t n_kv_heads, uint32_t head_dim, uint32_t rotary_dim) {
  LayerConfig l;
  l.kind = LayerKind::Attention;
  l.attention.n_heads = n_heads;
  l.attention.n_kv_heads = n_kv_heads;
  l.attention.head_dim = head_dim;
  l.attention.rotary_dim = rotary_dim;
  return l;
}

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
  auto dtype_of = [&](const TensorSpec& spec) {
    return dtype_quantized(options.dtype) ? packed_dtype(spec, options.dtype) : options.dtype;
  };
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
  } else if (name == "nemotron-h-4b") {
    // nvidia/Nemotron-H-4B-Base-8K (Megatron-Bridge's NemotronHModelProvider4B, NemotronHConfig
    // defaults elsewhere): d_model 3072, 52 blocks "M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M-"
    // (24 Mamba-2, 4 attention, 24 MLP); Mamba-2 of 112 heads x 64 (d_inner 7168), d_state
    // 128, 8 groups (gated norm per 896 channels), d_conv 4; attention of 32 query and 8
    // key/value heads of 128, no RoPE; ReLU^2 MLPs of 12288; vocab 131072, untied, 8K context.
    c.d_model = 3072;
    c.vocab_size = 131072;
    c.tie_embeddings = false;
    c.context_length = 8192;
    LayerConfig mamba2 = mamba2_layer(3072);
    mamba2.mamba2.d_inner = 112 * 64;
    mamba2.mamba2.n_heads = 112;
    mamba2.mamba2.n_groups = 8;
    const LayerConfig attention = attention_layer(32, 8, 128);
    const LayerConfig mlp = mlp_layer(12288, ExpertAct::ReLU2);
    for (char block : std::string("M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M-"))
      c.layers.push_back(block == 'M' ? mamba2 : block == '*' ? attention : mlp);
  } else if (name == "granite-4.0-h-tiny") {
    // ibm-granite/granite-4.0-h-tiny (7B total, 1B active), from its GGUF metadata as IBM
    // publishes it on ollama (ollama.com/library/granite4:tiny-h: embedding_length 1536,
    // block_count 40, head_count 12, attention.scale 0.0078125, expert_count 64,
    // expert_used_count 6, feed_forward_length 512, expert_shared_feed_forward_length 1024,
    // ssm.inner_size 3072, ssm.time_step_rank (= Mamba-2 heads) 48, ssm.state_size 128,
    // ssm.group_count 1, logit_scale 6, residual_scale 0.22, embedding_scale 12, rms eps
    // 1e-5, vocab 100352) and its config.json (num_key_value_heads 4, attention at decoder
    // layers 5, 15, 25, 35, tie_word_embeddings true, max_position_embeddings 131072).
    c = granite_hybrid({.d_model = 1536, .decoder_layers = 40, .attention_at = {5, 15, 25, 35}, .heads = 12,
                        .kv_heads = 4, .attention_multiplier = 0.0078125f, .mamba_heads = 48, .d_state = 128,
                        .experts = 64, .top_k = 6, .d_ff = 512, .shared_ff = 1024, .logits_scaling = 6.0f});
  } else if (name == "granite-4.0-h-micro") {
    // ibm-granite/granite-4.0-h-micro (3B, dense hybrid), from its config.json (as mirrored
    // at huggingface.co/anuj6316/granite): hidden_size 2048, 40 layers with attention at 5,
    // 15, 25, 35, num_attention_heads 32, num_key_value_heads 8, attention_multiplier
    // 0.015625, mamba_n_heads 64 x mamba_d_head 64, mamba_d_state 128, mamba_n_groups 1,
    // num_local_experts 0, intermediate_size 8192, logits_scaling 8, embedding_multiplier 12,
    // max_position_embeddings 131072. The shared MLP width (8192, = intermediate_size, as in
    // granite-4.0-h-1b), residual_multiplier 0.22, rms eps 1e-5 and tied embeddings are the
    // family's values (the excerpt did not show them); they give the stated 3B parameters.
    c = granite_hybrid({.d_model = 2048, .decoder_layers = 40, .attention_at = {5, 15, 25, 35}, .heads = 32,
                        .kv_heads = 8, .attention_multiplier = 0.015625f, .mamba_heads = 64, .d_state = 128,
                        .shared_ff = 8192, .logits_scaling = 8.0f});
  } else if (name == "granite-4.0-h-1b") {
    // ibm-granite/granite-4.0-h-1b: published as a hybrid (dense), from its GGUF metadata
    // (ollama.com/library/granite4:1b-h: embedding_length 1536, block_count 40, head_count
    // 12, attention.scale 0.0078125, expert_count 0, feed_forward_length and
    // expert_shared_feed_forward_length 4096, ssm.inner_size 3072, ssm.time_step_rank 48,
    // ssm.state_size 128, ssm.group_count 1, logit_scale 6, residual_scale 0.22,
    // embedding_scale 12, vocab 100352) and its config.json (num_key_value_heads 4,
    // attention at decoder layers 5, 15, 25, 35, tied, max_position_embeddings 131072).
    c = granite_hybrid({.d_model = 1536, .decoder_layers = 40, .attention_at = {5, 15, 25, 35}, .heads = 12,
                        .kv_heads = 4, .attention_multiplier = 0.0078125f, .mamba_heads = 48, .d_state = 128,
                        .shared_ff = 4096, .logits_scaling = 6.0f});
  } else if (name == "small-hybrid") {
    // A few of every hybrid part, for fast tests: Mamba-2 (8 heads of 32, 2 groups), GQA
    // attention with RoPE (4 query, 2 key/value heads of 32), an MoE of 8 SwiGLU experts
    // (top 2, softmax renormalized) with a shared expert, a SwiGLU MLP; Granite's
    // embedding / residual / logit multipliers; 2K context.
    c.d_model = 128;
    c.vocab_size = 512;
    c.embedding_scale = 4.0f;
    c.residual_scale = 0.5f;
    c.logits_divisor = 2.0f;
    c.context_length = 2048;
    LayerConfig mamba2 = mamba2_layer(128);
    mamba2.mamba2.n_heads = 8;
    mamba2.mamba2.n_groups = 2;
    mamba2.mamba2.d_state = 16;
    const LayerConfig attention = attention_layer(4, 2, 32, 32);
    LayerConfig moe = moe_layer(8, 2, 64, ExpertAct::SwiGLU);
    moe.moe.renorm = true;
    moe.moe.n_shared = 1;
    moe.moe.shared = {128, ExpertAct::SwiGLU};
    c.layers = {mamba2, moe, attention, moe, mamba2, mlp_layer(256, ExpertAct::SwiGLU)};
  } else {
    std::string known;
    for (const auto& n : named_shapes()) known += (known.empty() ? "" : ", ") + n;
    fail(MMB_ERR_INVALID_ARGUMENT, "unknown shape '", name, "' (known: ", known, ")");
  }
  return c;
}

std::vector<std::string> named_shapes() {
  return {"tiny",          "tiny-parallel-routed", "mamba-130m",         "moe-mamba-130m",
          "mamba2-130m",   "mamba2-1.3b",          "falcon-mamba-7b",    "nemotron-h-4b",
          "small-hybrid",  "granite-4.0-h-tiny",   "granite-4.0-h-micro", "granite-4.0-h-1b"};
}

}  // namespace mmb
