// The float64 reference's Mamba-2 layer and Mamba-1 inner norms, checked on their own
// (before the library is compared with them): tiny cases worked by hand, and the
// reference's token-by-token recurrence against the chunked SSD form of the same layer
// (Mamba-2 paper, section 6: matrix work within a chunk, the state carried between
// chunks), written here independently from DESIGN.md section 5.
#include <catch2/catch.hpp>

#include "reference/reference_model.hpp"
#include "support/hand_made_models.hpp"
#include "support/mamba2_models.hpp"
#include "support/model_harness.hpp"

#include <algorithm>
#include <cmath>

using namespace mmb;
using namespace mmb::testing;
using mmb::reference::ReferenceModel;

namespace {

// ---------------------------------------------------------------------------------
// The chunked SSD form of a one-layer Mamba-2 model (no norms, tied head), over a whole
// sequence at once. Within a chunk starting at t0, with a_t = dt_t A_h and
// cum_t = a_t0 + ... + a_t:
//   y_t = exp(cum_t) C_t . S_in  +  sum_{t0 <= s <= t} exp(cum_t - cum_s) (C_t . B_s) dt_s x_s  +  D x_t
//   S_out = exp(cum_last) S_in  +  sum_s exp(cum_last - cum_s) dt_s x_s B_s
// (per head h, channel p; B and C of the head's group). The conv is a convolution over
// time rather than a sliding window.
struct SequenceResult {
  std::vector<std::vector<double>> logits;  // per token
  std::vector<double> state;                // [H][P][N] after the last token
};

SequenceResult chunked_ssd_model(const SyntheticModel& w, const std::vector<int32_t>& tokens, size_t chunk) {
  const ModelConfig& cfg = w.contents.config;
  REQUIRE(cfg.layers.size() == 1);
  REQUIRE(cfg.norm == NormKind::None);
  REQUIRE(cfg.final_norm == NormKind::None);
  REQUIRE(cfg.tie_embeddings);
  const Mamba2Config& m = cfg.layers[0].mamba2;
  auto get = [&](const std::string& name) {
    const std::vector<float> f = w.values("layers.0.mamba2." + name);
    return std::vector<double>(f.begin(), f.end());
  };
  auto get_or_zeros = [&](bool present, const std::string& name, size_t n) {
    return present ? get(name) : std::vector<double>(n, 0.0);
  };
  const size_t T = tokens.size(), d = cfg.d_model, DI = m.d_inner, NS = m.d_state, H = m.n_heads, G = m.n_groups;
  const size_t P = DI / H, K = m.d_conv, CH = DI + 2 * G * NS, ROWS = DI + CH + H;
  const std::vector<float> ef = w.values("embed.weight");
  const std::vector<double> embed(ef.begin(), ef.end());
  const std::vector<double> w_in = get("in_proj.weight"), b_in = get_or_zeros(m.in_proj_bias, "in_proj.bias", ROWS);
  const std::vector<double> w_conv = get("conv1d.weight"), b_conv = get_or_zeros(m.conv_bias, "conv1d.bias", CH);
  const std::vector<double> dt_bias = get("dt_bias"), A_log = get("A_log"), D = get("D");
  const std::vector<double> norm_w = get_or_zeros(m.gated_norm, "norm.weight", DI);
  const std::vector<double> w_out = get("out_proj.weight"), b_out = get_or_zeros(m.out_proj_bias, "out_proj.bias", d);

  // in_proj of every token: z | xBC | dt.
  std::vector<std::vector<double>> proj(T, std::vector<double>(ROWS));
  for (size_t t = 0; t < T; ++t)
    for (size_t r = 0; r < ROWS; ++r) {
      double sum = b_in[r];
      for (size_t i = 0; i < d; ++i) sum += w_in[r * d + i] * embed[size_t(tokens[t]) * d + i];
      proj[t][r] = sum;
    }
  // Causal conv over time (inputs before the sequence are 0), then SiLU.
  std::vector<std::vector<double>> xbc(T, std::vector<double>(CH));
  for (size_t t = 0; t < T; ++t)
    for (size_t c = 0; c < CH; ++c) {
      double sum = b_conv[c];
      for (size_t k = 0; k < K; ++k) {
        const ptrdiff_t src = ptrdiff_t(t) - ptrdiff_t(K - 1) + ptrdiff_t(k);
        if (src >= 0) sum += w_conv[c * K + k] * proj[size_t(src)][DI + c];
      }
      xbc[t][c] = silu(sum);
    }
  auto x = [&](size_t t, size_t h, size_t p) { return xbc[t][h * P + p]; };
  auto B = [&](size_t t, size_t g, size_t n) { return xbc[t][DI + g * NS + n]; };
  auto C = [&](size_t t, size_t g, size_t n) { return xbc[t][DI + G * NS + g * NS + n]; };
  std::vector<std::vector<double>> dt(T, std::vector<double>(H));
  for (size_t t = 0; t < T; ++t)
    for (size_t h = 0; h < H; ++h)
      dt[t][h] = std::clamp(softplus(proj[t][DI + CH + h] + dt_bias[h]), double(m.dt_min), double(m.dt_max));

  // The scan, chunk by chunk.
  std::vector<double> S(H * P * NS, 0.0);
  std::vector<std::vector<double>> y(T, std::vector<double>(DI));
  for (size_t t0 = 0; t0 < T; t0 += chunk) {
    const size_t t1 = std::min(T, t0 + chunk), L = t1 - t0;
    for (size_t h = 0; h < H; ++h) {
      const size_t g = h / (H / G);
      const double A = -std::exp(A_log[h]);
      std::vector<double> cum(L);
      for (size_t i = 0; i < L; ++i) cum[i] = (i ? cum[i - 1] : 0.0) + dt[t0 + i][h] * A;
      for (size_t i = 0; i < L; ++i) {
        const size_t t = t0 + i;
        std::vector<double> cb(i + 1);  // C_t . B_s within the chunk
        for (size_t j = 0; j <= i; ++j)
          for (size_t n = 0; n < NS; ++n) cb[j] += C(t, g, n) * B(t0 + j, g, n);
        for (size_t p = 0; p < P; ++p) {
          double carried = 0.0;
          for (size_t n = 0; n < NS; ++n) carried += C(t, g, n) * S[(h * P + p) * NS + n];
          double v = std::exp(cum[i]) * carried;
          for (size_t j = 0; j <= i; ++j) v += std::exp(cum[i] - cum[j]) * cb[j] * dt[t0 + j][h] * x(t0 + j, h, p);
          y[t][h * P + p] = v + (m.d_per_channel ? D[h * P + p] : D[h]) * x(t, h, p);
        }
      }
      for (size_t p = 0; p < P; ++p)
        for (size_t n = 0; n < NS; ++n) {
          double& s = S[(h * P + p) * NS + n];
          double next = std::exp(cum[L - 1]) * s;
          for (size_t j = 0; j < L; ++j)
            next += std::exp(cum[L - 1] - cum[j]) * dt[t0 + j][h] * x(t0 + j, h, p) * B(t0 + j, g, n);
          s = next;
        }
    }
  }

  // Gate, gated RMSNorm per group, out_proj, residual, tied head.
  SequenceResult out;
  const size_t group = m.norm_group_size ? m.norm_group_size : DI / G;
  for (size_t t = 0; t < T; ++t) {
    std::vector<double> u(DI);
    for (size_t i = 0; i < DI; ++i) u[i] = y[t][i] * silu(proj[t][i]);
    if (m.gated_norm)
      for (size_t g0 = 0; g0 < DI; g0 += group) {
        double ms = 0.0;
        for (size_t i = g0; i < g0 + group; ++i) ms += u[i] * u[i];
        const double scale = 1.0 / std::sqrt(ms / double(group) + double(m.norm_eps));
        for (size_t i = g0; i < g0 + group; ++i) u[i] *= scale * norm_w[i];
      }
    std::vector<double> r(embed.begin() + ptrdiff_t(size_t(tokens[t]) * d), embed.begin() + ptrdiff_t(size_t(tokens[t] + 1) * d));
    for (size_t o = 0; o < d; ++o) {
      double sum = b_out[o];
      for (size_t i = 0; i < DI; ++i) sum += w_out[o * DI + i] * u[i];
      r[o] += sum;
    }
    std::vector<double> logits(cfg.vocab_size, 0.0);
    for (size_t v = 0; v < cfg.vocab_size; ++v)
      for (size_t i = 0; i < d; ++i) logits[v] += embed[v * d + i] * r[i];
    out.logits.push_back(std::move(logits));
  }
  out.state = S;
  return out;
}

double max_abs(const std::vector<double>& v) {
  double m = 0.0;
  for (double x : v) m = std::max(m, std::abs(x));
  return m;
}

double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double m = 0.0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

}  // namespace

