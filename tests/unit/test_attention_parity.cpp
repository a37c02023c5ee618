// Attention layers and the hybrid families' options (ReLU^2, group-limited routing, the
// embedding, residual and logits scales) in the library against the float64 reference,
// through the public C API: every case with keys and values kept as f32 and as f16,
// chosen cases in every weight dtype, over 150 tokens (across two 64-token KV pages).
// The reference itself is checked in test_attention_reference.cpp.
#include <catch2/catch.hpp>

#include "support/attention_models.hpp"
#include "support/model_harness.hpp"

#include <moemamba/moemamba.h>

#include <cstring>
#include <set>

using namespace mmb;
using namespace mmb::testing;

namespace {

// Long enough to cross two KV page boundaries (64 and 128 tokens).
constexpr size_t kSteps = 150;

}  // namespace

TEST_CASE("attention cases cover every attention option and hybrid-family option", "[parity]") {
  std::set<uint32_t> groups;  // query heads per key/value head
  std::set<bool> mqa, rope, partial_rope, explicit_scale, qkv_bias, out_bias, odd_head, wide_head, theta_other;
  std::set<bool> grouped, sel_bias, shared, relu2_mlp, relu2_expert, sigmoid, softmax;
  std::set<int> inner_norms;
  bool mamba1 = false, mamba2 = false, stateless = false, embedding = false, residual = false, divisor = false;
  for (const ModelCase& c : attention_cases()) {
    validate_config(c.config);
    embedding |= c.config.embedding_scale != 1;
    residual |= c.config.residual_scale != 1;
    divisor |= c.config.logits_divisor != 1;
    stateless |= state_floats(c.config) == 0;
    for (const LayerConfig& l : c.config.layers) {
      mamba1 |= l.kind == LayerKind::Mamba;
      mamba2 |= l.kind == LayerKind::Mamba2;
      if (l.kind == LayerKind::Mamba) inner_norms.insert(int(l.mamba.dt_bc_norm));
      if (l.kind == LayerKind::MLP) relu2_mlp.insert(l.mlp.act == ExpertAct::ReLU2);
      if (l.kind == LayerKind::MoE) {
        grouped.insert(l.moe.n_groups > 1);
        sel_bias.insert(l.moe.sel_bias);
        shared.insert(l.moe.n_shared > 0);
        relu2_expert.insert(l.moe.expert.act == ExpertAct::ReLU2);
        sigmoid.insert(l.moe.router == RouterAct::Sigmoid);
        softmax.insert(l.moe.router == RouterAct::Softmax);
      }
      if (l.kind != LayerKind::Attention) continue;
      const AttentionConfig& a = l.attention;
      groups.insert(a.n_heads / a.n_kv_heads);
      mqa.insert(a.n_kv_heads == 1 && a.n_heads > 1);
      rope.insert(a.rotary_dim > 0);
      partial_rope.insert(a.rotary_dim > 0 && a.rotary_dim < a.head_dim);
      theta_other.insert(a.rotary_dim > 0 && a.rope_theta != 10000.0f);
      explicit_scale.insert(a.scale > 0);
      qkv_bias.insert(a.qkv_bias);
      out_bias.insert(a.out_bias);
      odd_head.insert(a.head_dim % 8 != 0);
      wide_head.insert(a.q_dim() > c.config.d_model);
    }
  }
  for (uint32_t g : {1u, 2u, 4u}) CHECK(groups.count(g));
  for (const auto* s : {&mqa, &rope, &partial_rope, &explicit_scale, &qkv_bias, &out_bias, &odd_head, &wide_head,
                        &theta_other, &grouped, &sel_bias, &shared, &relu2_mlp, &relu2_expert, &sigmoid, &softmax})
    CHECK(s->size() == 2);
  CHECK(inner_norms.count(int(InnerNorm::RMSWeighted)));
  CHECK((mamba1 && mamba2 && stateless && embedding && residual && divisor));
}

TEST_CASE("attention models: f32 weights, keys and values kept as f32, match the reference", "[parity]") {
  for (const ModelCase& c : attention_cases()) check_parity(c, build_attention_weights(c), kSteps, MMB_KV_F32);
}

TEST_CASE("attention models: keys and values kept as f16 match the reference within f16 rounding", "[parity]") {
  // The tolerance is kv_logit_tolerance's: f16 rounding of every cached key and value.
  for (const ModelCase& c : attention_cases()) check_parity(c, build_attention_weights(c), kSteps, MMB_KV_F16);
}

TEST_CASE("attention models: f16 and bf16 weights match the reference on the rounded weights", "[parity]") {
  // As in test_model_parity.cpp: the reference reads the rounded values and the library
  // widens them exactly, so each KV type's tolerance applies unchanged.
  const std::set<std::string> chosen = {"attention GQA g=2, full RoPE, q/k/v/o biases",
                                        "attention GQA g=4, partial RoPE, scale", "attention MQA, heads of 6",
                                        "jamba-like", "granite-4.0-h-like", "nemotron-h-like", "group-limited routing"};
  CHECK(check_parity_in_dtypes(attention_cases(), chosen, {DType::F16}, build_attention_weights, kSteps, MMB_KV_F16) ==
        chosen.size());
  CHECK(check_parity_in_dtypes(attention_cases(), chosen, {DType::BF16}, build_attention_weights, kSteps, MMB_KV_F32) ==
        chosen.size());
}

TEST_CASE("attention models: q8 weights match the reference on the dequantized weights", "[parity][q8]") {
  // q, k, v and o projections are q8 (packed_dtype), read by the reference as q * scale.
  const std::set<std::string> chosen = {"attention MHA, no RoPE", "attention wide heads, no block norm",
                                        "granite-4.0-h-like", "nemotron-h-like", "random hybrid 1"};
  for (int32_t kv : {MMB_KV_F32, MMB_KV_F16})
    CHECK(check_parity_in_dtypes(attention_cases(), chosen, {DType::Q8}, build_attention_weights, kSteps, kv) ==
          chosen.size());
}

TEST_CASE("the kv_type option chooses how keys and values are kept", "[parity][session]") {
  // The f16 cache is really f16 (its logits differ from the f32 cache's once a rounded
  // key is read) and the f32 one keeps the full values: a session's saved KV part is
  // half as large with f16.
  const ModelCase c = attention_case("attention MHA, no RoPE");
  const SyntheticModel weights = build_attention_weights(c);
  RuntimePtr rt = make_runtime();
  ModelPtr model = load_model(rt.get(), weights);
  SessionPtr half = make_session(model.get(), MMB_KV_F16), full = make_session(model.get(), MMB_KV_F32);
  bool differ = false;
  for (int32_t t : random_tokens(3, 20, c.config.vocab_size)) {
    const std::vector<float> a = step(half.get(), t), b = step(full.get(), t);
    differ |= std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) != 0;
  }
  CHECK(differ);
  const size_t kv_values = 20 * expected_kv_values_per_token(c.config);
  CHECK(save_state(full.get()).size() - save_state(half.get()).size() == 2 * kv_values);
}
