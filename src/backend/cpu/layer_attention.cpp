#include "backend/cpu/layer_attention.hpp"

#include "backend/cpu/f16_span.hpp"
#include "backend/cpu/kv_cache.hpp"
#include "backend/cpu/row_batch.hpp"
#include "backend/cpu/silu_span.hpp"
#include "backend/cpu/simd_dispatch.hpp"
#include "backend/cpu/vec8.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace mmb::cpu {

namespace {

constexpr size_t kMaxHeadDim = 1024;  // validate_config's bound

// Rotate-half RoPE of each head's first rotary_dim dimensions. The angles follow the
// families' own float32 arithmetic (inverse frequency and position * frequency in
// f32), so long positions round as they did in training.
void rotate(const AttentionConfig& c, uint64_t position, float* heads, size_t n_heads) {
  const size_t half = c.rotary_dim / 2;
  float cos_a[kMaxHeadDim / 2], sin_a[kMaxHeadDim / 2];
  for (size_t i = 0; i < half; ++i) {
    const float inv_freq = float(1.0 / std::pow(double(c.rope_theta), double(2 * i) / double(c.rotary_dim)));
    const double angle = double(float(position) * inv_freq);
    cos_a[i] = float(std::cos(angle));
    sin_a[i] = float(std::sin(angle));
  }
  for (size_t h = 0; h < n_heads; ++h) {
    float* x = heads + h * c.head_dim;
    for (size_t i = 0; i < half; ++i) {
      const float x1 = x[i], x2 = x[i + half];
      x[i] = x1 * cos_a[i] - x2 * sin_a[i];
      x[i + half] = x2 * cos_a[i] + x1 * sin_a[i];
    }
  }
}

void store_row(const KvCache& kv, std::byte* dst, const float* src, size_t count) {
  if (kv.type() == KvType::F32)
    std::memcpy(dst, src, count * sizeof(float));
  else
    f32_to_f16_span(src, reinterpret_cast<uint16_t*>(dst), count);
}

// A cached row as f32: in place for an f32 cache, widened into `buffer` for f16.
const float* widened_row(const KvCache& kv, const std::byte* src, float* buffer, size_t count) {
  if (kv.type() == KvType::F32) return reinterpret_cast<const float*>(src);
  f16_to_f32_span(reinterpret_cast<const uint16_t*>(src), buffer, count);
  return buffer;
}

// Query heads [h0, h0 + g) of one row over tokens 0..position of key/value head j, a
// block of tokens at a time (the tokens of one KV page: block edges sit at the same
// absolute positions for a step and for any prefill chunk, so both give the same bits).
// Per block: each key widened once and scored against the g queries; per head, the
// running softmax moves to the block's maximum once, the block's weights go through
// one vector exp; then each value widened once and added with the g heads' weights.
MMB_HOT_CLONES void attend(const AttentionConfig& c, uint32_t slot, const Row& row, size_t j, size_t h0, size_t g) {
  constexpr size_t kBlock = KvCache::kPageTokens;
  const size_t hd = c.head_dim;
  const float scale = c.softmax_scale();
  const KvCache& kv = *row.kv;
  RowScratch& s = *row.scratch;
  float* out = s.attn + h0 * hd;
  float* running_max = s.softmax + h0;
  float* running_sum = s.softmax + c.n_heads + h0;
  float* weights = s.attn_weights + h0 * kBlock;  // [g][kBlock]
  std::fill(out, out + g * hd, 0.0f);
  std::fill(running_max, running_max + g, -std::numeric_limits<float>::infinity());
  std::fill(running_sum, running_sum + g, 0.0f);
  float buffer[kMaxHeadDim];
  for (uint64_t t0 = 0; t0 <= row.position;) {
    const uint64_t t1 = std::min<uint64_t>(row.position + 1, (t0 / kBlock + 1) * kBlock);
    const size_t n = size_t(t1 - t0);
    for (size_t i = 0; i < n; ++i) {
      const float* key = widened_row(kv, kv.keys(slot, t0 + i, j), buffer, hd);
      for (size_t h = 0; h < g; ++h) weights[h * kBlock + i] = scale * dot(s.q + (h0 + h) * hd, key, hd);
    }
    for (size_t h = 0; h < g; ++h) {
      float* w = weights + h * kBlock;
      const float block_max = *std::max_element(w, w + n);
      if (block_max > running_max[h]) {
        // A new maximum: what was summed so far shrinks by exp(old - new).
        const float shrink = std::exp(running_max[h] - block_max);
        running_sum[h] *= shrink;
        for (size_t i = 0; i < hd; ++i) out[h * hd + i] *= shrink;
        running_max[h] = block_max;
      }
      // Floored at -87: e^-87 is still a normal float (subnormal sums are slow on x86),
      // and every kernel path gives the same value there.
      for (size_t i = 0; i < n; ++i) w[i] = std::max(w[i] - running_max[h], -87.0f);
      exp_span(w, n);
      float sum = 0.0f;
      for (size_t i = 0; i < n; ++i) sum += w[i];
      running_sum[h] += sum;
    }
    for (size_t i = 0; i < n; ++i) {
      const float* value = widened_row(kv, kv.values(slot, t0 + i, j), buffer, hd);
      for (size_t h = 0; h < g; ++h) {
        const float weight = weights[h * kBlock + i];
        const Vec8 wv = {weight, weight, weight, weight, weight, weight, weight, weight};
        float* acc = out + h * hd;
        size_t k = 0;
        for (; k + 8 <= hd; k += 8) store8(acc + k, load8(acc + k) + wv * load8(value + k));
        for (; k < hd; ++k) acc[k] += weight * value[k];
      }
    }
    t0 = t1;
  }
  for (size_t h = 0; h < g; ++h) {
    const float inv = 1.0f / running_sum[h];
    for (size_t i = 0; i < hd; ++i) out[h * hd + i] *= inv;
  }
}

}  // namespace