TEST_CASE("reference: two Mamba-2 steps worked by hand", "[parity][reference]") {
  // d_inner 2 as one head of 2 channels, N 1, G 1, d_conv 2; gated norm over both channels.
  LayerConfig l = mamba2_layer(2, 1, 2, 1, 1);
  const ModelConfig config = two_by_two({l});
  const Tensors t = {
      {"embed.weight", {1, 0, 0, 1}},
      // Rows z0, z1 | x0, x1, B, C | dt; column j is what token j gives.
      {"layers.0.mamba2.in_proj.weight", {1, 0.2, -0.5, 2, 0.5, -1, -1, 0.4, 2, -0.5, 0.25, 1.5, 0.3, -0.7}},
      {"layers.0.mamba2.conv1d.weight", {0.3, 0.7, -0.2, 1.1, 0.5, 0.5, 1, -1}},  // per channel: oldest, newest
      {"layers.0.mamba2.conv1d.bias", {0.1, 0, -0.1, 0.2}},
      {"layers.0.mamba2.dt_bias", {-0.5}},
      {"layers.0.mamba2.A_log", {std::log(2.0)}},  // A = -2
      {"layers.0.mamba2.D", {0.5}},
      {"layers.0.mamba2.norm.weight", {1, 2}},
      {"layers.0.mamba2.out_proj.weight", {1, 0.5, -1, 2}},
  };
  ReferenceModel ref = reference_of(config, t);

  double s[2] = {0, 0};
  // One token after the conv: the scan, gate, group norm (eps: the config's 1e-5f) and out_proj.
  auto layer = [&](double x0, double x1, double B, double C, double dt, double z0, double z1) {
    const double xs[2] = {x0, x1}, w[2] = {1, 2};
    double u[2];
    for (int p = 0; p < 2; ++p) {
      s[p] = s[p] * std::exp(-2 * dt) + dt * xs[p] * B;
      u[p] = (s[p] * C + 0.5 * xs[p]) * silu(p ? z1 : z0);
    }
    const double inv = 1 / std::sqrt((u[0] * u[0] + u[1] * u[1]) / 2 + double(1e-5f));
    const double n0 = u[0] * inv * w[0], n1 = u[1] * inv * w[1];
    return std::pair{1 * n0 + 0.5 * n1, -1 * n0 + 2 * n1};
  };
  // Token 0: the windows are (0, input).
  auto [a0, a1] = layer(silu(0.7 * 0.5 + 0.1), silu(1.1 * -1), silu(0.5 * 2 - 0.1), silu(-1 * 0.25 + 0.2),
                        softplus(0.3 - 0.5), 1, -0.5);
  const std::vector<double> l1 = ref.step(0);
  CHECK(l1[0] == Approx(1 + a0).epsilon(1e-12));
  CHECK(l1[1] == Approx(a1).epsilon(1e-12));
  // Token 1: the windows are (token 0's input, token 1's); the state decays by exp(dt A).
  auto [b0, b1] = layer(silu(0.3 * 0.5 + 0.7 * -1 + 0.1), silu(-0.2 * -1 + 1.1 * 0.4), silu(0.5 * 2 + 0.5 * -0.5 - 0.1),
                        silu(1 * 0.25 - 1 * 1.5 + 0.2), softplus(-0.7 - 0.5), 0.2, 2);
  const std::vector<double> l2 = ref.step(1);
  CHECK(l2[0] == Approx(b0).epsilon(1e-12));
  CHECK(l2[1] == Approx(1 + b1).epsilon(1e-12));
  REQUIRE(ref.ssm_state(0).size() == 2);
  CHECK(ref.ssm_state(0)[0] == Approx(s[0]).epsilon(1e-12));
  CHECK(ref.ssm_state(0)[1] == Approx(s[1]).epsilon(1e-12));

  ref.reset();
  CHECK(ref.step(0) == l1);
}

