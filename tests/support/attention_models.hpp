// Models for the attention and hybrid-family tests: a builder for group-limited MoE
// layers (attention layers: attention_layer() of synthetic_model.hpp), the hybrid cases
// the library is compared on (named after the families they imitate: Jamba, Granite 4.0
// H, Nemotron-H, plus each attention option alone), and seeded random hybrids.
#pragma once

#include "support/model_harness.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace mmb::testing {

// An MoE layer whose experts form n_groups groups, topk_groups of them eligible.
LayerConfig grouped_moe(uint32_t n_experts, uint32_t top_k, FeedForwardConfig expert, RouterAct router,
                        uint32_t n_groups, uint32_t topk_groups);

// Hand-made hybrid cases, each attention option alone and the three families' plans,
// then seeded random hybrids of every layer kind and option. All f32; tests set dtype.
std::vector<ModelCase> attention_cases();
// The case of that name (REQUIREs that it exists).
ModelCase attention_case(const std::string& name);

// The weights of a case: build_mamba2_weights' draws (N(0, 1/fan_in) projections, so
// attention scores q.k / sqrt(head_dim) come out O(1) and the softmax neither flattens
// nor picks one token; the scan parameters of both Mamba kinds as their families
// initialize them).
SyntheticModel build_attention_weights(const ModelCase& c);

// A case loaded once on a two-thread runtime, with its weights for references.
struct AttentionFixture {
  explicit AttentionFixture(const std::string& case_name);
  ModelCase c;
  SyntheticModel weights;
  RuntimePtr rt;
  ModelPtr model;
  uint32_t vocab;

  reference::ReferenceModel reference() const { return build_reference(weights); }
  // A session keeping keys and values as kv_type, with that context limit (0: the model's).
  SessionPtr session(int32_t kv_type = MMB_KV_F16, uint64_t max_context = 0) const {
    return make_session(model.get(), kv_type, max_context);
  }
};

// Logits (or any floats) equal to the bit.
bool same_bits(const std::vector<float>& a, const std::vector<float>& b);

// Key and value elements one token adds to a session's KV cache, from DESIGN.md's
// layer definitions, written out here independently of kv_elements_per_token():
// 2 n_kv_heads head_dim per attention layer.
uint64_t expected_kv_values_per_token(const ModelConfig& config);

}  // namespace mmb::testing
