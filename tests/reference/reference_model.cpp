#include "reference/reference_model.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace mmb::reference {

namespace {

double silu(double x) { return x / (1.0 + std::exp(-x)); }
double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double gelu(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }
double gelu_tanh(double x) {
  const double pi = 3.14159265358979323846;
  return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / pi) * (x + 0.044715 * x * x * x)));
}
// log(1 + e^x), written so that neither branch overflows.
double softplus(double x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }
double relu(double x) { return x > 0 ? x : 0.0; }

double expert_act(ExpertAct act, double x) {
  switch (act) {
    case ExpertAct::ReLU: return relu(x);
    case ExpertAct::GELU: return gelu(x);
    case ExpertAct::GELUTanh: return gelu_tanh(x);
    case ExpertAct::SiLU: return silu(x);
    case ExpertAct::SwiGLU: return silu(x);
    case ExpertAct::GeGLU: return gelu(x);
    case ExpertAct::ReLU2: return relu(x) * relu(x);
  }
  throw std::logic_error("unknown expert activation");
}

std::string layer_prefix(size_t i) { return "layers." + std::to_string(i); }

void expect_size(const std::vector<double>& v, size_t n, const std::string& name) {
  if (v.size() != n)
    throw std::runtime_error("reference: tensor " + name + " has " + std::to_string(v.size()) + " values, expected " +
                             std::to_string(n));
}

// The causal depthwise conv of Mamba and Mamba-2, one token. window ([channels][d_conv])
// keeps the last d_conv inputs per channel, oldest first: drop the oldest, append x[c];
// then x[c] = silu(sum_k w[c,k] * window[c,k] + b[c]) (b may be empty).
void conv_step(std::vector<double>& window, const std::vector<double>& w, const std::vector<double>& b,
               std::vector<double>& x) {
  const size_t channels = x.size(), d_conv = window.size() / channels;
  for (size_t c = 0; c < channels; ++c) {
    double* win = &window[c * d_conv];
    for (size_t k = 0; k + 1 < d_conv; ++k) win[k] = win[k + 1];
    win[d_conv - 1] = x[c];
    double sum = b.empty() ? 0.0 : b[c];
    for (size_t k = 0; k < d_conv; ++k) sum += w[c * d_conv + k] * win[k];
    x[c] = silu(sum);
  }
}


// RMSNorm of v[0, n) in place: v / sqrt(mean(v^2) + eps), times weight when given.
void rms_normalize(double* v, size_t n, const double* weight, double eps) {
  double mean_sq = 0.0;
  for (size_t i = 0; i < n; ++i) mean_sq += v[i] * v[i];
  mean_sq /= double(n);
  const double inv = 1.0 / std::sqrt(mean_sq + eps);
  for (size_t i = 0; i < n; ++i) v[i] = v[i] * inv * (weight ? weight[i] : 1.0);
}

}  // namespace

std::vector<double> quantized_input(const std::vector<double>& x) {
  std::vector<double> out(x.size());
  for (size_t g = 0; g < x.size(); g += 32) {
    const size_t end = std::min(x.size(), g + 32);
    float m = 0.0f;
    bool finite = true;
    for (size_t k = g; k < end; ++k) {
      m = std::max(m, std::fabs(float(x[k])));
      finite = finite && std::isfinite(float(x[k]));
    }
    const float d = m / 127.0f;
    for (size_t k = g; k < end; ++k) {
      if (!finite) out[k] = NAN;
      else if (d == 0.0f) out[k] = 0.0;
      else out[k] = double(d) * std::clamp(std::nearbyint(double(float(x[k]) / d)), -127.0, 127.0);
    }
  }
  return out;
}