void attention_layer(const AttentionConfig& c, const LayerWeights& lw, ThreadPool& pool, Row* rows, size_t n) {
  const AttentionWeights& w = lw.attention;
  const size_t kv_dim = c.kv_dim();
  MutablePointers in = {}, q = {}, k = {}, v = {};
  gather(rows, n, [](RowScratch& s) { return s.normed; }, in);
  gather(rows, n, [](RowScratch& s) { return s.q; }, q);
  gather(rows, n, [](RowScratch& s) { return s.kv; }, k);
  gather(rows, n, [&](RowScratch& s) { return s.kv + kv_dim; }, v);
  linear(pool, w.q.weight, w.q.bias, in, q, n);
  linear(pool, w.k.weight, w.k.bias, in, k, n);
  linear(pool, w.v.weight, w.v.bias, in, v, n);

  for (size_t b = 0; b < n; ++b) {
    Row& r = rows[b];
    if (c.rotary_dim) {
      rotate(c, r.position, r.scratch->q, c.n_heads);
      rotate(c, r.position, r.scratch->kv, c.n_kv_heads);
    }
    for (size_t j = 0; j < c.n_kv_heads; ++j) {
      store_row(*r.kv, r.kv->keys(lw.kv_slot, r.position, j), r.scratch->kv + j * c.head_dim, c.head_dim);
      store_row(*r.kv, r.kv->values(lw.kv_slot, r.position, j), r.scratch->kv + kv_dim + j * c.head_dim, c.head_dim);
    }
  }

  const size_t g = c.n_heads / c.n_kv_heads;
  pool.run(n * c.n_kv_heads, [&](size_t task, int) {
    const size_t b = task / c.n_kv_heads, j = task % c.n_kv_heads;
    attend(c, lw.kv_slot, rows[b], j, j * g, g);
  });

  MutablePointers heads = {}, out = {};
  gather(rows, n, [](RowScratch& s) { return s.attn; }, heads);
  gather(rows, n, [](RowScratch& s) { return s.out; }, out);
  linear(pool, w.o.weight, w.o.bias, heads, out, n);
}

}  // namespace mmb::cpu
