#include "support/attention_models.hpp"
#include "support/mamba2_models.hpp"
#include "support/splitmix_rng.hpp"

#include <catch2/catch.hpp>

#include <cstring>

namespace mmb::testing {

using namespace builders;

namespace {

using E = ExpertAct;
using R = RouterAct;
using N = NormKind;

LayerConfig with_biases(LayerConfig l, bool qkv, bool out) {
  l.attention.qkv_bias = qkv;
  l.attention.out_bias = out;
  return l;
}

// Every attention option drawn independently: any key/value head count that divides
// the query heads, head sizes on and off the eight-float vector width, no, partial or
// full RoPE over several thetas, the default or an explicit scale, biases.
LayerConfig random_attention(SplitMixRng& rng) {
  const uint32_t heads = rng.pick({1u, 2u, 3u, 4u, 6u, 8u});
  const uint32_t head_dim = rng.pick({2u, 4u, 6u, 8u, 12u, 16u, 32u});
  const uint32_t rotary = rng.pick({0u, head_dim, head_dim / 2 / 2 * 2, 2u});
  LayerConfig l = attention_layer(heads, rng.pick(divisors(heads)), head_dim, rotary);
  l.attention.rope_theta = rng.pick({10000.0f, 500000.0f, 100.0f});
  l.attention.scale = rng.pick({0.0f, 0.0f, 1.0f / float(head_dim), 0.5f});
  return with_biases(l, rng.coin(), rng.coin());
}

FeedForwardConfig random_ff(SplitMixRng& rng) {
  return ff(8 * (2 + rng.below(6)), rng.pick({E::ReLU2, E::ReLU2, E::SwiGLU, E::SiLU, E::GELU}), rng.coin());
}

// An MoE layer with every routing option drawn, group-limited selection among them.
LayerConfig random_moe(SplitMixRng& rng) {
  const uint32_t n_experts = rng.pick({4u, 6u, 8u, 12u});
  const uint32_t top_k = 1 + rng.below(3);
  LayerConfig l = moe(n_experts, top_k, random_ff(rng), rng.pick({R::Softmax, R::Sigmoid, R::Sigmoid}));
  if (rng.coin()) {  // groups of at least two experts, enough of them kept for top_k
    std::vector<uint32_t> counts;
    for (uint32_t g : divisors(n_experts))
      if (g > 1 && n_experts / g >= 2) counts.push_back(g);
    l.moe.n_groups = rng.pick(counts);
    const uint32_t per_group = n_experts / l.moe.n_groups;
    l.moe.topk_groups = std::max<uint32_t>((top_k + per_group - 1) / per_group, 1 + rng.below(l.moe.n_groups));
  }
  l.moe.router_bias = rng.coin();
  l.moe.sel_bias = rng.coin();
  l.moe.renorm = rng.coin();
  l.moe.routed_scale = rng.pick({1.0f, 2.5f});
  l.moe.n_shared = rng.pick({0u, 1u});
  if (l.moe.n_shared) l.moe.shared = random_ff(rng);
  return l;
}

LayerConfig random_mixer(SplitMixRng& rng, uint32_t d_model) {
  switch (rng.below(3)) {
    case 0: {
      LayerConfig l = mamba(2 * d_model, rng.pick({4u, 16u}), 4, 1 + rng.below(4));
      l.mamba.dt_bc_norm = rng.pick({InnerNorm::None, InnerNorm::RMS, InnerNorm::RMSWeighted});
      return l;
    }
    case 1: return mamba2_layer(2 * d_model, rng.pick({8u, 16u}), 4, 4, rng.pick({1u, 2u}));
    default: return random_attention(rng);
  }
}

}  // namespace

LayerConfig grouped_moe(uint32_t n_experts, uint32_t top_k, FeedForwardConfig expert, RouterAct router,
                        uint32_t n_groups, uint32_t topk_groups) {
  LayerConfig l = moe(n_experts, top_k, expert, router);
  l.moe.n_groups = n_groups;
  l.moe.topk_groups = topk_groups;
  return l;
}

std::vector<ModelCase> attention_cases() {
  std::vector<ModelCase> cases;
  {  // Multi-head attention without positions, after a Mamba layer, before a SwiGLU MLP.
    cases.push_back(named("attention MHA, no RoPE",
                          model(32, 256, N::RMS, N::RMS, true,
                                {mamba(64, 16, 4, 2), attention_layer(4, 4, 8), mlp(ff(64, E::SwiGLU))}),
                          501));
  }
  {  // GQA (2 query heads per key/value head), RoPE over the whole head, every bias;
     // LayerNorm blocks, untied padded head.
    ModelCase c = named("attention GQA g=2, full RoPE, q/k/v/o biases",
                        model(32, 262, N::Layer, N::RMS, false,
                              {with_biases(attention_layer(4, 2, 8, 8), true, true), mamba2_layer(64, 16, 4, 4, 1),
                               with_biases(attention_layer(4, 2, 8, 8), true, false)}),
                        502);
    c.pad_rows = 2;
    cases.push_back(c);
  }
  {  // GQA g=4 with RoPE on a quarter of each head (rotary_dim 4 of 16), a large theta
     // and an explicit softmax scale; then an out bias alone.
    LayerConfig a = attention_layer(8, 2, 16, 4);
    a.attention.rope_theta = 500000.0f;
    a.attention.scale = 0.125f;
    ModelCase c = named("attention GQA g=4, partial RoPE, scale",
                        model(32, 256, N::RMS, N::RMS, true,
                              {a, mamba(64, 8, 4, 2), with_biases(attention_layer(2, 1, 16, 8), false, true)}),
                        503);
    cases.push_back(c);
  }
  {  // Multi-query attention (one key/value head for six query heads) with heads of 6
     // dimensions (not a multiple of the eight-float vectors) and a small theta, so
     // that high frequencies wrap many times within the sequence.
    LayerConfig a = attention_layer(6, 1, 6, 6);
    a.attention.rope_theta = 100.0f;
    cases.push_back(named("attention MQA, heads of 6",
                          model(24, 256, N::RMS, N::RMS, true, {mamba(48, 8, 4, 2), a, mlp(ff(32, E::GELU))}), 504));
  }
  {  // Heads wider than the model (2 x 64 > d_model 16) and no block norm.
    cases.push_back(named("attention wide heads, no block norm",
                          model(16, 256, N::None, N::RMS, true,
                                {attention_layer(2, 2, 64, 32), mamba(32, 8, 4, 1), attention_layer(2, 1, 64)}),
                          505));
  }
  {  // Attention and feed-forward layers only: the recurrent state has no floats at all,
     // the whole session state is its KV cache.
    cases.push_back(named("attention only",
                          model(32, 256, N::RMS, N::RMS, true,
                                {attention_layer(4, 2, 8, 8), mlp(ff(48, E::ReLU2)), attention_layer(4, 4, 8)}),
                          506));
  }
  {  // Jamba: Mamba layers with weighted dt/B/C norms, attention without positions
     // (GQA), MoE with a softmax router, top-2, unnormalized gates; MLPs between.
    cases.push_back(named("jamba-like",
                          model(32, 256, N::RMS, N::RMS, true,
                                {inner_norm_mamba_layer(64, 16, 4, 2, InnerNorm::RMSWeighted),
                                 moe(4, 2, ff(48, E::SwiGLU), R::Softmax), attention_layer(8, 2, 4),
                                 mlp(ff(48, E::SwiGLU)), inner_norm_mamba_layer(64, 16, 4, 2, InnerNorm::RMSWeighted),
                                 moe(4, 2, ff(48, E::SwiGLU), R::Softmax)}),
                          507));
  }
  {  // Granite 4.0 H: Mamba-2 mixers and a "nope" attention layer with its attention
     // multiplier as the scale, each followed by softmax top-k MoE (renormalized, as
     // Granite's top-k-then-softmax) plus a shared SwiGLU expert; embedding, residual
     // and logits multipliers.
    LayerConfig f = moe(6, 2, ff(32, E::SwiGLU), R::Softmax);
    f.moe.renorm = true;
    f.moe.n_shared = 1;
    f.moe.shared = ff(48, E::SwiGLU);
    LayerConfig a = attention_layer(4, 1, 8);
    a.attention.scale = 0.125f;
    ModelCase c = named("granite-4.0-h-like",
                        model(32, 256, N::RMS, N::RMS, true,
                              {mamba2_layer(64, 16, 4, 4, 1), f, a, f, mamba2_layer(64, 16, 4, 4, 1), f}),
                        508);
    c.config.embedding_scale = 12.0f;
    c.config.residual_scale = 0.22f;
    c.config.logits_divisor = 8.0f;
    cases.push_back(c);
  }
  {  // Nemotron-H: one mixer per block (Mamba-2, attention, ReLU^2 MLP, MoE): a sigmoid
     // router whose selection bias and group limit (4 groups of 2, 2 kept) pick the
     // experts, gates renormalized and scaled, ReLU^2 routed and shared experts.
    LayerConfig e = grouped_moe(8, 2, ff(32, E::ReLU2), R::Sigmoid, 4, 2);
    e.moe.sel_bias = true;
    e.moe.renorm = true;
    e.moe.routed_scale = 2.5f;
    e.moe.n_shared = 1;
    e.moe.shared = ff(48, E::ReLU2);
    cases.push_back(named("nemotron-h-like",
                          model(32, 256, N::RMS, N::RMS, true,
                                {mamba2_layer(64, 16, 4, 8, 2), e, mamba2_layer(64, 16, 4, 8, 2), attention_layer(4, 2, 8),
                                 mlp(ff(64, E::ReLU2)), e}),
                          509));
  }
  {  // Group-limited selection under a softmax router without selection bias, 3 of 8
     // groups kept, top-4, with biased ReLU^2 experts; and a group limit that keeps
     // every group (which must equal no limit); next to RoPE attention.
    LayerConfig a = grouped_moe(16, 4, ff(16, E::ReLU2, true), R::Softmax, 8, 3);
    LayerConfig b = grouped_moe(6, 2, ff(24, E::SwiGLU), R::Sigmoid, 3, 3);
    b.moe.sel_bias = true;
    cases.push_back(named("group-limited routing",
                          model(24, 256, N::RMS, N::RMS, true,
                                {attention_layer(2, 1, 12, 12), a, mamba(48, 8, 4, 2), b}),
                          510));
  }
  {  // The three scales alone, each far from 1, on a plain Mamba + attention plan.
    ModelCase c = named("embedding, residual and logits scales",
                        model(24, 256, N::RMS, N::Layer, false,
                              {mamba(48, 8, 4, 2), attention_layer(3, 3, 8, 4), mlp(ff(32, E::SiLU))}),
                        511);
    c.config.embedding_scale = 0.25f;
    c.config.residual_scale = 1.75f;
    c.config.logits_divisor = 0.5f;
    cases.push_back(c);
  }
  SplitMixRng rng(20261206);
  for (int i = 0; i < 8; ++i) {
    const uint32_t d_model = rng.pick({16u, 24u, 32u});
    ModelCase c = named("random hybrid " + std::to_string(i),
                        model(d_model, 256 + rng.below(40), rng.pick({N::RMS, N::Layer}),
                              rng.pick({N::RMS, N::Layer, N::None}), rng.coin(), {}),
                        600 + i);
    c.config.embedding_scale = rng.pick({1.0f, 1.0f, 12.0f, 0.5f});
    c.config.residual_scale = rng.pick({1.0f, 1.0f, 0.22f, 1.5f});
    c.config.logits_divisor = rng.pick({1.0f, 1.0f, 8.0f, 0.75f});
    const uint32_t n_layers = 3 + rng.below(3);
    c.config.layers.push_back(random_attention(rng));  // at least one
    for (uint32_t l = 1; l < n_layers; ++l)
      c.config.layers.push_back(rng.coin() ? random_mixer(rng, d_model)
                                           : rng.coin() ? random_moe(rng) : mlp(random_ff(rng)));
    cases.push_back(c);
  }
  return cases;
}

ModelCase attention_case(const std::string& name) { return case_named(attention_cases(), name); }

SyntheticModel build_attention_weights(const ModelCase& c) { return build_mamba2_weights(c); }

AttentionFixture::AttentionFixture(const std::string& case_name)
    : c(attention_case(case_name)),
      weights(build_attention_weights(c)),
      rt(make_runtime()),
      model(load_model(rt.get(), weights)),
      vocab(c.config.vocab_size) {}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

uint64_t expected_kv_values_per_token(const ModelConfig& config) {
  uint64_t n = 0;
  for (const LayerConfig& l : config.layers)
    if (l.kind == LayerKind::Attention) n += 2ull * l.attention.n_kv_heads * l.attention.head_dim;
  return n;
}

}  // namespace mmb::testing
