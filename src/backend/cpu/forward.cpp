#include "backend/cpu/forward.hpp"

#include "backend/cpu/activations.hpp"
#include "backend/cpu/conv_step.hpp"
#include "backend/cpu/kv_cache.hpp"
#include "backend/cpu/layer_attention.hpp"
#include "backend/cpu/layer_mamba2.hpp"
#include "backend/cpu/linear.hpp"
#include "backend/cpu/rms_norm.hpp"
#include "backend/cpu/row_batch.hpp"
#include "backend/cpu/selective_scan.hpp"
#include "backend/cpu/weight_load.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace mmb::cpu {

namespace {

void normalize(const NormWeights& w, float eps, const float* x, float* y, size_t d) {
  if (w.kind == NormKind::None) {
    std::memcpy(y, x, d * sizeof(float));
    return;
  }
  if (w.kind == NormKind::RMS) {
    double ss = 0.0;
    for (size_t i = 0; i < d; ++i) ss += double(x[i]) * x[i];
    float inv = float(1.0 / std::sqrt(ss / double(d) + eps));
    for (size_t i = 0; i < d; ++i) y[i] = x[i] * inv * load(w.weight, i);
    return;
  }
  double mean = 0.0;
  for (size_t i = 0; i < d; ++i) mean += x[i];
  mean /= double(d);
  double var = 0.0;
  for (size_t i = 0; i < d; ++i) var += (x[i] - mean) * (x[i] - mean);
  float inv = float(1.0 / std::sqrt(var / double(d) + eps));
  for (size_t i = 0; i < d; ++i) y[i] = float(x[i] - mean) * inv * load(w.weight, i) + load(w.bias, i);
}

// The router options shared by MoE layers and routed projections.
struct Routing {
  size_t n_experts;
  size_t top_k;
  RouterAct act;
  bool renorm;
  float routed_scale;
  const Matrix& sel_bias;
  size_t n_groups = 1;
  size_t topk_groups = 1;
};

// Group-limited selection: keeps the topk_groups groups whose two best keys sum
// highest (ties to the lower group) and sets every other expert's key to 0, as the
// families do. keys has n_experts entries.
void limit_to_groups(const Routing& r, float* keys) {
  constexpr size_t kMaxGroups = 64;  // validate_config's bound
  const size_t per_group = r.n_experts / r.n_groups;
  float group_score[kMaxGroups];
  bool kept[kMaxGroups];
  for (size_t grp = 0; grp < r.n_groups; ++grp) {
    const float* k = keys + grp * per_group;
    float best = -std::numeric_limits<float>::infinity(), second = best;
    for (size_t e = 0; e < per_group; ++e) {
      if (k[e] > best) { second = best; best = k[e]; }
      else if (k[e] > second) second = k[e];
    }
    group_score[grp] = best + second;
    kept[grp] = false;
  }
  for (size_t pick = 0; pick < r.topk_groups; ++pick) {
    size_t top = r.n_groups;
    for (size_t grp = 0; grp < r.n_groups; ++grp)
      if (!kept[grp] && (top == r.n_groups || group_score[grp] > group_score[top])) top = grp;
    kept[top] = true;
  }
  for (size_t grp = 0; grp < r.n_groups; ++grp)
    if (!kept[grp]) std::fill(keys + grp * per_group, keys + (grp + 1) * per_group, 0.0f);
}

// Router probabilities, top-k selection and gates for one row (DESIGN.md section 5):
// p holds the router's logits on entry and their probabilities on return;
// gates[e] < 0 marks "not selected"; keys is scratch for the selection keys.
void route(const Routing& r, float* p, float* keys, float* gates) {
  const size_t E = r.n_experts;
  switch (r.act) {
    case RouterAct::Softmax: {
      float mx = *std::max_element(p, p + E);
      float sum = 0.0f;
      for (size_t e = 0; e < E; ++e) sum += (p[e] = std::exp(p[e] - mx));
      for (size_t e = 0; e < E; ++e) p[e] /= sum;
      break;
    }
    case RouterAct::Sigmoid:
      for (size_t e = 0; e < E; ++e) p[e] = sigmoid(p[e]);
      break;
    case RouterAct::ReLU:
      for (size_t e = 0; e < E; ++e) p[e] = p[e] > 0.0f ? p[e] : 0.0f;
      break;
  }
  // Top-k by p + sel_bias (within the best groups); ties go to the lower index.
  constexpr float kUnselected = -1.0f;
  for (size_t e = 0; e < E; ++e) keys[e] = p[e] + (r.sel_bias ? load(r.sel_bias, e) : 0.0f);
  if (r.n_groups > 1) limit_to_groups(r, keys);
  for (size_t e = 0; e < E; ++e) gates[e] = kUnselected;
  float selected_sum = 0.0f;
  for (size_t k = 0; k < r.top_k; ++k) {
    size_t best = E;
    float best_key = 0.0f;
    for (size_t e = 0; e < E; ++e) {
      if (gates[e] >= 0.0f) continue;
      if (best == E || keys[e] > best_key) { best = e; best_key = keys[e]; }
    }
    gates[best] = p[best];
    selected_sum += p[best];
  }
  for (size_t e = 0; e < E; ++e) {
    if (gates[e] < 0.0f) continue;
    float g = gates[e];
    if (r.renorm && selected_sum > 0.0f) g /= selected_sum;
    gates[e] = g * r.routed_scale;
  }
}

// dst[b] = projection(src[b]) for rows [0, n). A routed projection routes each row,
// then runs each selected expert once over the rows that chose it (only selected
// experts' weights are read) and adds gate * (W_j x + b_j) into dst.
void project(const std::optional<ProjectionExperts>& pc, const ProjectionWeights& w, size_t out_dim, ThreadPool& pool,
             Row* rows, float* const* src, float* const* dst, size_t n) {
  if (!pc) {
    linear(pool, w.plain.weight, w.plain.bias, src, dst, n);
    return;
  }
  MutablePointers scores, tmp;
  gather(rows, n, [](RowScratch& s) { return s.scores; }, scores);
  linear(pool, w.router.weight, w.router.bias, src, scores, n);
  const Routing routing{pc->n_experts, pc->top_k, pc->router, pc->renorm, pc->routed_scale, w.sel_bias};
  for (size_t b = 0; b < n; ++b) {
    route(routing, rows[b].scratch->scores, rows[b].scratch->keys, rows[b].scratch->gates);
    std::fill(dst[b], dst[b] + out_dim, 0.0f);
  }
  size_t members[kMaxLinearBatch];
  const float* member_src[kMaxLinearBatch];
  for (size_t e = 0; e < pc->n_experts; ++e) {
    size_t m = 0;
    for (size_t b = 0; b < n; ++b)
      if (rows[b].scratch->gates[e] >= 0.0f) {
        member_src[m] = src[b];
        tmp[m] = rows[b].scratch->proj;
        members[m++] = b;
      }
    if (m == 0) continue;
    linear(pool, w.experts[e].weight, w.experts[e].bias, member_src, tmp, m);
    for (size_t i = 0; i < m; ++i) {
      const float g = rows[members[i]].scratch->gates[e];
      float* out = dst[members[i]];
      for (size_t j = 0; j < out_dim; ++j) out[j] += g * tmp[i][j];
    }
  }
}

void mamba_layer(const ModelConfig& config, const LayerConfig& lc, const LayerWeights& lw, const std::pmr::vector<float>& A,
                 ThreadPool& pool, Row* rows, size_t n) {
  const size_t d_model = config.d_model;
  const MambaConfig& mc = lc.mamba;
  const MambaWeights& w = lw.mamba;
  const size_t di = mc.d_inner, ds = mc.d_state, dc = mc.d_conv, r = mc.dt_rank;
  const size_t conv_len = dc - 1;
  MutablePointers in, out;

  // The conv window per channel: state holds the last d_conv - 1 inputs, oldest first.
  float* windows[kMaxLinearBatch];
  const float* conv_in[kMaxLinearBatch];
  float* conv_out[kMaxLinearBatch];
  for (size_t b = 0; b < n; ++b) {
    windows[b] = rows[b].state + lw.state_offset;
    conv_in[b] = rows[b].scratch->xz;
    conv_out[b] = rows[b].scratch->xc;
  }
  const ConvRows conv_rows{windows, conv_in, conv_out, n};

  gather(rows, n, [](RowScratch& s) { return s.normed; }, in);
  gather(rows, n, [](RowScratch& s) { return s.xz; }, out);
  if (mc.split_in_proj()) {
    project(mc.x_proj_experts, w.x_in, di, pool, rows, in, out, n);
    for (size_t b = 0; b < n; ++b) out[b] += di;
    project(mc.z_proj_experts, w.z_in, di, pool, rows, in, out, n);
    for_channel_runs(pool, di, [&](size_t c0, size_t c1) {
      conv_channels(w.conv_weight, w.conv_bias, dc, conv_rows, c0, c1);
    });
  } else {
    // in_proj's rows of a task's channels (x, then z) and their conv in one task: one
    // pass over the pool instead of two. Not where each task would quantize every
    // vector for itself, twice (a q8 or q4 prefill chunk of 64 tokens: 16 times over
    // 8 tasks): linear() quantizes them once per part of the rows, then the conv.
    with_linear_input(w.in_proj.weight, in, n, [&](const LinearInput& input) {
      if (quantized_per_task(w.in_proj.weight, input)) {
        linear(pool, w.in_proj.weight, w.in_proj.bias, in, out, n);
        for_channel_runs(pool, di, [&](size_t c0, size_t c1) {
          conv_channels(w.conv_weight, w.conv_bias, dc, conv_rows, c0, c1);
        });
        return;
      }
      for_channel_runs(pool, di, [&](size_t c0, size_t c1) {
        linear_rows(w.in_proj.weight, w.in_proj.bias, c0, c1, input, out);
        linear_rows(w.in_proj.weight, w.in_proj.bias, di + c0, di + c1, input, out);
        conv_channels(w.conv_weight, w.conv_bias, dc, conv_rows, c0, c1);
      });
    });
  }

  gather(rows, n, [](RowScratch& s) { return s.xc; }, in);
  gather(rows, n, [](RowScratch& s) { return s.dbc; }, out);
  linear(pool, w.x_proj, Matrix{}, in, out, n);
  if (mc.dt_bc_norm != InnerNorm::None) {
    // Falcon-Mamba / Jamba: dt, B and C each RMS-normalised (weighted for Jamba).
    const bool weighted = mc.dt_bc_norm == InnerNorm::RMSWeighted;
    const Matrix* weights[3] = {&w.dt_norm, &w.b_norm, &w.c_norm};
    const size_t offsets[3] = {0, r, r + ds}, lengths[3] = {r, ds, ds};
    for (size_t b = 0; b < n; ++b)
      for (int k = 0; k < 3; ++k)
        rms_normalize(rows[b].scratch->dbc + offsets[k], lengths[k], mc.dt_bc_norm_eps, weighted ? weights[k] : nullptr);
  }

  // dt_proj's rows of a task's channels (dt reads dbc[0, dt_rank)), then the selective
  // scan: s = s * exp(dt A) + dt x B;  y = (s . C + D x) * silu(z).
  gather(rows, n, [](RowScratch& s) { return s.dbc; }, in);
  gather(rows, n, [](RowScratch& s) { return s.dt; }, out);
  with_linear_input(w.dt_proj.weight, in, n, [&](const LinearInput& input) {
    for_channel_runs(pool, di, [&](size_t c0, size_t c1) {
      linear_rows(w.dt_proj.weight, w.dt_proj.bias, c0, c1, input, out);
      for (size_t b = 0; b < n; ++b) {
        RowScratch& s = *rows[b].scratch;
        const ScanStep step{rows[b].state + lw.state_offset + di * conv_len, A.data(), s.dbc + r, s.dbc + r + ds,
                            s.dt, s.xc, s.xz + di, w.D, s.y};
        scan_channels(step, c0, c1, ds);
      }
    });
  });

  gather(rows, n, [](RowScratch& s) { return s.y; }, in);
  gather(rows, n, [](RowScratch& s) { return s.out; }, out);
  project(mc.out_proj_experts, w.out_proj, d_model, pool, rows, in, out, n);
}

float activate(ExpertAct act, float x) {
  switch (act) {
    case ExpertAct::ReLU: return x > 0.0f ? x : 0.0f;
    case ExpertAct::GELU: case ExpertAct::GeGLU: return gelu(x);
    case ExpertAct::GELUTanh: return gelu_tanh(x);
    case ExpertAct::SiLU: case ExpertAct::SwiGLU: return silu(x);
    case ExpertAct::ReLU2: return x > 0.0f ? x * x : 0.0f;
  }
  return x;
}

// ff_out = w2 act(w1 h + b1) [* (w3 h + b3)] + b2 for the listed rows.
void feed_forward(const FeedForwardConfig& fc, const FeedForwardWeights& w, ThreadPool& pool, Row* const* rows,
                  size_t n) {
  MutablePointers in = {}, hidden = {}, gate_in = {}, out = {};
  for (size_t b = 0; b < n; ++b) {
    in[b] = rows[b]->scratch->normed;
    hidden[b] = rows[b]->scratch->ff1;
    gate_in[b] = rows[b]->scratch->ff3;
    out[b] = rows[b]->scratch->ff_out;
  }
  linear(pool, w.w1.weight, w.w1.bias, in, hidden, n);
  if (fc.gated()) linear(pool, w.w3.weight, w.w3.bias, in, gate_in, n);
  for (size_t b = 0; b < n; ++b) {
    float* h = hidden[b];
    if (fc.gated())
      for (size_t i = 0; i < fc.d_ff; ++i) h[i] = activate(fc.act, h[i]) * gate_in[b][i];
    else
      for (size_t i = 0; i < fc.d_ff; ++i) h[i] = activate(fc.act, h[i]);
  }
  linear(pool, w.w2.weight, w.w2.bias, hidden, out, n);
}

void moe_layer(const ModelConfig& config, const LayerConfig& lc, const LayerWeights& lw, ThreadPool& pool,
               Row* rows, size_t n) {
  const MoEConfig& mc = lc.moe;
  const size_t d = config.d_model;
  MutablePointers in, out;
  gather(rows, n, [](RowScratch& s) { return s.normed; }, in);
  gather(rows, n, [](RowScratch& s) { return s.scores; }, out);
  linear(pool, lw.moe.router.weight, lw.moe.router.bias, in, out, n);
  const Routing routing{mc.n_experts, mc.top_k, mc.router, mc.renorm, mc.routed_scale, lw.moe.sel_bias,
                        mc.n_groups, mc.topk_groups};
  for (size_t b = 0; b < n; ++b) {
    route(routing, rows[b].scratch->scores, rows[b].scratch->keys, rows[b].scratch->gates);
    std::fill(rows[b].scratch->moe_acc, rows[b].scratch->moe_acc + d, 0.0f);
  }
  // Each selected expert runs once over the rows that chose it: only selected
  // experts' weights are read.
  Row* members[kMaxLinearBatch];
  for (size_t e = 0; e < mc.n_experts; ++e) {
    size_t m = 0;
    for (size_t b = 0; b < n; ++b)
      if (rows[b].scratch->gates[e] >= 0.0f) members[m++] = &rows[b];
    if (m == 0) continue;
    feed_forward(mc.expert, lw.moe.experts[e], pool, members, m);
    for (size_t i = 0; i < m; ++i) {
      RowScratch& s = *members[i]->scratch;
      float g = s.gates[e];
      if (mc.normalize_expert_output) {
        double ss = 0.0;
        for (size_t j = 0; j < d; ++j) ss += double(s.ff_out[j]) * s.ff_out[j];
        g *= float(1.0 / std::sqrt(ss / double(d) + config.norm_eps));
      }
      for (size_t j = 0; j < d; ++j) s.moe_acc[j] += g * s.ff_out[j];
    }
  }
  for (size_t b = 0; b < n; ++b) members[b] = &rows[b];
  for (const auto& shared : lw.moe.shared) {
    feed_forward(mc.shared, shared, pool, members, n);
    for (size_t b = 0; b < n; ++b)
      for (size_t j = 0; j < d; ++j) rows[b].scratch->moe_acc[j] += rows[b].scratch->ff_out[j];
  }
  for (size_t b = 0; b < n; ++b) std::memcpy(rows[b].scratch->out, rows[b].scratch->moe_acc, d * sizeof(float));
}

}  // namespace

