// The float64 reference's attention layer, ReLU^2, group-limited routing and the three
// model scales, checked on their own before the library is compared with them: tiny
// cases worked by hand, and the reference's token-by-token attention (a growing key and
// value history) against masked attention over the whole sequence at once, with RoPE
// written as complex rotations.
#include <catch2/catch.hpp>

#include "reference/reference_model.hpp"
#include "support/attention_models.hpp"
#include "support/hand_made_models.hpp"
#include "support/model_harness.hpp"

#include <algorithm>
#include <cmath>
#include <complex>

using namespace mmb;
using namespace mmb::testing;
using mmb::reference::ReferenceModel;

namespace {

const std::vector<double> kIdentity2 = {1, 0, 0, 1};

// The router logit whose sigmoid is p.
double logit(double p) { return std::log(p / (1 - p)); }

// The whole-sequence form of a one-layer attention model (no norms, tied head): Q, K, V
// of every token; RoPE multiplies each pair (x[i], x[i + rd/2]) taken as the complex
// number x[i] + j x[i + rd/2] by exp(j t theta^(-2i/rd)); scores S[t][s] = scale q_t . k_s
// for s <= t (the causal mask), softmax over each row; query head h reads key/value
// head h / (H / H_kv).
std::vector<std::vector<double>> masked_attention_model(const SyntheticModel& w, const std::vector<int32_t>& tokens) {
  const ModelConfig& cfg = w.contents.config;
  REQUIRE(cfg.layers.size() == 1);
  REQUIRE(cfg.norm == NormKind::None);
  REQUIRE(cfg.final_norm == NormKind::None);
  REQUIRE(cfg.tie_embeddings);
  const AttentionConfig& a = cfg.layers[0].attention;
  auto get = [&](const std::string& name) {
    const std::vector<float> f = w.values(name);
    return std::vector<double>(f.begin(), f.end());
  };
  const size_t T = tokens.size(), d = cfg.d_model, H = a.n_heads, Hkv = a.n_kv_heads, hd = a.head_dim;
  const std::vector<double> embed = get("embed.weight");
  auto project = [&](const std::string& name, bool bias, size_t rows, const std::vector<double>& x) {
    const std::vector<double> W = get("layers.0.attn." + name + ".weight");
    const std::vector<double> b = bias ? get("layers.0.attn." + name + ".bias") : std::vector<double>(rows, 0.0);
    std::vector<double> y(rows);
    for (size_t r = 0; r < rows; ++r) {
      y[r] = b[r];
      for (size_t c = 0; c < x.size(); ++c) y[r] += W[r * x.size() + c] * x[c];
    }
    return y;
  };
  auto rope = [&](std::vector<double>& heads, size_t t) {
    const size_t half = a.rotary_dim / 2;
    for (size_t h = 0; h * hd < heads.size(); ++h)
      for (size_t i = 0; i < half; ++i) {
        const double angle = double(t) * std::pow(double(a.rope_theta), -2.0 * double(i) / double(a.rotary_dim));
        const std::complex<double> z =
            std::complex<double>(heads[h * hd + i], heads[h * hd + i + half]) * std::polar(1.0, angle);
        heads[h * hd + i] = z.real();
        heads[h * hd + i + half] = z.imag();
      }
  };
  std::vector<std::vector<double>> x(T), Q(T), K(T), V(T);
  for (size_t t = 0; t < T; ++t) {
    x[t].assign(embed.begin() + ptrdiff_t(size_t(tokens[t]) * d), embed.begin() + ptrdiff_t(size_t(tokens[t] + 1) * d));
    Q[t] = project("q_proj", a.qkv_bias, H * hd, x[t]);
    K[t] = project("k_proj", a.qkv_bias, Hkv * hd, x[t]);
    V[t] = project("v_proj", a.qkv_bias, Hkv * hd, x[t]);
    rope(Q[t], t);
    rope(K[t], t);
  }
  const double scale = a.scale > 0 ? double(a.scale) : 1 / std::sqrt(double(hd));
  std::vector<std::vector<double>> logits(T);
  for (size_t t = 0; t < T; ++t) {
    std::vector<double> heads(H * hd, 0.0);
    for (size_t h = 0; h < H; ++h) {
      const size_t j = h / (H / Hkv);
      std::vector<double> S(t + 1);
      for (size_t s = 0; s <= t; ++s) {
        S[s] = 0;
        for (size_t e = 0; e < hd; ++e) S[s] += Q[t][h * hd + e] * K[s][j * hd + e];
        S[s] *= scale;
      }
      const double top = *std::max_element(S.begin(), S.end());
      double sum = 0;
      for (double& v : S) sum += (v = std::exp(v - top));
      for (size_t s = 0; s <= t; ++s)
        for (size_t e = 0; e < hd; ++e) heads[h * hd + e] += S[s] / sum * V[s][j * hd + e];
    }
    const std::vector<double> o = project("o_proj", a.out_bias, d, heads);
    std::vector<double> r(d);
    for (size_t i = 0; i < d; ++i) r[i] = x[t][i] + o[i];
    logits[t].assign(cfg.vocab_size, 0.0);
    for (size_t v = 0; v < cfg.vocab_size; ++v)
      for (size_t i = 0; i < d; ++i) logits[t][v] += embed[v * d + i] * r[i];
  }
  return logits;
}

}  // namespace

