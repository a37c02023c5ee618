#include "model/model.hpp"

#include "base/checksum.hpp"
#include "base/error.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace mmb {

namespace {

class Binder {
 public:
  explicit Binder(const LoadedBundle& b) : bundle_(b) {}

  Matrix matrix(const std::string& name, uint64_t rows = 0) {
    const TensorView* t = bundle_.find(name);
    if (!t) fail(MMB_ERR_FORMAT, "bundle lacks tensor '", name, "'");
    Matrix m;
    m.data = t->data;
    m.dtype = t->dtype;
    m.rows = t->shape.empty() ? 1 : t->shape[0];
    m.cols = 1;
    for (size_t i = 1; i < t->shape.size(); ++i) m.cols *= t->shape[i];
    if (dtype_quantized(m.dtype))  // the reader checked the size
      m.scales = t->data + *quantized_scales_offset(m.dtype, m.rows, m.cols);
    if (rows) m.rows = rows;  // use only the first rows (padded vocabularies)
    return m;
  }
  Matrix optional(const std::string& name) { return bundle_.find(name) ? matrix(name) : Matrix{}; }
  LinearWeights linear(const std::string& prefix) { return {matrix(prefix + ".weight"), optional(prefix + ".bias")}; }
  NormWeights norm(NormKind kind, const std::string& prefix) {
    NormWeights n;
    n.kind = kind;
    if (kind == NormKind::None) return n;
    n.weight = matrix(prefix + ".weight");
    if (kind == NormKind::Layer) n.bias = matrix(prefix + ".bias");
    return n;
  }
  ProjectionWeights projection(const std::string& prefix, const std::optional<ProjectionExperts>& e) {
    ProjectionWeights w;
    if (!e) {
      w.plain = linear(prefix);
      return w;
    }
    w.router = linear(prefix + ".router");
    w.sel_bias = optional(prefix + ".router.sel_bias");
    for (uint32_t j = 0; j < e->n_experts; ++j) w.experts.push_back(linear(cat(prefix, ".experts.", j)));
    return w;
  }
  FeedForwardWeights feed_forward(const std::string& prefix, const FeedForwardConfig& ff) {
    FeedForwardWeights w;
    w.w1 = linear(prefix + ".w1");
    w.w2 = linear(prefix + ".w2");
    if (ff.gated()) w.w3 = linear(prefix + ".w3");
    return w;
  }

 private:
  const LoadedBundle& bundle_;
};

uint64_t linear_bytes(const LinearWeights& l) { return l.weight.bytes() + l.bias.bytes(); }
// Bytes of the experts a token leaves unused in one projection (0 when plain).
uint64_t unused_projection_bytes(const ProjectionWeights& w, const std::optional<ProjectionExperts>& e) {
  return e ? linear_bytes(w.experts[0]) * (e->n_experts - e->top_k) : 0;
}
uint64_t feed_forward_bytes(const FeedForwardWeights& f) {
  return linear_bytes(f.w1) + linear_bytes(f.w2) + linear_bytes(f.w3);
}

// Element i of a tensor the reader allows only in f32, f16 or bf16 (A_log).
float element(const Matrix& m, uint64_t i) {
  switch (m.dtype) {
    case DType::F32: { float f; std::memcpy(&f, m.data + 4 * i, 4); return f; }
    case DType::F16: { uint16_t h; std::memcpy(&h, m.data + 2 * i, 2); return f16_to_f32(h); }
    case DType::BF16: { uint16_t h; std::memcpy(&h, m.data + 2 * i, 2); return bf16_to_f32(h); }
    case DType::Q8:
    case DType::Q4: break;
  }
  fail(MMB_ERR_INTERNAL, "element(): quantized tensor where the format forbids it");
}

}  // namespace