size_t row_scratch_floats(const Model& model) {
  const ModelConfig& c = model.config();
  const ModelSizes& z = model.sizes();
  auto round = [](uint64_t v) { return size_t((v + 15) / 16 * 16); };  // keep each field 64-byte aligned
  return 6 * round(c.d_model) + round(std::max<uint64_t>(c.d_model, z.max_d_inner)) +
         round(std::max(2 * z.max_d_inner, z.max_in_proj)) + round(std::max(z.max_d_inner, z.max_conv_channels)) +
         2 * round(z.max_d_inner) + round(z.max_dbc) + 3 * round(z.max_experts) + 2 * round(z.max_d_ff) +
         round(kMaxLinearBatch * z.max_groups) + 4 * round(z.max_q_dim) + round(2 * z.max_kv_dim) +
         round(KvCache::kPageTokens * z.max_attention_heads);
}

RowScratch carve_row_scratch(const Model& model, float* p) {
  const ModelConfig& c = model.config();
  const ModelSizes& z = model.sizes();
  auto take = [&p](uint64_t count) { float* q = p; p += (count + 15) / 16 * 16; return q; };
  RowScratch s;
  s.residual = take(c.d_model);
  s.normed = take(c.d_model);
  s.out = take(c.d_model);
  s.ff_out = take(c.d_model);
  s.moe_acc = take(c.d_model);
  s.xz = take(std::max(2 * z.max_d_inner, z.max_in_proj));
  s.xc = take(std::max(z.max_d_inner, z.max_conv_channels));
  s.dt = take(z.max_d_inner);
  s.y = take(z.max_d_inner);
  s.dbc = take(z.max_dbc);
  s.scores = take(z.max_experts);
  s.gates = take(z.max_experts);
  s.keys = take(z.max_experts);
  s.ff1 = take(z.max_d_ff);
  s.ff3 = take(z.max_d_ff);
  s.proj = take(std::max<uint64_t>(c.d_model, z.max_d_inner));
  s.mamba_out = take(c.d_model);
  s.gram = take(kMaxLinearBatch * z.max_groups);
  s.q = take(z.max_q_dim);
  s.kv = take(2 * z.max_kv_dim);
  s.attn = take(z.max_q_dim);
  s.softmax = take(2 * z.max_q_dim);  // 2 n_heads <= 2 n_heads head_dim
  s.attn_weights = take(KvCache::kPageTokens * z.max_attention_heads);
  return s;
}