TEST_CASE("reference: Mamba-2 options by hand: clamp, D per channel, groups, norm groups, no gate norm",
          "[parity][reference]") {
  // d_inner 4 as 4 heads of 1 channel in 2 groups of N 1; d_conv 1 and conv weights 1 with
  // no bias, so each conv output is silu(input). Token 0 only (state starts at 0).
  LayerConfig l = mamba2_layer(4, 1, 1, 4, 2);
  l.mamba2.conv_bias = false;
  l.mamba2.d_per_channel = true;
  l.mamba2.dt_min = 0.1f;
  l.mamba2.dt_max = 0.5f;
  l.mamba2.norm_group_size = 1;  // not d_inner / G = 2
  l.mamba2.norm_eps = 0.5f;
  ModelConfig config = two_by_two({l});
  // in_proj rows: z[4] | x[4], B[2], C[2] | dt[4]; token 0 reads column 0 only.
  const double z[4] = {1, -1, 0.5, 2}, x[4] = {0.3, -0.6, 0.9, 1.2}, B[2] = {0.7, -0.4}, C[2] = {1.5, 0.8};
  const double dt_in[4] = {-5, 0, -1.5, 3};  // + dt_bias, softplus: 0.0067 (clamped up), 0.69 (down), 0.20, 2.76 (down)
  std::vector<double> w_in;
  for (double v : z) w_in.insert(w_in.end(), {v, 0});
  for (double v : x) w_in.insert(w_in.end(), {v, 0});
  for (double v : B) w_in.insert(w_in.end(), {v, 0});
  for (double v : C) w_in.insert(w_in.end(), {v, 0});
  for (double v : dt_in) w_in.insert(w_in.end(), {v, 0});
  const std::vector<double> A_log = {0, std::log(2.0), std::log(3.0), std::log(4.0)};
  const std::vector<double> D = {0.1, 0.2, 0.3, 0.4}, norm_w = {1, 2, 3, 4};
  Tensors t = {
      {"embed.weight", {1, 0, 0, 1}},
      {"layers.0.mamba2.in_proj.weight", w_in},
      {"layers.0.mamba2.conv1d.weight", std::vector<double>(8, 1.0)},
      {"layers.0.mamba2.dt_bias", {0, 0, 0, -0.3}},
      {"layers.0.mamba2.A_log", A_log},
      {"layers.0.mamba2.D", D},
      {"layers.0.mamba2.norm.weight", norm_w},
      {"layers.0.mamba2.out_proj.weight", {1, 1, 1, 1, 1, -1, 2, -2}},
  };
  for (bool gated : {true, false}) {
    INFO("gated_norm " << gated);
    config.layers[0].mamba2.gated_norm = gated;
    if (!gated) t.erase("layers.0.mamba2.norm.weight");
    ReferenceModel ref = reference_of(config, t);
    const std::vector<double> logits = ref.step(0);
    double u[4];
    for (int h = 0; h < 4; ++h) {
      const int g = h / 2;
      const double dt = std::clamp(softplus(dt_in[h] + (h == 3 ? -0.3 : 0.0)), double(0.1f), double(0.5f));
      const double xc = silu(x[h]);
      const double s = dt * xc * silu(B[g]);  // from the zero state: the decay does not enter
      CHECK(ref.ssm_state(0)[size_t(h)] == Approx(s).epsilon(1e-12));
      u[h] = (s * silu(C[g]) + D[size_t(h)] * xc) * silu(z[h]);
      if (gated) u[h] = u[h] / std::sqrt(u[h] * u[h] + 0.5) * norm_w[size_t(h)];  // groups of one channel
    }
    CHECK(logits[0] == Approx(1 + u[0] + u[1] + u[2] + u[3]).epsilon(1e-12));
    CHECK(logits[1] == Approx(u[0] - u[1] + 2 * u[2] - 2 * u[3]).epsilon(1e-12));
  }
}