TEST_CASE("reference: causal attention over the key/value history by hand", "[parity][reference]") {
  // One head of 2 dimensions: q = 2x, k = v = x, o = identity; tokens are the unit rows.
  LayerConfig l = attention_layer(1, 1, 2);
  const ModelConfig config = two_by_two({l});
  const Tensors t = {
      {"embed.weight", kIdentity2},
      {"layers.0.attn.q_proj.weight", {2, 0, 0, 2}},
      {"layers.0.attn.k_proj.weight", kIdentity2},
      {"layers.0.attn.v_proj.weight", kIdentity2},
      {"layers.0.attn.o_proj.weight", kIdentity2},
  };
  for (double scale : {0.0, 0.5}) {
    INFO("scale " << scale);
    ModelConfig c = config;
    c.layers[0].attention.scale = float(scale);
    ReferenceModel ref = reference_of(c, t);
    // Token 0 attends to itself alone: its value (1, 0).
    const std::vector<double> first = ref.step(0);
    CHECK(first[0] == Approx(2).epsilon(1e-15));
    CHECK(first[1] == 0);
    // Token 1: q = (0, 2) scores the keys (1, 0) and (0, 1) as 0 and 2, times the scale
    // (0: 1/sqrt(2)); the output mixes the two values by their softmax weights.
    const double s = scale > 0 ? scale : 1 / std::sqrt(2.0);
    const double w1 = std::exp(2 * s) / (1 + std::exp(2 * s));
    const std::vector<double> second = ref.step(1);
    CHECK(second[0] == Approx(1 - w1).epsilon(1e-14));
    CHECK(second[1] == Approx(1 + w1).epsilon(1e-14));
    CHECK(ref.position() == 2);
    // Reset empties the history: token 0 again sees only itself.
    ref.reset();
    CHECK(ref.position() == 0);
    CHECK(ref.step(0) == first);
  }
}

TEST_CASE("reference: query head h reads key/value head h / (n_heads / n_kv_heads)", "[parity][reference]") {
  // Four query heads of one dimension over two key/value heads (g = 2); keys of zeros, so
  // each head averages its key/value head's values; v = x. o_proj takes head 1 into the
  // first output and head 2 into the second: contiguous groups give heads 1 -> kv 0 and
  // 2 -> kv 1, interleaved ones (h % n_kv_heads) the reverse.
  const ModelConfig config = two_by_two({attention_layer(4, 2, 1)});
  const Tensors t = {
      {"embed.weight", kIdentity2},
      {"layers.0.attn.q_proj.weight", std::vector<double>(8, 1.0)},
      {"layers.0.attn.k_proj.weight", std::vector<double>(4, 0.0)},
      {"layers.0.attn.v_proj.weight", kIdentity2},
      {"layers.0.attn.o_proj.weight", {0, 1, 0, 0, 0, 0, 1, 0}},
  };
  ReferenceModel ref = reference_of(config, t);
  const std::vector<double> logits = ref.step(0);  // v = (1, 0)
  CHECK(logits[0] == 2);
  CHECK(logits[1] == 0);
}

