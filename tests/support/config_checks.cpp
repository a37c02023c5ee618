#include "support/config_checks.hpp"

#include <catch2/catch.hpp>

namespace mmb::test {

void check_same_feed_forward(const FeedForwardConfig& a, const FeedForwardConfig& b) {
  CHECK(a.d_ff == b.d_ff);
  CHECK(a.act == b.act);
  CHECK(a.bias == b.bias);
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
    if (x.kind == LayerKind::Mamba) {
      CHECK(x.mamba.d_inner == y.mamba.d_inner);
      CHECK(x.mamba.d_state == y.mamba.d_state);
      CHECK(x.mamba.d_conv == y.mamba.d_conv);
      CHECK(x.mamba.dt_rank == y.mamba.dt_rank);
      CHECK(x.mamba.in_proj_bias == y.mamba.in_proj_bias);
      CHECK(x.mamba.conv_bias == y.mamba.conv_bias);
      CHECK(x.mamba.out_proj_bias == y.mamba.out_proj_bias);
    } else if (x.kind == LayerKind::MoE) {
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
    } else {
      check_same_feed_forward(x.mlp, y.mlp);
    }
  }
}

}  // namespace mmb::test