TEST_CASE("reference: Mamba-1 RMS norms of dt, B and C by hand", "[parity][reference]") {
  // d_inner 1, d_state 2, dt_rank 2, d_conv 2; token 0 only (the window is (0, x)).
  const double eps = 0.25;  // large, so that an eps left out shows
  for (InnerNorm norm : {InnerNorm::RMS, InnerNorm::RMSWeighted}) {
    const bool weighted = norm == InnerNorm::RMSWeighted;
    INFO("weighted " << weighted);
    const ModelConfig config = two_by_two({inner_norm_mamba_layer(1, 2, 2, 2, norm, float(eps))});
    Tensors t = {
        {"embed.weight", {1, 0, 0, 1}},
        {"layers.0.mamba.in_proj.weight", {0.8, 0, 1, 0}},      // x = 0.8, z = 1
        {"layers.0.mamba.conv1d.weight", {0.3, 1.5}},
        {"layers.0.mamba.conv1d.bias", {0.1}},
        {"layers.0.mamba.x_proj.weight", {1, -2, 0.5, 3, -1, 0.25}},  // dt (2), B (2), C (2)
        {"layers.0.mamba.dt_proj.weight", {0.6, -0.4}},
        {"layers.0.mamba.dt_proj.bias", {-1}},
        {"layers.0.mamba.A_log", {0, std::log(2.0)}},
        {"layers.0.mamba.D", {0.5}},
        {"layers.0.mamba.out_proj.weight", {1, -2}},
    };
    const double wd[2] = {1.5, 0.5}, wb[2] = {2, -1}, wc[2] = {0.25, 4};
    if (weighted) {
      t["layers.0.mamba.dt_norm.weight"] = {wd[0], wd[1]};
      t["layers.0.mamba.b_norm.weight"] = {wb[0], wb[1]};
      t["layers.0.mamba.c_norm.weight"] = {wc[0], wc[1]};
    }
    ReferenceModel ref = reference_of(config, t);
    const double xc = silu(1.5 * 0.8 + 0.1);
    // v / sqrt(mean(v^2) + eps) * w, over a pair.
    auto rms = [&](double a, double b, const double* w, int i) {
      const double v = i ? b : a;
      return v / std::sqrt((a * a + b * b) / 2 + eps) * (weighted ? w[i] : 1.0);
    };
    const double d0 = rms(xc, -2 * xc, wd, 0), d1 = rms(xc, -2 * xc, wd, 1);
    const double b0 = rms(0.5 * xc, 3 * xc, wb, 0), b1 = rms(0.5 * xc, 3 * xc, wb, 1);
    const double c0 = rms(-xc, 0.25 * xc, wc, 0), c1 = rms(-xc, 0.25 * xc, wc, 1);
    const double dt = softplus(0.6 * d0 - 0.4 * d1 - 1);
    const double y = ((dt * xc * b0) * c0 + (dt * xc * b1) * c1 + 0.5 * xc) * silu(1.0);
    const std::vector<double> logits = ref.step(0);
    CHECK(logits[0] == Approx(1 + y).epsilon(1e-12));
    CHECK(logits[1] == Approx(-2 * y).epsilon(1e-12));
  }
}