ReferenceModel::ReferenceModel(const ModelConfig& config, const TensorValues& values, const QuantizedWeights& quantized_weights)
    : config_(config), quantized_weights_(quantized_weights) {
  const size_t d = config.d_model;
  const size_t vocab = config.vocab_size;

  embed_ = values("embed.weight");
  if (embed_.size() % d != 0 || embed_.size() / d < vocab) throw std::runtime_error("reference: bad embed.weight size");
  std::vector<double> head = config.tie_embeddings ? embed_ : values("lm_head.weight");
  if (head.size() % d != 0 || head.size() / d < vocab) throw std::runtime_error("reference: bad head size");
  head_.assign(head.begin(), head.begin() + vocab * d);  // padded rows never produce logits
  head_quantized_ = quantized_weights_ && quantized_weights_(config.tie_embeddings ? "embed.weight" : "lm_head.weight");

  final_norm_ = load_norm(values, config.final_norm, "norm_f");

  for (size_t i = 0; i < config.layers.size(); ++i) {
    const LayerConfig& lc = config.layers[i];
    const std::string p = layer_prefix(i);
    Layer layer;
    layer.kind = lc.kind;
    layer.norm = load_norm(values, config.norm, p + ".norm");
    if (lc.kind == LayerKind::Parallel)
      layer.norm_moe = lc.shared_norm ? layer.norm : load_norm(values, config.norm, p + ".norm_moe");
    if (lc.kind == LayerKind::Mamba || lc.kind == LayerKind::Parallel) {
      MambaLayer& m = layer.mamba;
      const MambaConfig& c = lc.mamba;
      const std::string q = p + ".mamba";
      m.cfg = c;
      if (c.x_proj_experts || c.z_proj_experts) {
        m.x_in = load_projection(values, q + ".x_proj_in", c.x_proj_experts, c.in_proj_bias, c.d_inner, d);
        m.z_in = load_projection(values, q + ".z_proj_in", c.z_proj_experts, c.in_proj_bias, c.d_inner, d);
      } else {
        m.in_proj = load_projection(values, q + ".in_proj", std::nullopt, c.in_proj_bias, 2 * c.d_inner, d);
      }
      m.conv_w = values(q + ".conv1d.weight");
      expect_size(m.conv_w, size_t(c.d_inner) * c.d_conv, q + ".conv1d.weight");
      if (c.conv_bias) {
        m.conv_b = values(q + ".conv1d.bias");
        expect_size(m.conv_b, c.d_inner, q + ".conv1d.bias");
      }
      m.x_proj = load_linear(values, q + ".x_proj", false, c.dt_rank + 2 * c.d_state, c.d_inner);
      if (c.dt_bc_norm == InnerNorm::RMSWeighted) {
        m.dt_norm = values(q + ".dt_norm.weight");
        expect_size(m.dt_norm, c.dt_rank, q + ".dt_norm.weight");
        m.b_norm = values(q + ".b_norm.weight");
        expect_size(m.b_norm, c.d_state, q + ".b_norm.weight");
        m.c_norm = values(q + ".c_norm.weight");
        expect_size(m.c_norm, c.d_state, q + ".c_norm.weight");
      }
      m.dt_proj = load_linear(values, q + ".dt_proj", true, c.d_inner, c.dt_rank);
      m.A_log = values(q + ".A_log");
      expect_size(m.A_log, size_t(c.d_inner) * c.d_state, q + ".A_log");
      m.D = values(q + ".D");
      expect_size(m.D, c.d_inner, q + ".D");
      m.out_proj = load_projection(values, q + ".out_proj", c.out_proj_experts, c.out_proj_bias, d, c.d_inner);
    }
    if (lc.kind == LayerKind::Mamba2) {
      Mamba2Layer& m = layer.mamba2;
      const Mamba2Config& c = lc.mamba2;
      const std::string q = p + ".mamba2";
      const size_t channels = size_t(c.d_inner) + 2 * size_t(c.n_groups) * c.d_state;  // x, B, C
      m.cfg = c;
      m.in_proj = load_linear(values, q + ".in_proj", c.in_proj_bias, c.d_inner + channels + c.n_heads, d);  // z, xBC, dt
      m.conv_w = values(q + ".conv1d.weight");
      expect_size(m.conv_w, channels * c.d_conv, q + ".conv1d.weight");
      if (c.conv_bias) {
        m.conv_b = values(q + ".conv1d.bias");
        expect_size(m.conv_b, channels, q + ".conv1d.bias");
      }
      m.dt_bias = values(q + ".dt_bias");
      expect_size(m.dt_bias, c.n_heads, q + ".dt_bias");
      m.A_log = values(q + ".A_log");
      expect_size(m.A_log, c.n_heads, q + ".A_log");
      m.D = values(q + ".D");
      expect_size(m.D, c.d_per_channel ? c.d_inner : c.n_heads, q + ".D");
      if (c.gated_norm) {
        m.norm = values(q + ".norm.weight");
        expect_size(m.norm, c.d_inner, q + ".norm.weight");
      }
      m.out_proj = load_linear(values, q + ".out_proj", c.out_proj_bias, d, c.d_inner);
    }
    if (lc.kind == LayerKind::Attention) {
      AttentionLayer& a = layer.attention;
      const AttentionConfig& c = lc.attention;
      const std::string q = p + ".attn";
      const size_t q_dim = size_t(c.n_heads) * c.head_dim, kv_dim = size_t(c.n_kv_heads) * c.head_dim;
      a.cfg = c;
      a.q = load_linear(values, q + ".q_proj", c.qkv_bias, q_dim, d);
      a.k = load_linear(values, q + ".k_proj", c.qkv_bias, kv_dim, d);
      a.v = load_linear(values, q + ".v_proj", c.qkv_bias, kv_dim, d);
      a.o = load_linear(values, q + ".o_proj", c.out_bias, d, q_dim);
    }
    if (lc.kind == LayerKind::MoE || lc.kind == LayerKind::Parallel) {
      MoELayer& m = layer.moe;
      const MoEConfig& c = lc.moe;
      const std::string q = p + ".moe";
      m.cfg = c;
      m.router = {c.n_experts, c.top_k, c.router, c.renorm, c.routed_scale,
                  load_linear(values, q + ".router", c.router_bias, c.n_experts, d), {}};
      m.router.n_groups = c.n_groups;
      m.router.topk_groups = c.topk_groups;
      if (c.sel_bias) {
        m.router.sel_bias = values(q + ".router.sel_bias");
        expect_size(m.router.sel_bias, c.n_experts, q + ".router.sel_bias");
      }
      for (uint32_t j = 0; j < c.n_experts; ++j)
        m.experts.push_back(load_feed_forward(values, q + ".experts." + std::to_string(j), c.expert));
      for (uint32_t j = 0; j < c.n_shared; ++j)
        m.shared.push_back(load_feed_forward(values, q + ".shared." + std::to_string(j), c.shared));
    }
    if (lc.kind == LayerKind::MLP) layer.mlp = load_feed_forward(values, p + ".mlp", lc.mlp);
    layers_.push_back(std::move(layer));
  }
  reset();
}

