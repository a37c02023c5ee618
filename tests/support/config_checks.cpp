#include "support/config_checks.hpp"

#include <catch2/catch.hpp>

namespace mmb::test {

void check_same_feed_forward(const FeedForwardConfig& a, const FeedForwardConfig& b) {
  CHECK(a.d_ff == b.d_ff);
  CHECK(a.act == b.act);
  CHECK(a.bias == b.bias);
}

void check_same_projection(const std::optional<ProjectionExperts>& a, const std::optional<ProjectionExperts>& b) {
  REQUIRE(a.has_value() == b.has_value());
  if (!a) return;
  CHECK(a->n_experts == b->n_experts);
  CHECK(a->top_k == b->top_k);
  CHECK(a->router == b->router);
  CHECK(a->router_bias == b->router_bias);
  CHECK(a->sel_bias == b->sel_bias);
  CHECK(a->renorm == b->renorm);
  CHECK(a->routed_scale == b->routed_scale);
  CHECK(a->bias == b->bias);
}

void check_same_config(const ModelConfig& a, const ModelConfig& b) {
  CHECK(a.d_model == b.d_model);
  CHECK(a.vocab_size == b.vocab_size);
  CHECK(a.norm == b.norm);
  CHECK(a.final_norm == b.final_norm);
  CHECK(a.norm_eps == b.norm_eps);
  CHECK(a.tie_embeddings == b.tie_embeddings);
  REQUIRE(a.layers.size() == b.layers.size());
  for (size_t i = 0; i < a.layers.size(); ++i) {
    INFO("layer " << i);
    const LayerConfig &x = a.layers[i], &y = b.layers[i];
    REQUIRE(x.kind == y.kind);
    CHECK(x.shared_norm == y.shared_norm);
    if (x.has_mamba()) {
      CHECK(x.mamba.d_inner == y.mamba.d_inner);
      CHECK(x.mamba.d_state == y.mamba.d_state);
      CHECK(x.mamba.d_conv == y.mamba.d_conv);
      CHECK(x.mamba.dt_rank == y.mamba.dt_rank);
      CHECK(x.mamba.in_proj_bias == y.mamba.in_proj_bias);
      CHECK(x.mamba.conv_bias == y.mamba.conv_bias);
      CHECK(x.mamba.out_proj_bias == y.mamba.out_proj_bias);
      check_same_projection(x.mamba.x_proj_experts, y.mamba.x_proj_experts);
      check_same_projection(x.mamba.z_proj_experts, y.mamba.z_proj_experts);
      check_same_projection(x.mamba.out_proj_experts, y.mamba.out_proj_experts);
    }
    if (x.has_moe()) {
      CHECK(x.moe.n_experts == y.moe.n_experts);
      CHECK(x.moe.top_k == y.moe.top_k);
      check_same_feed_forward(x.moe.expert, y.moe.expert);
      CHECK(x.moe.router == y.moe.router);
      CHECK(x.moe.router_bias == y.moe.router_bias);
      CHECK(x.moe.sel_bias == y.moe.sel_bias);
      CHECK(x.moe.renorm == y.moe.renorm);
      CHECK(x.moe.routed_scale == y.moe.routed_scale);
      CHECK(x.moe.n_shared == y.moe.n_shared);
      if (x.moe.n_shared) check_same_feed_forward(x.moe.shared, y.moe.shared);
      CHECK(x.moe.normalize_expert_output == y.moe.normalize_expert_output);
    }
    if (x.kind == LayerKind::MLP) check_same_feed_forward(x.mlp, y.mlp);
  }
}

}  // namespace mmb::test