TEST_CASE("reference: Mamba-2 stepping equals the chunked SSD form in float64", "[parity][reference]") {
  // Every option that touches the scan: groups, D per channel, clamp, norm groups other
  // than d_inner / G, biases; and the plain gate without a norm. Float64 on both sides,
  // different summation orders: they agree to ~1e-13 relative; 1e-9 allows for
  // exponentials of cumulated decays while any algebra slip is O(1).
  LayerConfig a = mamba2_layer(12, 5, 3, 4, 2);
  a.mamba2.d_per_channel = true;
  a.mamba2.dt_min = 0.02f;
  a.mamba2.dt_max = 0.3f;
  a.mamba2.norm_group_size = 4;
  a.mamba2.in_proj_bias = a.mamba2.out_proj_bias = true;
  LayerConfig b = mamba2_layer(16, 8, 4, 2, 1);
  b.mamba2.gated_norm = false;
  b.mamba2.conv_bias = false;
  for (const LayerConfig& layer : {a, b}) {
    ModelCase c;
    c.name = "chunked SSD";
    c.config = two_by_two({layer});
    c.config.d_model = 8;
    c.config.vocab_size = 40;
    c.seed = 5 + layer.mamba2.d_inner;
    const SyntheticModel weights = build_mamba2_weights(c);
    const std::vector<int32_t> tokens = random_tokens(c.seed, 150, c.config.vocab_size);
    for (size_t chunk : {size_t(1), size_t(7), size_t(64), size_t(150)}) {
      INFO("d_inner " << layer.mamba2.d_inner << ", chunks of " << chunk);
      const SequenceResult chunked = chunked_ssd_model(weights, tokens, chunk);
      ReferenceModel ref = build_reference(weights);
      for (size_t t = 0; t < tokens.size(); ++t) {
        const std::vector<double> expected = ref.step(tokens[t]);
        INFO("token " << t);
        REQUIRE(max_abs_diff(chunked.logits[t], expected) <= 1e-9 * (max_abs(expected) + 1));
      }
      const std::vector<double>& state = ref.ssm_state(0);
      CHECK(max_abs_diff(chunked.state, state) <= 1e-9 * max_abs(state));
      CHECK(max_abs(state) > 1e-3);  // the state is not trivially zero
    }
  }
}