void ReferenceModel::reset() {
  for (Layer& layer : layers_) {
    if (layer.kind == LayerKind::Mamba || layer.kind == LayerKind::Parallel) {
      MambaLayer& m = layer.mamba;
      m.conv_window.assign(size_t(m.cfg.d_inner) * m.cfg.d_conv, 0.0);
      m.s.assign(size_t(m.cfg.d_inner) * m.cfg.d_state, 0.0);
    }
    if (layer.kind == LayerKind::Mamba2) {
      Mamba2Layer& m = layer.mamba2;
      const size_t channels = size_t(m.cfg.d_inner) + 2 * size_t(m.cfg.n_groups) * m.cfg.d_state;
      m.conv_window.assign(channels * m.cfg.d_conv, 0.0);
      m.s.assign(size_t(m.cfg.d_inner) * m.cfg.d_state, 0.0);
    }
    layer.attention.keys.clear();
    layer.attention.values.clear();
  }
  position_ = 0;
  min_selection_margin_ = std::numeric_limits<double>::infinity();
}

const std::vector<double>& ReferenceModel::ssm_state(size_t layer) const {
  const Layer& l = layers_.at(layer);
  if (l.kind == LayerKind::Mamba2) return l.mamba2.s;
  if (l.kind == LayerKind::Mamba || l.kind == LayerKind::Parallel) return l.mamba.s;
  throw std::logic_error("reference: layer " + std::to_string(layer) + " has no scan state");
}

