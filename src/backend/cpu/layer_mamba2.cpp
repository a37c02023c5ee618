#include "backend/cpu/layer_mamba2.hpp"

#include "backend/cpu/activations.hpp"
#include "backend/cpu/conv_step.hpp"
#include "backend/cpu/rms_norm.hpp"
#include "backend/cpu/row_batch.hpp"
#include "backend/cpu/silu_span.hpp"
#include "backend/cpu/simd_dispatch.hpp"
#include "backend/cpu/vec8.hpp"
#include "backend/cpu/weight_load.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace mmb::cpu {

namespace {

// What a head reads of one row: its channels of x, its group's B and C, its dt, and
// where its outputs go.
struct HeadRow {
  const float* x;  // head_dim
  const float* B;  // d_state
  const float* C;  // d_state
  float dt;
  float* y;        // head_dim
};

// One token: s = s exp(dt A) + dt x B;  y = s . C, in one pass over the state.
MMB_HOT_CLONES void head_step(float* s, size_t P, size_t N, float A, const HeadRow& r) {
  const float decay = std::exp(r.dt * A);
  for (size_t p = 0; p < P; ++p) {
    float* sp = s + p * N;
    const float dtx = r.dt * r.x[p];
    Vec8 acc = {};
    size_t k = 0;
    for (; k + 8 <= N; k += 8) {
      const Vec8 v = load8(sp + k) * decay + dtx * load8(r.B + k);
      store8(sp + k, v);
      acc += v * load8(r.C + k);
    }
    float tail = 0.0f;
    for (; k < N; ++k) {
      const float v = sp[k] * decay + dtx * r.B[k];
      sp[k] = v;
      tail += v * r.C[k];
    }
    r.y[p] = total8(acc) + tail;
  }
}

// A chunk of L tokens of one session in the SSD form. With the cumulative log-decay
// c_t = sum_{u <= t} dt_u A and the Gram values g_t[u] = C_t . B_u of the head's group:
//   y_t = exp(c_t) (s0 . C_t) + sum_{u <= t} g_t[u] exp(c_t - c_u) dt_u x_u
//   s_L = exp(c_{L-1}) s0 + sum_u exp(c_{L-1} - c_u) dt_u x_u B_u^T
// The exponents are never positive (A < 0, dt >= 0), so nothing overflows. The three
// products keep a block of outputs in registers over the inner index, so that the
// state's bytes, not loads and stores of partial sums, bound the work.
MMB_HOT_CLONES void head_chunk(float* s, size_t P, size_t N, float A, const HeadRow* rows, const float* const* gram,
                               size_t L) {
  float c[kMaxLinearBatch], coef[kMaxLinearBatch], weight[kMaxLinearBatch];
  const float* xs[kMaxLinearBatch];
  const float* Bs[kMaxLinearBatch];
  float sum = 0.0f;
  for (size_t t = 0; t < L; ++t) {
    c[t] = (sum += rows[t].dt * A);
    xs[t] = rows[t].x;
    Bs[t] = rows[t].B;
  }
  const size_t N8 = N / 8 * 8, P8 = P / 8 * 8;

  // y_t = exp(c_t) (s0 . C_t): four tokens share each load of the state.
  for (size_t p = 0; p < P; ++p) {
    const float* sp = s + p * N;
    size_t t = 0;
    for (; t + 4 <= L; t += 4) {
      const float *C0 = rows[t].C, *C1 = rows[t + 1].C, *C2 = rows[t + 2].C, *C3 = rows[t + 3].C;
      Vec8 a0 = {}, a1 = {}, a2 = {}, a3 = {};
      for (size_t k = 0; k < N8; k += 8) {
        const Vec8 v = load8(sp + k);
        a0 += v * load8(C0 + k);
        a1 += v * load8(C1 + k);
        a2 += v * load8(C2 + k);
        a3 += v * load8(C3 + k);
      }
      float r0 = total8(a0), r1 = total8(a1), r2 = total8(a2), r3 = total8(a3);
      for (size_t k = N8; k < N; ++k) {
        r0 += sp[k] * C0[k];
        r1 += sp[k] * C1[k];
        r2 += sp[k] * C2[k];
        r3 += sp[k] * C3[k];
      }
      rows[t].y[p] = std::exp(c[t]) * r0;
      rows[t + 1].y[p] = std::exp(c[t + 1]) * r1;
      rows[t + 2].y[p] = std::exp(c[t + 2]) * r2;
      rows[t + 3].y[p] = std::exp(c[t + 3]) * r3;
    }
    for (; t < L; ++t) rows[t].y[p] = std::exp(c[t]) * dot(sp, rows[t].C, N);
  }

  // y_t += sum_{u <= t} g_t[u] exp(c_t - c_u) dt_u x_u, 8 channels of y_t in a register.
  for (size_t t = 0; t < L; ++t) {
    for (size_t u = 0; u <= t; ++u) coef[u] = gram[t][u] * std::exp(c[t] - c[u]) * rows[u].dt;
    float* y = rows[t].y;
    for (size_t p = 0; p < P8; p += 8) {
      Vec8 acc = load8(y + p);
      for (size_t u = 0; u <= t; ++u) acc += coef[u] * load8(xs[u] + p);
      store8(y + p, acc);
    }
    for (size_t p = P8; p < P; ++p)
      for (size_t u = 0; u <= t; ++u) y[p] += coef[u] * xs[u][p];
  }

  // s = exp(c_{L-1}) s + sum_u exp(c_{L-1} - c_u) dt_u x_u[p] B_u, 32 values of a state
  // row in registers.
  const float last = c[L - 1], carried = std::exp(last);
  for (size_t u = 0; u < L; ++u) weight[u] = std::exp(last - c[u]) * rows[u].dt;
  for (size_t p = 0; p < P; ++p) {
    float* sp = s + p * N;
    for (size_t u = 0; u < L; ++u) coef[u] = weight[u] * xs[u][p];
    size_t k = 0;
    for (; k + 32 <= N; k += 32) {
      Vec8 a0 = load8(sp + k) * carried, a1 = load8(sp + k + 8) * carried, a2 = load8(sp + k + 16) * carried,
           a3 = load8(sp + k + 24) * carried;
      for (size_t u = 0; u < L; ++u) {
        const float* b = Bs[u] + k;
        a0 += coef[u] * load8(b);
        a1 += coef[u] * load8(b + 8);
        a2 += coef[u] * load8(b + 16);
        a3 += coef[u] * load8(b + 24);
      }
      store8(sp + k, a0);
      store8(sp + k + 8, a1);
      store8(sp + k + 16, a2);
      store8(sp + k + 24, a3);
    }
    for (; k + 8 <= N; k += 8) {
      Vec8 a = load8(sp + k) * carried;
      for (size_t u = 0; u < L; ++u) a += coef[u] * load8(Bs[u] + k);
      store8(sp + k, a);
    }
    for (; k < N; ++k) {
      float v = sp[k] * carried;
      for (size_t u = 0; u < L; ++u) v += coef[u] * Bs[u][k];
      sp[k] = v;
    }
  }
}

// Rows [begin, end) share one state (a chunk of one session, in time order).
struct Segment {
  size_t begin, end;
};

}  // namespace