namespace {

// The head of a large vocabulary costs many layers: it runs in parts of about 4M
// weights (output rows a multiple of 64), each a stage of its own.
size_t head_part_rows(const ModelConfig& c) {
  constexpr size_t kPartWeights = size_t(1) << 22;
  return std::max<size_t>(64, kPartWeights / std::max<size_t>(1, c.d_model) / 64 * 64);
}

size_t head_parts(const ModelConfig& c) { return (c.vocab_size + head_part_rows(c) - 1) / head_part_rows(c); }

}  // namespace

size_t forward_stage_count(const Model& model) { return model.config().layers.size() + head_parts(model.config()); }

void forward(const Model& model, ThreadPool& pool, Row* rows, size_t n) {
  forward_stages(model, pool, rows, n, 0, forward_stage_count(model));
}

void forward_stages(const Model& model, ThreadPool& pool, Row* rows, size_t n, size_t first, size_t last) {
  const ModelConfig& config = model.config();
  const ModelWeights& w = model.weights();
  const size_t d = config.d_model;
  const size_t n_layers = config.layers.size();

  if (first == 0) {
    for (size_t b = 0; b < n; ++b) {
      float* r = rows[b].scratch->residual;
      load_row(w.embed, uint64_t(rows[b].token), r);
      if (config.embedding_scale != 1.0f)
        for (size_t j = 0; j < d; ++j) r[j] *= config.embedding_scale;
    }
  }

  for (size_t i = first; i < std::min(last, n_layers); ++i) {
    const LayerConfig& lc = config.layers[i];
    const LayerWeights& lw = w.layers[i];
    for (size_t b = 0; b < n; ++b)
      normalize(lw.norm, config.norm_eps, rows[b].scratch->residual, rows[b].scratch->normed, d);
    switch (lc.kind) {
      case LayerKind::Mamba: mamba_layer(config, lc, lw, w.A[i], pool, rows, n); break;
      case LayerKind::Parallel: {
        // Both parts read the block's input r: the Mamba part's output waits in
        // mamba_out while the MoE part runs on its own norm of r.
        mamba_layer(config, lc, lw, w.A[i], pool, rows, n);
        for (size_t b = 0; b < n; ++b) {
          RowScratch& s = *rows[b].scratch;
          std::memcpy(s.mamba_out, s.out, d * sizeof(float));
          if (!lc.shared_norm) normalize(lw.norm_moe, config.norm_eps, s.residual, s.normed, d);
        }
        moe_layer(config, lc, lw, pool, rows, n);
        for (size_t b = 0; b < n; ++b)
          for (size_t j = 0; j < d; ++j) rows[b].scratch->out[j] += rows[b].scratch->mamba_out[j];
        break;
      }
      case LayerKind::MoE: moe_layer(config, lc, lw, pool, rows, n); break;
      case LayerKind::Mamba2: mamba2_layer(lc.mamba2, lw, w.A[i], pool, rows, n); break;
      case LayerKind::Attention: attention_layer(lc.attention, lw, pool, rows, n); break;
      case LayerKind::MLP: {
        Row* members[kMaxLinearBatch];
        for (size_t b = 0; b < n; ++b) members[b] = &rows[b];
        feed_forward(lc.mlp, lw.mlp, pool, members, n);
        for (size_t b = 0; b < n; ++b) std::memcpy(rows[b].scratch->out, rows[b].scratch->ff_out, d * sizeof(float));
        break;
      }
    }
    const float scale = config.residual_scale;
    for (size_t b = 0; b < n; ++b) {
      float* r = rows[b].scratch->residual;
      const float* o = rows[b].scratch->out;
      if (scale == 1.0f)
        for (size_t j = 0; j < d; ++j) r[j] += o[j];
      else
        for (size_t j = 0; j < d; ++j) r[j] += scale * o[j];
    }
  }

  if (last <= n_layers) return;
  // The head's parts [part0, part1): the first normalizes the rows that want logits.
  const size_t part0 = first > n_layers ? first - n_layers : 0, part1 = last - n_layers;
  MutablePointers in, out;
  size_t m = 0;
  for (size_t b = 0; b < n; ++b) {
    if (!rows[b].logits) continue;
    if (part0 == 0) normalize(w.norm_f, config.norm_eps, rows[b].scratch->residual, rows[b].scratch->normed, d);
    in[m] = rows[b].scratch->normed;
    out[m++] = rows[b].logits;
  }
  if (m == 0) return;
  const size_t per_part = head_part_rows(config);
  const size_t r0 = part0 * per_part, r1 = std::min<size_t>(config.vocab_size, part1 * per_part);
  linear(pool, w.head, Matrix{}, r0, r1, in, out, m);  // each row's bits do not depend on the split
  if (config.logits_divisor != 1.0f)
    for (size_t b = 0; b < m; ++b)
      for (size_t j = r0; j < r1; ++j) out[b][j] /= config.logits_divisor;
}

}  // namespace mmb::cpu