std::vector<double> ReferenceModel::step(int token) {
  const size_t d = config_.d_model;
  if (token < 0 || size_t(token) >= config_.vocab_size) throw std::out_of_range("reference: token out of range");

  // Residual stream starts as the token's embedding row times embedding_scale.
  std::vector<double> r(embed_.begin() + size_t(token) * d, embed_.begin() + size_t(token + 1) * d);
  for (double& v : r) v *= config_.embedding_scale;

  // Each block: r = r + residual_scale * mixer(norm(r)); a parallel block's mixer is
  // mamba(norm(r)) + moe(norm_moe(r)).
  for (Layer& layer : layers_) {
    std::vector<double> h = apply(layer.norm, r);
    std::vector<double> out;
    if (layer.kind == LayerKind::Mamba) out = mamba(layer.mamba, h);
    else if (layer.kind == LayerKind::Mamba2) out = mamba2(layer.mamba2, h);
    else if (layer.kind == LayerKind::Attention) out = attention(layer.attention, h);
    else if (layer.kind == LayerKind::MoE) out = moe(layer.moe, h);
    else if (layer.kind == LayerKind::MLP) out = feed_forward(layer.mlp, h);
    else {
      out = mamba(layer.mamba, h);
      std::vector<double> moe_out = moe(layer.moe, apply(layer.norm_moe, r));
      for (size_t i = 0; i < d; ++i) out[i] += moe_out[i];
    }
    for (size_t i = 0; i < d; ++i) r[i] += config_.residual_scale * out[i];
  }
  ++position_;

  // logits = head(norm_f(r)) / logits_divisor, for the real vocabulary only.
  std::vector<double> h = apply(final_norm_, r);
  if (head_quantized_) h = quantized_input(h);
  std::vector<double> logits(config_.vocab_size, 0.0);
  for (size_t v = 0; v < config_.vocab_size; ++v) {
    for (size_t i = 0; i < d; ++i) logits[v] += head_[v * d + i] * h[i];
    logits[v] /= config_.logits_divisor;
  }
  return logits;
}

// Mamba-1, one token: DESIGN.md section 5 line by line.
std::vector<double> ReferenceModel::mamba(MambaLayer& m, const std::vector<double>& h) {
  const size_t d_inner = m.cfg.d_inner, d_state = m.cfg.d_state, dt_rank = m.cfg.dt_rank;

  // xz = in_proj(h) [+ bias]; x, z = split(xz). Split: x = x_proj_in(h), z = z_proj_in(h).
  std::vector<double> x, z;
  if (m.cfg.x_proj_experts || m.cfg.z_proj_experts) {
    x = apply(m.x_in, h);
    z = apply(m.z_in, h);
  } else {
    std::vector<double> xz = apply(m.in_proj, h);
    x.assign(xz.begin(), xz.begin() + d_inner);
    z.assign(xz.begin() + d_inner, xz.end());
  }

  // The conv window keeps the last d_conv values of x per channel, oldest first;
  // x = silu(sum_k conv_w[c,k] * window[c,k] + conv_b[c])
  conv_step(m.conv_window, m.conv_w, m.conv_b, x);

  // dt, B, C = split(x_proj(x), [dt_rank, d_state, d_state])
  std::vector<double> dbc = apply(m.x_proj, x);
  std::vector<double> dt_low(dbc.begin(), dbc.begin() + dt_rank);
  std::vector<double> B(dbc.begin() + dt_rank, dbc.begin() + dt_rank + d_state);
  std::vector<double> C(dbc.begin() + dt_rank + d_state, dbc.end());

  // Falcon-Mamba / Jamba: each of dt, B, C RMS-normalised over its own length (times its
  // weight for RMSWeighted) before use.
  if (m.cfg.dt_bc_norm != InnerNorm::None) {
    const bool weighted = m.cfg.dt_bc_norm == InnerNorm::RMSWeighted;
    const double eps = m.cfg.dt_bc_norm_eps;
    rms_normalize(dt_low.data(), dt_rank, weighted ? m.dt_norm.data() : nullptr, eps);
    rms_normalize(B.data(), d_state, weighted ? m.b_norm.data() : nullptr, eps);
    rms_normalize(C.data(), d_state, weighted ? m.c_norm.data() : nullptr, eps);
  }

  // dt = softplus(dt_proj(dt) + dt_bias)   (dt_proj carries dt_bias as its bias)
  std::vector<double> dt = apply(m.dt_proj, dt_low);
  for (double& v : dt) v = softplus(v);

  // s = s * exp(dt * A) + (dt * x) * B, with A = -exp(A_log)
  // y = (s @ C + D * x) * silu(z)
  std::vector<double> y(d_inner);
  for (size_t c = 0; c < d_inner; ++c) {
    double sc = 0.0;
    for (size_t n = 0; n < d_state; ++n) {
      const double A = -std::exp(m.A_log[c * d_state + n]);
      double& s = m.s[c * d_state + n];
      s = s * std::exp(dt[c] * A) + (dt[c] * x[c]) * B[n];
      sc += s * C[n];
    }
    y[c] = (sc + m.D[c] * x[c]) * silu(z[c]);
  }

  // out = out_proj(y) [+ bias]
  return apply(m.out_proj, y);
}