TEST_CASE("reference: RoPE turns dimensions i and i + rotary_dim/2 of a head by position times theta^(-2i/rotary_dim)",
          "[parity][reference]") {
  // One head of 2 dimensions, both rotated (angle = position): identity projections.
  // Token 1 at position 1: q = k1 = rot((0, 1), 1) = (-sin 1, cos 1); k0 = (1, 0) at
  // position 0. Scores (q.k0, q.k1) = (-sin 1, 1) / sqrt(2); values (1, 0) and (0, 1).
  const ModelConfig config = two_by_two({attention_layer(1, 1, 2, 2)});
  const Tensors t = {
      {"embed.weight", kIdentity2},
      {"layers.0.attn.q_proj.weight", kIdentity2},
      {"layers.0.attn.k_proj.weight", kIdentity2},
      {"layers.0.attn.v_proj.weight", kIdentity2},
      {"layers.0.attn.o_proj.weight", kIdentity2},
  };
  ReferenceModel ref = reference_of(config, t);
  ref.step(0);
  const double s0 = -std::sin(1.0) / std::sqrt(2.0), s1 = 1 / std::sqrt(2.0);
  const double w0 = std::exp(s0) / (std::exp(s0) + std::exp(s1));
  const std::vector<double> logits = ref.step(1);
  CHECK(logits[0] == Approx(w0).epsilon(1e-14));
  CHECK(logits[1] == Approx(1 + (1 - w0)).epsilon(1e-14));
}

TEST_CASE("reference: token-by-token attention equals masked attention over the whole sequence",
          "[parity][reference]") {
  // GQA, MQA and plain heads; full, partial and no RoPE; biases; default and explicit
  // scales. Float64 on both sides in different orders: agreement to ~1e-13 relative;
  // 1e-10 leaves room while a wrong pairing, angle, head mapping or mask is O(1).
  std::vector<LayerConfig> layers;
  {
    LayerConfig a = attention_layer(4, 2, 6, 6);
    a.attention.qkv_bias = a.attention.out_bias = true;
    layers.push_back(a);
  }
  {
    LayerConfig a = attention_layer(3, 1, 8, 4);
    a.attention.rope_theta = 100.0f;
    a.attention.scale = 0.3f;
    layers.push_back(a);
  }
  layers.push_back(attention_layer(2, 2, 5));
  for (const LayerConfig& layer : layers) {
    ModelCase c;
    c.name = "masked attention";
    c.config = two_by_two({layer});
    c.config.d_model = 8;
    c.config.vocab_size = 40;
    c.seed = 70 + layer.attention.n_heads;
    const SyntheticModel weights = build_attention_weights(c);
    const std::vector<int32_t> tokens = random_tokens(c.seed, 90, c.config.vocab_size);
    const std::vector<std::vector<double>> expected = masked_attention_model(weights, tokens);
    ReferenceModel ref = build_reference(weights);
    INFO("heads " << layer.attention.n_heads << "/" << layer.attention.n_kv_heads << ", rotary_dim "
                  << layer.attention.rotary_dim);
    for (size_t t = 0; t < tokens.size(); ++t) {
      const std::vector<double> got = ref.step(tokens[t]);
      double diff = 0, scale = 1;
      for (size_t v = 0; v < got.size(); ++v) {
        diff = std::max(diff, std::abs(got[v] - expected[t][v]));
        scale = std::max(scale, std::abs(expected[t][v]));
      }
      INFO("token " << t);
      REQUIRE(diff <= 1e-10 * scale);
    }
  }
}

TEST_CASE("reference: ReLU^2 feed-forward and the embedding, residual and logits scales by hand",
          "[parity][reference]") {
  // MLP relu2 with w1 = w2 = identity: out = relu(h)^2. Embedding rows (1.5, -2) and (0, 1).
  ModelConfig config = two_by_two({builders::mlp(builders::ff(2, ExpertAct::ReLU2))});
  const Tensors t = {
      {"embed.weight", {1.5, -2, 0, 1}},
      {"layers.0.mlp.w1.weight", kIdentity2},
      {"layers.0.mlp.w2.weight", kIdentity2},
  };
  {
    ReferenceModel ref = reference_of(config, t);
    const std::vector<double> logits = ref.step(0);  // head = embedding: logits = E r
    const double r0 = 1.5 + 2.25, r1 = -2;           // relu(-2)^2 = 0
    CHECK(logits[0] == Approx(1.5 * r0 - 2 * r1).epsilon(1e-15));
    CHECK(logits[1] == Approx(r1).epsilon(1e-15));
  }
  // r = 2 e; r += 0.5 relu(r)^2; logits = E r / 4.
  config.embedding_scale = 2;
  config.residual_scale = 0.5f;
  config.logits_divisor = 4;
  ReferenceModel ref = reference_of(config, t);
  const std::vector<double> logits = ref.step(0);
  const double r0 = 3 + 0.5 * 9, r1 = -4;
  CHECK(logits[0] == Approx((1.5 * r0 - 2 * r1) / 4).epsilon(1e-15));
  CHECK(logits[1] == Approx(r1 / 4).epsilon(1e-15));
}

