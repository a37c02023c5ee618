// Bundles whose attention, group-limited routing, scale or context settings break the
// rules of the spec are refused at load with MMB_ERR_FORMAT and a message naming the
// field: a valid bundle's manifest is re-encoded with one field changed, its tensors
// kept, so that the config check (not a tensor shape) is what refuses it.
#include <catch2/catch.hpp>

#include "support/attention_models.hpp"
#include "support/bundle_fixtures.hpp"
#include "support/model_harness.hpp"

#include "base/host_allocator.hpp"
#include "bundle/bundle_format.hpp"
#include "bundle/bundle_reader.hpp"
#include "bundle/manifest.hpp"

#include <moemamba/moemamba.h>

#include <cstring>
#include <functional>
#include <limits>

using namespace mmb;
using namespace mmb::testing;

TEST_CASE("a bundle with an invalid attention, group-limited routing or scale config is a format error naming the field",
          "[bundle][layers]") {
  // nemotron-h-like: layers[1] and [5] are MoE (8 experts in 4 groups, 2 kept, top-2),
  // layers[3] attention (4 query heads, 2 key/value heads of 8, no RoPE).
  struct Case {
    const char* what;
    std::function<void(ModelConfig&)> edit;
    std::vector<std::string> fragments;
  };
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  auto attention = [](ModelConfig& c) -> AttentionConfig& { return c.layers[3].attention; };
  auto moe = [](ModelConfig& c) -> MoEConfig& { return c.layers[1].moe; };
  const std::vector<Case> cases = {
      {"n_heads not a multiple of n_kv_heads", [&](ModelConfig& c) { attention(c).n_heads = 6; attention(c).n_kv_heads = 4; },
       {"layers[3].attention.n_heads = 6", "n_kv_heads = 4"}},
      {"more key/value heads than query heads", [&](ModelConfig& c) { attention(c).n_kv_heads = 8; },
       {"layers[3].attention.n_kv_heads"}},
      {"no key/value heads", [&](ModelConfig& c) { attention(c).n_kv_heads = 0; }, {"layers[3].attention.n_kv_heads"}},
      {"no query heads", [&](ModelConfig& c) { attention(c).n_heads = 0; }, {"layers[3].attention.n_heads"}},
      {"head_dim 0", [&](ModelConfig& c) { attention(c).head_dim = 0; }, {"layers[3].attention.head_dim"}},
      {"head_dim above 1024", [&](ModelConfig& c) { attention(c).head_dim = 1026; }, {"layers[3].attention.head_dim"}},
      {"odd rotary_dim", [&](ModelConfig& c) { attention(c).rotary_dim = 3; }, {"layers[3].attention.rotary_dim = 3", "odd"}},
      {"rotary_dim above head_dim", [&](ModelConfig& c) { attention(c).rotary_dim = 10; },
       {"layers[3].attention.rotary_dim"}},
      {"rope_theta 1", [&](ModelConfig& c) { attention(c).rotary_dim = 8; attention(c).rope_theta = 1.0f; },
       {"layers[3].attention.rope_theta"}},
      {"NaN rope_theta", [&](ModelConfig& c) { attention(c).rotary_dim = 8; attention(c).rope_theta = nan; },
       {"layers[3].attention.rope_theta"}},
      {"negative scale", [&](ModelConfig& c) { attention(c).scale = -0.5f; }, {"layers[3].attention.scale"}},
      {"infinite scale", [&](ModelConfig& c) { attention(c).scale = inf; }, {"layers[3].attention.scale"}},
      {"n_groups not dividing n_experts", [&](ModelConfig& c) { moe(c).n_groups = 3; moe(c).topk_groups = 1; },
       {"layers[1].n_experts = 8", "n_groups = 3"}},
      {"topk_groups above n_groups", [&](ModelConfig& c) { moe(c).topk_groups = 5; }, {"layers[1].topk_groups"}},
      {"topk_groups 0", [&](ModelConfig& c) { moe(c).topk_groups = 0; }, {"layers[1].topk_groups"}},
      {"n_groups 0", [&](ModelConfig& c) { moe(c).n_groups = 0; }, {"layers[1].n_groups"}},
      {"groups of one expert", [&](ModelConfig& c) { moe(c).n_groups = 8; }, {"layers[1].n_groups = 8", "fewer than 2"}},
      {"kept groups too small for top_k", [&](ModelConfig& c) { moe(c).top_k = 3; moe(c).topk_groups = 1; },
       {"layers[1].topk_groups = 1", "top_k = 3"}},
      {"unknown expert activation", [&](ModelConfig& c) { moe(c).expert.act = ExpertAct(7); }, {"layers[1].expert.act", "7"}},
      {"embedding_scale 0", [](ModelConfig& c) { c.embedding_scale = 0; }, {"embedding_scale"}},
      {"NaN embedding_scale", [&](ModelConfig& c) { c.embedding_scale = nan; }, {"embedding_scale"}},
      {"residual_scale 0", [](ModelConfig& c) { c.residual_scale = 0; }, {"residual_scale"}},
      {"infinite residual_scale", [&](ModelConfig& c) { c.residual_scale = inf; }, {"residual_scale"}},
      {"logits_divisor 0", [](ModelConfig& c) { c.logits_divisor = 0; }, {"logits_divisor"}},
      {"context_length above 2^24", [](ModelConfig& c) { c.context_length = (1u << 24) + 1; }, {"context_length"}},
  };
  static const HostAllocator allocator;
  RuntimePtr rt = make_runtime();
  // A valid bundle taken apart: its tensor data, and its manifest's records to re-encode.
  const std::vector<std::byte> good = bundle_bytes(build_attention_weights(attention_case("nemotron-h-like")));
  ReadOptions options;
  options.load_tensor_data = false;
  const auto bundle = LoadedBundle::load(open_memory_source(good.data(), good.size(), false, allocator), options, allocator);
  REQUIRE(bundle->config().layers[3].kind == LayerKind::Attention);
  REQUIRE(bundle->config().layers[1].moe.n_groups == 4);
  uint64_t manifest_at = 0;
  std::memcpy(&manifest_at, good.data() + BundleHeaderLayout::manifest_offset, 8);
  const std::vector<std::byte> data(good.begin(), good.begin() + ptrdiff_t(manifest_at));
  auto load = [&](const ModelConfig& config, std::string& message) {
    const std::vector<std::byte> manifest = encode_manifest(config, bundle->tokenizer(), bundle->metadata(), bundle->tensors());
    const std::vector<std::byte> bytes = test::assemble_bundle(data, manifest, false);
    mmb_model* loaded = nullptr;
    const mmb_status s = mmb_model_load_memory(rt.get(), bytes.data(), bytes.size(), nullptr, &loaded);
    ModelPtr owned(loaded);
    message = mmb_last_error();
    return s;
  };
  std::string message;
  REQUIRE(load(bundle->config(), message) == MMB_OK);  // the re-encoding itself is sound
  for (const Case& k : cases) {
    INFO(k.what);
    ModelConfig config = bundle->config();
    k.edit(config);
    const mmb_status s = load(config, message);
    INFO(message);
    CHECK(s == MMB_ERR_FORMAT);
    for (const std::string& fragment : k.fragments) CHECK_THAT(message, Catch::Contains(fragment));
  }
}