// Mamba-2 (SSD), one token: DESIGN.md section 5 and mamba_ssm's Mamba2, line by line.
std::vector<double> ReferenceModel::mamba2(Mamba2Layer& m, const std::vector<double>& h) {
  const Mamba2Config& c = m.cfg;
  const size_t d_inner = c.d_inner, N = c.d_state, H = c.n_heads, G = c.n_groups;
  const size_t P = d_inner / H;                 // head_dim
  const size_t heads_per_group = H / G;
  const size_t channels = d_inner + 2 * G * N;  // the conv's: x, B, C

  // zxbcdt = in_proj(h) [+ bias]; z, xBC, dt = split(zxbcdt, [d_inner, channels, H])
  const std::vector<double> zxbcdt = apply(m.in_proj, h);
  std::vector<double> z(zxbcdt.begin(), zxbcdt.begin() + d_inner);
  std::vector<double> xBC(zxbcdt.begin() + d_inner, zxbcdt.begin() + d_inner + channels);
  std::vector<double> dt(zxbcdt.begin() + d_inner + channels, zxbcdt.end());

  // xBC = silu(causal depthwise conv(xBC)), the window as in Mamba-1.
  conv_step(m.conv_window, m.conv_w, m.conv_b, xBC);

  // x, B, C = split(xBC, [d_inner, G * N, G * N]): x[h][p], B[g][n], C[g][n].
  const double* x = &xBC[0];
  const double* B = &xBC[d_inner];
  const double* C = &xBC[d_inner + G * N];

  // Per head h (group g = h / (H / G)): dt_h = clamp(softplus(dt_h + dt_bias_h), dt_min,
  // dt_max); A_h = -exp(A_log_h); s[h][p][n] = s * exp(dt_h A_h) + dt_h x[h][p] B[g][n];
  // y[h][p] = sum_n s[h][p][n] C[g][n] + D x[h][p].
  std::vector<double> y(d_inner);
  for (size_t hd = 0; hd < H; ++hd) {
    const size_t g = hd / heads_per_group;
    double dt_h = softplus(dt[hd] + m.dt_bias[hd]);
    dt_h = std::min(std::max(dt_h, double(c.dt_min)), double(c.dt_max));
    const double A = -std::exp(m.A_log[hd]);
    const double decay = std::exp(dt_h * A);
    for (size_t p = 0; p < P; ++p) {
      const size_t ch = hd * P + p;
      double sum = 0.0;
      for (size_t n = 0; n < N; ++n) {
        double& s = m.s[ch * N + n];
        s = s * decay + dt_h * x[ch] * B[g * N + n];
        sum += s * C[g * N + n];
      }
      y[ch] = sum + (c.d_per_channel ? m.D[ch] : m.D[hd]) * x[ch];
    }
  }

  // u = y * silu(z); with gated_norm, RMS-normalised per group of norm_group()
  // consecutive channels (eps norm_eps), times norm.weight.
  for (size_t i = 0; i < d_inner; ++i) y[i] *= silu(z[i]);
  if (c.gated_norm) {
    const size_t group = c.norm_group_size ? c.norm_group_size : d_inner / G;
    for (size_t start = 0; start < d_inner; start += group)
      rms_normalize(&y[start], group, &m.norm[start], c.norm_eps);
  }

  // out = out_proj(u) [+ bias]
  return apply(m.out_proj, y);
}