Model::Model(std::unique_ptr<LoadedBundle> bundle, std::pmr::memory_resource* memory, const Backend& backend)
    : bundle_(std::move(bundle)), weights_(memory) {
  const ModelConfig& c = bundle_->config();
  Binder bind(*bundle_);
  uint64_t inactive = 0;  // bytes of the experts a token does not use

  weights_.embed = bind.matrix("embed.weight");
  weights_.layers.resize(c.layers.size());
  weights_.A.resize(c.layers.size());
  uint64_t state = 0;
  for (size_t i = 0; i < c.layers.size(); ++i) {
    const LayerConfig& lc = c.layers[i];
    LayerWeights& lw = weights_.layers[i];
    const std::string p = cat("layers.", i);
    lw.norm = bind.norm(c.norm, p + ".norm");
    if (lc.kind == LayerKind::Parallel && !lc.shared_norm) lw.norm_moe = bind.norm(c.norm, p + ".norm_moe");
    if (lc.has_mamba()) {
      const std::string q = p + ".mamba";
      const MambaConfig& mc = lc.mamba;
      MambaWeights& m = lw.mamba;
      if (mc.split_in_proj()) {
        m.x_in = bind.projection(q + ".x_proj_in", mc.x_proj_experts);
        m.z_in = bind.projection(q + ".z_proj_in", mc.z_proj_experts);
      } else {
        m.in_proj = bind.linear(q + ".in_proj");
      }
      m.conv_weight = bind.matrix(q + ".conv1d.weight");
      m.conv_bias = bind.optional(q + ".conv1d.bias");
      m.x_proj = bind.matrix(q + ".x_proj.weight");
      m.dt_proj = bind.linear(q + ".dt_proj");
      m.A_log = bind.matrix(q + ".A_log");
      m.D = bind.matrix(q + ".D");
      m.out_proj = bind.projection(q + ".out_proj", mc.out_proj_experts);
      if (mc.dt_bc_norm == InnerNorm::RMSWeighted) {
        m.dt_norm = bind.matrix(q + ".dt_norm.weight");
        m.b_norm = bind.matrix(q + ".b_norm.weight");
        m.c_norm = bind.matrix(q + ".c_norm.weight");
      }
      inactive += unused_projection_bytes(m.x_in, mc.x_proj_experts) + unused_projection_bytes(m.z_in, mc.z_proj_experts) +
                  unused_projection_bytes(m.out_proj, mc.out_proj_experts);
      for (const auto* e : {&mc.x_proj_experts, &mc.z_proj_experts, &mc.out_proj_experts})
        if (*e) sizes_.max_experts = std::max<uint64_t>(sizes_.max_experts, (*e)->n_experts);
      auto& A = weights_.A[i];
      A.resize(m.A_log.rows * m.A_log.cols);
      for (uint64_t k = 0; k < A.size(); ++k) A[k] = -std::exp(element(m.A_log, k));
      lw.state_offset = state;
      state += uint64_t(mc.d_inner) * (mc.d_state + mc.d_conv - 1);
      sizes_.max_d_inner = std::max<uint64_t>(sizes_.max_d_inner, mc.d_inner);
      sizes_.max_d_state = std::max<uint64_t>(sizes_.max_d_state, mc.d_state);
      sizes_.max_d_conv = std::max<uint64_t>(sizes_.max_d_conv, mc.d_conv);
      sizes_.max_dbc = std::max<uint64_t>(sizes_.max_dbc, mc.dt_rank + 2ull * mc.d_state);
    }
    if (lc.kind == LayerKind::Mamba2) {
      const std::string q = p + ".mamba2";
      const Mamba2Config& mc = lc.mamba2;
      Mamba2Weights& m = lw.mamba2;
      m.in_proj = bind.linear(q + ".in_proj");
      m.conv_weight = bind.matrix(q + ".conv1d.weight");
      m.conv_bias = bind.optional(q + ".conv1d.bias");
      m.dt_bias = bind.matrix(q + ".dt_bias");
      m.D = bind.matrix(q + ".D");
      if (mc.gated_norm) m.norm = bind.matrix(q + ".norm.weight");
      m.out_proj = bind.linear(q + ".out_proj");
      const Matrix A_log = bind.matrix(q + ".A_log");
      auto& A = weights_.A[i];
      A.resize(mc.n_heads);
      for (uint64_t k = 0; k < A.size(); ++k) A[k] = -std::exp(element(A_log, k));
      lw.state_offset = state;
      state += uint64_t(mc.d_inner) * mc.d_state + uint64_t(mc.conv_channels()) * (mc.d_conv - 1);
      sizes_.max_d_inner = std::max<uint64_t>(sizes_.max_d_inner, mc.d_inner);
      sizes_.max_d_state = std::max<uint64_t>(sizes_.max_d_state, mc.d_state);
      sizes_.max_d_conv = std::max<uint64_t>(sizes_.max_d_conv, mc.d_conv);
      sizes_.max_in_proj = std::max<uint64_t>(sizes_.max_in_proj, mc.in_proj_rows());
      sizes_.max_conv_channels = std::max<uint64_t>(sizes_.max_conv_channels, mc.conv_channels());
      sizes_.max_groups = std::max<uint64_t>(sizes_.max_groups, mc.n_groups);
    }
    if (lc.kind == LayerKind::Attention) {
      const std::string q = p + ".attn";
      AttentionWeights& a = lw.attention;
      a.q = bind.linear(q + ".q_proj");
      a.k = bind.linear(q + ".k_proj");
      a.v = bind.linear(q + ".v_proj");
      a.o = bind.linear(q + ".o_proj");
      lw.kv_slot = uint32_t(sizes_.attention_layers++);
      sizes_.max_attention_heads = std::max<uint64_t>(sizes_.max_attention_heads, lc.attention.n_heads);
      sizes_.max_q_dim = std::max<uint64_t>(sizes_.max_q_dim, lc.attention.q_dim());
      sizes_.max_kv_dim = std::max<uint64_t>(sizes_.max_kv_dim, lc.attention.kv_dim());
    }
    if (lc.has_moe()) {
      const std::string q = p + ".moe";
      const MoEConfig& mc = lc.moe;
      MoEWeights& m = lw.moe;
      m.router = bind.linear(q + ".router");
      m.sel_bias = bind.optional(q + ".router.sel_bias");
      for (uint32_t j = 0; j < mc.n_experts; ++j) m.experts.push_back(bind.feed_forward(cat(q, ".experts.", j), mc.expert));
      inactive += feed_forward_bytes(m.experts[0]) * (mc.n_experts - mc.top_k);
      for (uint32_t j = 0; j < mc.n_shared; ++j) m.shared.push_back(bind.feed_forward(cat(q, ".shared.", j), mc.shared));
      sizes_.max_experts = std::max<uint64_t>(sizes_.max_experts, mc.n_experts);
      sizes_.max_d_ff = std::max<uint64_t>(sizes_.max_d_ff, mc.expert.d_ff);
      if (mc.n_shared) sizes_.max_d_ff = std::max<uint64_t>(sizes_.max_d_ff, mc.shared.d_ff);
    }
    if (lc.kind == LayerKind::MLP) {
      lw.mlp = bind.feed_forward(p + ".mlp", lc.mlp);
      sizes_.max_d_ff = std::max<uint64_t>(sizes_.max_d_ff, lc.mlp.d_ff);
    }
  }
  weights_.norm_f = bind.norm(c.final_norm, "norm_f");
  weights_.head = c.tie_embeddings ? weights_.embed : bind.matrix("lm_head.weight");
  weights_.head.rows = c.vocab_size;  // padded rows are never computed

  for (const TensorView& t : bundle_->tensors()) sizes_.weight_bytes += t.raw_size;
  // Per token: every weight but the unused experts and the embedding (one row of it),
  // plus the head (for a tied model that is the embedding's first vocab rows).
  Matrix embed_row = weights_.embed;
  embed_row.rows = 1;
  sizes_.active_weight_bytes = sizes_.weight_bytes - inactive - weights_.embed.bytes() + embed_row.bytes() +
                               (c.tie_embeddings ? weights_.head.bytes() : 0);
  state_floats_ = state;
  kv_values_per_token_ = kv_elements_per_token(c);
  tokenizer_ = std::make_unique<Tokenizer>(bundle_->tokenizer(), memory);
  chat_templates_ = std::make_unique<ChatTemplateSet>(bundle_->tokenizer(), *tokenizer_);
  for (int32_t id : bundle_->tokenizer().stop_ids) {
    if (id < 0 || id >= tokenizer_->n_pieces())
      fail(MMB_ERR_FORMAT, "tokenizer: stop token ", id, " is outside [0, ", tokenizer_->n_pieces(), ")");
    if (id != tokenizer_->eos_id() && std::find(stop_tokens_.begin(), stop_tokens_.end(), id) == stop_tokens_.end())
      stop_tokens_.push_back(id);
  }
  bundle_->release_tokenizer_data();  // the tokenizer and the templates hold all of it now

  // The fingerprint binds saved states to exactly this config and these weights:
  // the tensors' names, shapes, dtypes and checksums, and the config's scalars.
  Xxh64Stream h(0x6d6d62);
  auto add = [&](const void* p, size_t n) { h.update(p, n); };
  add(&c.d_model, 4); add(&c.vocab_size, 4); add(&c.norm, 1); add(&c.final_norm, 1); add(&c.norm_eps, 4);
  for (const TensorView& t : bundle_->tensors()) {
    add(t.name.data(), t.name.size());
    add(&t.dtype, 1);
    add(t.shape.data(), t.shape.size() * sizeof(uint64_t));
    add(&t.xxh64, 8);
  }
  fingerprint_ = h.digest();

  if (const std::string* n = meta("name")) name_ = *n;
  compute_ = backend.prepare(*this);  // last: the backend reads the bound weights
}

const std::string* Model::meta(const std::string& key) const {
  for (const auto& [k, v] : bundle_->metadata())
    if (k == key) return &v;
  return nullptr;
}

}  // namespace mmb