void mamba2_layer(const Mamba2Config& mc, const LayerWeights& lw, const std::pmr::vector<float>& A, ThreadPool& pool,
                  Row* rows, size_t n) {
  const Mamba2Weights& w = lw.mamba2;
  const size_t di = mc.d_inner, N = mc.d_state, H = mc.n_heads, G = mc.n_groups, P = mc.head_dim();
  const size_t heads_per_group = H / G, conv_ch = mc.conv_channels();
  const size_t conv_floats = conv_ch * (mc.d_conv - 1);
  MutablePointers in = {}, out = {};

  // in_proj: [z | xBC | dt] per row.
  gather(rows, n, [](RowScratch& s) { return s.normed; }, in);
  gather(rows, n, [](RowScratch& s) { return s.xz; }, out);
  linear(pool, w.in_proj.weight, w.in_proj.bias, in, out, n);

  // The causal conv + SiLU over xBC, into xc.
  float* windows[kMaxLinearBatch];
  const float* conv_in[kMaxLinearBatch];
  float* conv_out[kMaxLinearBatch];
  for (size_t b = 0; b < n; ++b) {
    windows[b] = rows[b].state + lw.state_offset;
    conv_in[b] = rows[b].scratch->xz + di;
    conv_out[b] = rows[b].scratch->xc;
  }
  const ConvRows conv_rows{windows, conv_in, conv_out, n};
  for_channel_runs(pool, conv_ch, [&](size_t c0, size_t c1) {
    conv_channels(w.conv_weight, w.conv_bias, mc.d_conv, conv_rows, c0, c1);
  });

  // dt per head: softplus(dt + dt_bias), clamped to the layer's limits.
  for (size_t b = 0; b < n; ++b) {
    const float* raw = rows[b].scratch->xz + 2 * di + 2 * G * N;
    float* dt = rows[b].scratch->dt;
    for (size_t h = 0; h < H; ++h) dt[h] = std::clamp(softplus(raw[h] + load(w.dt_bias, h)), mc.dt_min, mc.dt_max);
  }

  // Runs of rows sharing a state; the Gram values C_t . B_u of every chunk, per group.
  Segment segments[kMaxLinearBatch];
  size_t n_segments = 0;
  for (size_t b = 0; b < n; ++b) {
    if (n_segments && rows[segments[n_segments - 1].begin].state == rows[b].state)
      segments[n_segments - 1].end = b + 1;
    else
      segments[n_segments++] = {b, b + 1};
  }
  size_t chunked_rows[kMaxLinearBatch], n_chunked = 0;
  size_t chunk_begin[kMaxLinearBatch];
  for (size_t i = 0; i < n_segments; ++i)
    if (segments[i].end - segments[i].begin > 1)
      for (size_t b = segments[i].begin; b < segments[i].end; ++b) {
        chunk_begin[n_chunked] = segments[i].begin;
        chunked_rows[n_chunked++] = b;
      }
  if (n_chunked) {
    pool.run(n_chunked * G, [&](size_t task, int) {
      const size_t t = chunked_rows[task / G], g = task % G, first = chunk_begin[task / G];
      const float* C = rows[t].scratch->xc + di + G * N + g * N;
      float* gram = rows[t].scratch->gram + g * kMaxLinearBatch;
      for (size_t u = first; u <= t; ++u) gram[u - first] = dot(C, rows[u].scratch->xc + di + g * N, N);
    });
  }

  // Each head over every segment in order: a step for a lone row, the SSD form for a chunk.
  pool.run(H, [&](size_t h, int) {
    const size_t g = h / heads_per_group;
    HeadRow head_rows[kMaxLinearBatch];
    const float* grams[kMaxLinearBatch];
    for (size_t i = 0; i < n_segments; ++i) {
      const Segment seg = segments[i];
      for (size_t b = seg.begin; b < seg.end; ++b) {
        RowScratch& s = *rows[b].scratch;
        head_rows[b - seg.begin] = {s.xc + h * P, s.xc + di + g * N, s.xc + di + G * N + g * N, s.dt[h], s.y + h * P};
        grams[b - seg.begin] = s.gram + g * kMaxLinearBatch;
      }
      float* state = rows[seg.begin].state + lw.state_offset + conv_floats + h * P * N;
      const size_t L = seg.end - seg.begin;
      if (L == 1)
        head_step(state, P, N, A[h], head_rows[0]);
      else
        head_chunk(state, P, N, A[h], head_rows, grams, L);
      for (size_t t = 0; t < L; ++t)
        for (size_t p = 0; p < P; ++p)
          head_rows[t].y[p] += load(w.D, mc.d_per_channel ? h * P + p : h) * head_rows[t].x[p];
    }
  });

  // y * silu(z), RMS-normalised per group of channels (as mamba_ssm trains it), times the weight.
  const size_t group = mc.norm_group();
  pool.run(n, [&](size_t b, int) {
    RowScratch& s = *rows[b].scratch;
    silu_span(s.xz, di);  // z is read only here
    for (size_t c = 0; c < di; ++c) s.y[c] *= s.xz[c];
    if (!mc.gated_norm) return;
    for (size_t c0 = 0; c0 < di; c0 += group) rms_normalize(s.y + c0, group, mc.norm_eps, &w.norm, c0);
  });

  gather(rows, n, [](RowScratch& s) { return s.y; }, in);
  gather(rows, n, [](RowScratch& s) { return s.out; }, out);
  linear(pool, w.out_proj.weight, w.out_proj.bias, in, out, n);
}

}  // namespace mmb::cpu