// Attention, one token at position_: DESIGN.md section 5 and the spec's AttentionConfig.
std::vector<double> ReferenceModel::attention(AttentionLayer& a, const std::vector<double>& h) {
  const AttentionConfig& c = a.cfg;
  const size_t H = c.n_heads, hd = c.head_dim;
  const size_t g = H / c.n_kv_heads;  // query heads per key/value head

  // q, k, v = q_proj(h), k_proj(h), v_proj(h) [+ biases]: q [H][hd], k and v [H_kv][hd].
  std::vector<double> q = apply(a.q, h), k = apply(a.k, h), v = apply(a.v, h);

  // RoPE, rotate-half: in each head, the pairs (x[i], x[i + rd/2]) for i < rd/2 turn by
  // the angle position * theta^(-2i/rd); dimensions from rotary_dim on stay as they are.
  if (c.rotary_dim) {
    const size_t half = c.rotary_dim / 2;
    auto rotate = [&](std::vector<double>& heads) {
      for (size_t start = 0; start < heads.size(); start += hd)
        for (size_t i = 0; i < half; ++i) {
          const double inv_freq = std::pow(double(c.rope_theta), -double(2 * i) / double(c.rotary_dim));
          const double angle = double(position_) * inv_freq;
          const double x1 = heads[start + i], x2 = heads[start + i + half];
          heads[start + i] = x1 * std::cos(angle) - x2 * std::sin(angle);
          heads[start + i + half] = x2 * std::cos(angle) + x1 * std::sin(angle);
        }
    };
    rotate(q);
    rotate(k);
  }

  // The token attends to itself and every earlier token.
  a.keys.push_back(k);
  a.values.push_back(v);

  // Query head i reads key/value head i / g: w_t = softmax_t(scale * q_i . k_t), out_i =
  // sum_t w_t v_t; scale 0 means 1 / sqrt(head_dim).
  const double scale = c.scale > 0.0f ? double(c.scale) : 1.0 / std::sqrt(double(hd));
  const size_t T = a.keys.size();
  std::vector<double> heads(H * hd, 0.0), w(T);
  for (size_t i = 0; i < H; ++i) {
    const size_t j = i / g;
    double max = -std::numeric_limits<double>::infinity();
    for (size_t t = 0; t < T; ++t) {
      double dot = 0.0;
      for (size_t e = 0; e < hd; ++e) dot += q[i * hd + e] * a.keys[t][j * hd + e];
      w[t] = scale * dot;
      max = std::max(max, w[t]);
    }
    double sum = 0.0;
    for (double& x : w) { x = std::exp(x - max); sum += x; }
    for (size_t t = 0; t < T; ++t)
      for (size_t e = 0; e < hd; ++e) heads[i * hd + e] += w[t] / sum * a.values[t][j * hd + e];
  }

  // out = o_proj(heads) [+ bias]
  return apply(a.o, heads);
}

// Routing, one token: DESIGN.md section 5.
std::vector<std::pair<size_t, double>> ReferenceModel::route(const Router& r, const std::vector<double>& h) {
  const size_t n_experts = r.n_experts;

  // p = act(W_r h [+ b_r])
  std::vector<double> p = apply(r.linear, h);
  if (r.act == RouterAct::Softmax) {
    double max = p[0];
    for (double v : p) max = std::max(max, v);
    double sum = 0.0;
    for (double& v : p) { v = std::exp(v - max); sum += v; }
    for (double& v : p) v /= sum;
  } else if (r.act == RouterAct::Sigmoid) {
    for (double& v : p) v = sigmoid(v);
  } else {
    for (double& v : p) v = relu(v);
  }

  // Selection keys: p + sel_bias.
  std::vector<double> score = p;
  if (!r.sel_bias.empty())
    for (size_t e = 0; e < n_experts; ++e) score[e] += r.sel_bias[e];

  // Group-limited selection (Nemotron-H, DeepSeek-V3): the experts form n_groups
  // contiguous groups, each scored by the sum of its two largest keys; the topk_groups
  // best groups stay, every other expert's key becomes 0.
  if (r.n_groups > 1) {
    const size_t per_group = n_experts / r.n_groups;
    std::vector<double> group_score(r.n_groups);
    for (size_t grp = 0; grp < r.n_groups; ++grp) {
      std::vector<double> keys(score.begin() + grp * per_group, score.begin() + (grp + 1) * per_group);
      std::sort(keys.begin(), keys.end(), std::greater<>());
      group_score[grp] = keys[0] + keys[1];
    }
    std::vector<bool> kept(r.n_groups, false);
    size_t last_kept = 0;
    for (uint32_t k = 0; k < r.topk_groups; ++k) {
      size_t best = r.n_groups;
      for (size_t grp = 0; grp < r.n_groups; ++grp)
        if (!kept[grp] && (best == r.n_groups || group_score[grp] > group_score[best])) best = grp;
      kept[best] = true;
      last_kept = best;
    }
    for (size_t grp = 0; grp < r.n_groups; ++grp) {
      if (kept[grp]) continue;
      const double gap = group_score[last_kept] - group_score[grp];
      if (gap != 0.0) min_selection_margin_ = std::min(min_selection_margin_, gap);
      for (size_t e = grp * per_group; e < (grp + 1) * per_group; ++e) score[e] = 0.0;
    }
  }

  // Select top_k by key: repeatedly the best remaining expert; a strict '>' while
  // scanning upward gives ties to the lower index.
  std::vector<bool> taken(n_experts, false);
  std::vector<size_t> chosen;
  for (uint32_t k = 0; k < r.top_k; ++k) {
    size_t best = n_experts;
    for (size_t e = 0; e < n_experts; ++e)
      if (!taken[e] && (best == n_experts || score[e] > score[best])) best = e;
    taken[best] = true;
    chosen.push_back(best);
  }
  // How close the last choice was to the best expert left out (see the header).
  const size_t last = chosen.back();
  for (size_t e = 0; e < n_experts; ++e) {
    const double gap = score[last] - score[e];
    if (taken[e] || gap == 0.0 || (p[e] == 0.0 && p[last] == 0.0)) continue;
    min_selection_margin_ = std::min(min_selection_margin_, gap);
  }

  // gates = p of the selected, optionally renormalized to sum 1, times routed_scale.
  std::vector<std::pair<size_t, double>> gates;
  for (size_t e : chosen) gates.push_back({e, p[e]});
  if (r.renorm) {
    double sum = 0.0;
    for (const auto& g : gates) sum += g.second;
    if (sum > 0.0)
      for (auto& g : gates) g.second /= sum;
  }
  for (auto& g : gates) g.second *= r.routed_scale;
  return gates;
}