TEST_CASE("reference: group-limited expert selection by hand", "[parity][reference]") {
  // Four experts in two groups {0, 1}, {2, 3}; sigmoid router with zero weights, so the
  // router bias sets p exactly. Expert e adds c_e * relu(h0) to output 0 (c = 1, 10, 100,
  // 1000), so the logit tells which experts ran with which gates. Token 0: h = (1, 0).
  const double c[4] = {1, 10, 100, 1000};
  auto experts_of = [&](LayerConfig l, const std::vector<double>& p, const std::vector<double>& sel_bias) {
    l.moe.sel_bias = true;
    l.moe.router_bias = true;
    Tensors t = {{"embed.weight", kIdentity2},
                 {"layers.0.moe.router.weight", std::vector<double>(8, 0.0)},
                 {"layers.0.moe.router.bias", {logit(p[0]), logit(p[1]), logit(p[2]), logit(p[3])}},
                 {"layers.0.moe.router.sel_bias", sel_bias}};
    for (int e = 0; e < 4; ++e) {
      t["layers.0.moe.experts." + std::to_string(e) + ".w1.weight"] = {1, 0};
      t["layers.0.moe.experts." + std::to_string(e) + ".w2.weight"] = {c[e], 0};
    }
    return reference_of(two_by_two({l}), t).step(0)[0] - 1;  // sum_e gate_e c_e
  };
  const LayerConfig limited = grouped_moe(4, 2, builders::ff(1, ExpertAct::ReLU), RouterAct::Sigmoid, 2, 1);
  LayerConfig plain = limited;
  plain.moe.n_groups = plain.moe.topk_groups = 1;
  // Keys p + sel_bias = (0.9, 0.1, 0.7, 0.65): group scores 1.0 and 1.35 (the sum of the
  // two best keys; the best key alone would prefer group 0). Group 1 stays: experts 2, 3
  // with gates p = 0.6, 0.55. Without the limit: experts 0 and 2.
  const std::vector<double> p = {0.9, 0.1, 0.6, 0.55}, sel = {0, 0, 0.1, 0.1};
  CHECK(experts_of(limited, p, sel) == Approx(0.6 * 100 + 0.55 * 1000).epsilon(1e-12));
  CHECK(experts_of(plain, p, sel) == Approx(0.9 * 1 + 0.6 * 100).epsilon(1e-12));
  // Renormalized over the selected p, times routed_scale.
  LayerConfig renorm = limited;
  renorm.moe.renorm = true;
  renorm.moe.routed_scale = 2;
  CHECK(experts_of(renorm, p, sel) == Approx(2 * (0.6 * 100 + 0.55 * 1000) / 1.15).epsilon(1e-12));
  // A dropped group's keys become 0, not -infinity: with keys (-0.1, -0.2 | -0.5, -0.6)
  // group 0 stays, yet the dropped experts' zero keys beat its negative ones; top-2 picks
  // experts 2 and 3 (0 = 0, ties to the lower index), gated by their own p.
  const std::vector<double> p2 = {0.4, 0.3, 0.5, 0.4}, sel2 = {-0.5, -0.5, -1, -1};
  CHECK(experts_of(limited, p2, sel2) == Approx(0.5 * 100 + 0.4 * 1000).epsilon(1e-12));
  // topk_groups = n_groups keeps every expert eligible: the plain selection.
  LayerConfig all_groups = limited;
  all_groups.moe.topk_groups = 2;
  CHECK(experts_of(all_groups, p, sel) == experts_of(plain, p, sel));
}