// A projection: W x [+ b], or routed: sum over the selected j of gate_j (W_j x [+ b_j]).
std::vector<double> ReferenceModel::apply(const Projection& p, const std::vector<double>& x) {
  if (!p.routed) return apply(p.plain, x);
  std::vector<double> out(p.experts[0].rows, 0.0);
  for (const auto& [e, gate] : route(p.router, x)) {
    std::vector<double> y = apply(p.experts[e], x);
    for (size_t j = 0; j < out.size(); ++j) out[j] += gate * y[j];
  }
  return out;
}

// Mixture of experts, one token: DESIGN.md section 5.
std::vector<double> ReferenceModel::moe(const MoELayer& m, const std::vector<double>& h) {
  const MoEConfig& c = m.cfg;

  // out = sum gates_i * expert_i(h) + sum shared_j(h)
  std::vector<double> out(config_.d_model, 0.0);
  for (const auto& [expert, gate] : route(m.router, h)) {
    std::vector<double> e = feed_forward(m.experts[expert], h);
    if (c.normalize_expert_output) {  // RMSNorm without a gain
      double mean_sq = 0.0;
      for (double v : e) mean_sq += v * v;
      mean_sq /= double(e.size());
      const double inv = 1.0 / std::sqrt(mean_sq + double(config_.norm_eps));
      for (double& v : e) v *= inv;
    }
    for (size_t j = 0; j < out.size(); ++j) out[j] += gate * e[j];
  }
  for (const FeedForward& f : m.shared) {
    std::vector<double> e = feed_forward(f, h);
    for (size_t j = 0; j < out.size(); ++j) out[j] += e[j];
  }
  return out;
}

// FFN: w2 act(w1 h + b1) + b2; gated: w2 (act(w1 h + b1) * (w3 h + b3)) + b2.
std::vector<double> ReferenceModel::feed_forward(const FeedForward& f, const std::vector<double>& h) const {
  std::vector<double> a = apply(f.w1, h);
  for (double& v : a) v = expert_act(f.act, v);
  if (f.act == ExpertAct::SwiGLU || f.act == ExpertAct::GeGLU) {
    std::vector<double> up = apply(f.w3, h);
    for (size_t i = 0; i < a.size(); ++i) a[i] *= up[i];
  }
  return apply(f.w2, a);
}

std::vector<double> ReferenceModel::apply(const Linear& l, const std::vector<double>& in) const {
  if (in.size() != l.cols) throw std::logic_error("reference: linear input size");
  const std::vector<double> x = l.quantized ? quantized_input(in) : in;
  std::vector<double> y(l.rows, 0.0);
  for (size_t r = 0; r < l.rows; ++r) {
    double sum = l.b.empty() ? 0.0 : l.b[r];
    for (size_t c = 0; c < l.cols; ++c) sum += l.w[r * l.cols + c] * x[c];
    y[r] = sum;
  }
  return y;
}

// RMSNorm: x / sqrt(mean(x^2) + eps) * w.  LayerNorm: (x - mean) / sqrt(var + eps) * w + b.
std::vector<double> ReferenceModel::apply(const Norm& n, const std::vector<double>& x) const {
  if (n.kind == NormKind::None) return x;
  const double eps = config_.norm_eps;
  const double size = double(x.size());
  std::vector<double> y(x.size());
  if (n.kind == NormKind::RMS) {
    double mean_sq = 0.0;
    for (double v : x) mean_sq += v * v;
    mean_sq /= size;
    for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] / std::sqrt(mean_sq + eps) * n.weight[i];
  } else {
    double mean = 0.0;
    for (double v : x) mean += v;
    mean /= size;
    double var = 0.0;
    for (double v : x) var += (v - mean) * (v - mean);
    var /= size;
    for (size_t i = 0; i < x.size(); ++i) y[i] = (x[i] - mean) / std::sqrt(var + eps) * n.weight[i] + n.bias[i];
  }
  return y;
}

ReferenceModel::Linear ReferenceModel::load_linear(const TensorValues& values, const std::string& prefix, bool bias,
                                                   size_t rows, size_t cols) const {
  Linear l;
  l.rows = rows;
  l.cols = cols;
  l.quantized = quantized_weights_ && quantized_weights_(prefix + ".weight");
  l.w = values(prefix + ".weight");
  expect_size(l.w, rows * cols, prefix + ".weight");
  if (bias) {
    l.b = values(prefix + ".bias");
    expect_size(l.b, rows, prefix + ".bias");
  }
  return l;
}

ReferenceModel::Projection ReferenceModel::load_projection(const TensorValues& values, const std::string& prefix,
                                                           const std::optional<ProjectionExperts>& experts,
                                                           bool plain_bias, size_t rows, size_t cols) const {
  Projection p;
  if (!experts) {
    p.plain = load_linear(values, prefix, plain_bias, rows, cols);
    return p;
  }
  const ProjectionExperts& e = *experts;
  p.routed = true;
  p.router = {e.n_experts, e.top_k, e.router, e.renorm, e.routed_scale,
              load_linear(values, prefix + ".router", e.router_bias, e.n_experts, cols), {}};
  if (e.sel_bias) {
    p.router.sel_bias = values(prefix + ".router.sel_bias");
    expect_size(p.router.sel_bias, e.n_experts, prefix + ".router.sel_bias");
  }
  for (uint32_t j = 0; j < e.n_experts; ++j)
    p.experts.push_back(load_linear(values, prefix + ".experts." + std::to_string(j), e.bias, rows, cols));
  return p;
}

ReferenceModel::Norm ReferenceModel::load_norm(const TensorValues& values, NormKind kind,
                                               const std::string& prefix) const {
  Norm n;
  n.kind = kind;
  if (kind == NormKind::None) return n;
  n.weight = values(prefix + ".weight");
  expect_size(n.weight, config_.d_model, prefix + ".weight");
  if (kind == NormKind::Layer) {
    n.bias = values(prefix + ".bias");
    expect_size(n.bias, config_.d_model, prefix + ".bias");
  }
  return n;
}

ReferenceModel::FeedForward ReferenceModel::load_feed_forward(const TensorValues& values, const std::string& prefix,
                                                             const FeedForwardConfig& ff) const {
  FeedForward f;
  f.act = ff.act;
  const size_t d = config_.d_model;
  f.w1 = load_linear(values, prefix + ".w1", ff.bias, ff.d_ff, d);
  f.w2 = load_linear(values, prefix + ".w2", ff.bias, d, ff.d_ff);
  if (ff.gated()) f.w3 = load_linear(values, prefix + ".w3", ff.bias, ff.d_ff, d);
  return f;
}

}  // namespace mmb::reference
