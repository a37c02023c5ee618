// Parallel layers and projections as experts: the tensors, parameter counts, state
// and active bytes they imply, worked out by hand.
#include "base/error.hpp"
#include "model/model_config.hpp"
#include "support/model_harness.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

using namespace mmb;
using namespace mmb::testing;

namespace {

constexpr uint64_t kD = 16, kInner = 32, kState = 8, kConv = 4, kRank = 2;

LayerConfig plain_mamba() {
  LayerConfig l;
  l.kind = LayerKind::Mamba;
  l.mamba = {uint32_t(kInner), uint32_t(kState), uint32_t(kConv), uint32_t(kRank)};
  return l;
}

LayerConfig small_moe() {
  LayerConfig l;
  l.kind = LayerKind::MoE;
  l.moe.n_experts = 4;
  l.moe.top_k = 1;
  l.moe.expert = {24, ExpertAct::ReLU, false};
  return l;
}

ModelConfig one_layer(const LayerConfig& l) {
  ModelConfig c;
  c.d_model = uint32_t(kD);
  c.vocab_size = 256;
  c.layers = {l};
  return c;
}

std::vector<std::string> names(const ModelConfig& c) {
  std::vector<std::string> out;
  for (const TensorSpec& t : tensor_specs(c)) out.push_back(t.name);
  return out;
}

bool has(const std::vector<std::string>& v, const std::string& name) { return std::find(v.begin(), v.end(), name) != v.end(); }

}  // namespace

TEST_CASE("a routed half splits in_proj, the other half keeps a plain weight", "[layers]") {
  LayerConfig l = plain_mamba();
  l.mamba.in_proj_bias = true;
  l.mamba.z_proj_experts = ProjectionExperts{3, 1, RouterAct::Softmax, true, true, false, 1.0f, true};
  const ModelConfig c = one_layer(l);
  validate_config(c);
  const std::vector<std::string> n = names(c);
  CHECK_FALSE(has(n, "layers.0.mamba.in_proj.weight"));
  CHECK(has(n, "layers.0.mamba.x_proj_in.weight"));
  CHECK(has(n, "layers.0.mamba.x_proj_in.bias"));  // in_proj's bias, for the plain half
  CHECK_FALSE(has(n, "layers.0.mamba.z_proj_in.weight"));
  CHECK(has(n, "layers.0.mamba.z_proj_in.router.weight"));
  CHECK(has(n, "layers.0.mamba.z_proj_in.router.bias"));
  CHECK(has(n, "layers.0.mamba.z_proj_in.router.sel_bias"));
  CHECK(has(n, "layers.0.mamba.z_proj_in.experts.2.weight"));
  CHECK(has(n, "layers.0.mamba.z_proj_in.experts.2.bias"));
  CHECK_FALSE(has(n, "layers.0.mamba.z_proj_in.experts.3.weight"));
  CHECK(has(n, "layers.0.mamba.out_proj.weight"));
  for (const TensorSpec& t : tensor_specs(c)) {
    if (t.name == "layers.0.mamba.z_proj_in.router.weight") CHECK(t.shape == std::vector<uint64_t>{3, kD});
    if (t.name == "layers.0.mamba.z_proj_in.experts.0.weight") CHECK(t.shape == std::vector<uint64_t>{kInner, kD});
  }
}

TEST_CASE("active parameters leave out the unselected projection experts", "[layers]") {
  LayerConfig l = plain_mamba();
  l.mamba.out_proj_experts = ProjectionExperts{5, 2};
  l.mamba.out_proj_experts->bias = true;
  l.mamba.x_proj_experts = ProjectionExperts{4, 3};
  const ModelConfig c = one_layer(l);
  // out_proj: 3 unused experts of [d, d_inner] + bias d; x half: 1 unused of [d_inner, d].
  CHECK(params_total(c) - params_active(c) == 3 * (kD * kInner + kD) + 1 * (kInner * kD));
  // Each routed projection adds its router and (E - 1) more weights than the plain one.
  const ModelConfig plain = one_layer(plain_mamba());
  CHECK(params_total(c) - params_total(plain) ==
        (5 * kInner + 4 * (kD * kInner) + 5 * kD) + (4 * kD + 3 * (kInner * kD)));
}

TEST_CASE("a parallel layer has a Mamba part's state, both parts' tensors and norm_moe unless shared", "[layers]") {
  LayerConfig p;
  p.kind = LayerKind::Parallel;
  p.mamba = plain_mamba().mamba;
  p.moe = small_moe().moe;
  ModelConfig c = one_layer(p);
  validate_config(c);
  CHECK(state_floats(c) == kInner * (kState + kConv - 1));
  std::vector<std::string> n = names(c);
  CHECK(has(n, "layers.0.norm.weight"));
  CHECK(has(n, "layers.0.norm_moe.weight"));
  CHECK(has(n, "layers.0.mamba.in_proj.weight"));
  CHECK(has(n, "layers.0.moe.experts.3.w2.weight"));
  CHECK(params_total(c) - params_active(c) == 3 * (24 * kD * 2));
  c.layers[0].shared_norm = true;
  n = names(c);
  CHECK_FALSE(has(n, "layers.0.norm_moe.weight"));
  CHECK(has(n, "layers.0.norm.weight"));
}

TEST_CASE("malformed parallel layers and projection experts are format errors naming the field", "[layers]") {
  struct Case {
    const char* what;
    ModelConfig config;
    const char* message;
  };
  LayerConfig no_moe;
  no_moe.kind = LayerKind::Parallel;
  no_moe.mamba = plain_mamba().mamba;
  LayerConfig no_mamba = no_moe;
  no_mamba.mamba = {};
  no_mamba.moe = small_moe().moe;
  LayerConfig too_many = plain_mamba();
  too_many.mamba.out_proj_experts = ProjectionExperts{2, 3};
  LayerConfig none = plain_mamba();
  none.mamba.z_proj_experts = ProjectionExperts{0, 1};
  LayerConfig bad_router = plain_mamba();
  bad_router.mamba.x_proj_experts = ProjectionExperts{2, 1, RouterAct(9)};
  LayerConfig nan_scale = no_moe;
  nan_scale.moe = small_moe().moe;
  nan_scale.mamba.out_proj_experts = ProjectionExperts{2, 1};
  nan_scale.mamba.out_proj_experts->routed_scale = std::numeric_limits<float>::quiet_NaN();
  LayerConfig out_bias = plain_mamba();
  out_bias.mamba.out_proj_bias = true;
  out_bias.mamba.out_proj_experts = ProjectionExperts{2, 1};
  LayerConfig in_bias = plain_mamba();
  in_bias.mamba.in_proj_bias = true;
  in_bias.mamba.x_proj_experts = in_bias.mamba.z_proj_experts = ProjectionExperts{2, 1};
  const Case cases[] = {
      {"plain bias on a routed out_proj", one_layer(out_bias),
       "config layers[0].out_proj_bias is set but out_proj is routed (use out_proj_experts.bias)"},
      {"in_proj bias with both halves routed", one_layer(in_bias),
       "config layers[0].in_proj_bias is set but both halves of in_proj are routed"},
      {"parallel without its moe part", one_layer(no_moe), "config layers[0].moe.n_experts = 0 is outside [1, 4096]"},
      {"parallel without its mamba part", one_layer(no_mamba), "config layers[0].mamba.d_inner = 0 is outside"},
      {"top_k above n_experts", one_layer(too_many), "config layers[0].out_proj_experts.top_k = 3 is outside [1, 2]"},
      {"zero experts", one_layer(none), "config layers[0].z_proj_experts.n_experts = 0 is outside"},
      {"unknown router", one_layer(bad_router), "config layers[0].x_proj_experts.router has unknown value 9"},
      {"scale not finite", one_layer(nan_scale), "config layers[0].mamba.out_proj_experts.routed_scale is not finite"},
  };
  for (const Case& k : cases) {
    INFO(k.what);
    try {
      validate_config(k.config);
      FAIL("accepted");
    } catch (const Error& e) {
      CHECK(e.status() == MMB_ERR_FORMAT);
      CHECK_THAT(std::string(e.what()), Catch::Contains(k.message));
    }
  }
}

TEST_CASE("active weight bytes leave out unselected projection and parallel MoE experts", "[layers]") {
  // The same weights with top_k = n_experts and top_k = 1: the active bytes differ by
  // exactly the experts a token leaves unused.
  LayerConfig p;
  p.kind = LayerKind::Parallel;
  p.mamba = plain_mamba().mamba;
  p.mamba.out_proj_experts = ProjectionExperts{4, 4};
  p.mamba.out_proj_experts->bias = true;
  p.mamba.z_proj_experts = ProjectionExperts{3, 3};
  p.moe = small_moe().moe;
  p.moe.top_k = 4;
  ModelCase all;
  all.name = "all experts active";
  all.config = one_layer(p);
  ModelCase one = all;
  one.config.layers[0].mamba.out_proj_experts->top_k = 1;
  one.config.layers[0].mamba.z_proj_experts->top_k = 1;
  one.config.layers[0].moe.top_k = 1;
  RuntimePtr rt = make_runtime();
  ModelPtr a = load_model(rt.get(), build_weights(all));
  ModelPtr b = load_model(rt.get(), build_weights(one));
  const mmb_model_info ia = model_info(a.get()), ib = model_info(b.get());
  CHECK(ia.weight_bytes == ib.weight_bytes);
  const uint64_t f32 = 4;
  const uint64_t unused = 3 * (kD * kInner + kD) * f32 + 2 * (kInner * kD) * f32 + 3 * (2 * 24 * kD) * f32;
  CHECK(ia.active_weight_bytes - ib.active_weight_bytes == unused);
  CHECK(ia.params_active - ib.params_active == unused / f32);
  CHECK(ia.n_mamba_layers == 1);
  CHECK(ia.n_moe_layers == 1);
}

TEST_CASE("experts a router never selects are never read: NaN weights there change nothing", "[layers]") {
  // Router biases of -1000 rule out experts 2 and 3 of a routed out_proj (softmax top-2)
  // and of a parallel layer's MoE part; their weights are NaN, so reading them at all
  // would make every logit NaN.
  LayerConfig p;
  p.kind = LayerKind::Parallel;
  p.mamba = plain_mamba().mamba;
  p.mamba.out_proj_experts = ProjectionExperts{4, 2, RouterAct::Softmax, true};
  p.moe = small_moe().moe;
  p.moe.top_k = 2;
  p.moe.router_bias = true;
  ModelCase c;
  c.name = "NaN in unselected experts";
  c.config = one_layer(p);
  c.config.layers.push_back(plain_mamba());
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> biases = {0.0f, 0.0f, -1000.0f, -1000.0f};
  c.overrides.push_back({"layers.0.mamba.out_proj.router.bias", biases});
  c.overrides.push_back({"layers.0.moe.router.bias", biases});
  for (int j : {2, 3}) {
    const std::string e = "layers.0.mamba.out_proj.experts." + std::to_string(j) + ".weight";
    c.overrides.push_back({e, std::vector<float>(kD * kInner, nan)});
    c.overrides.push_back({"layers.0.moe.experts." + std::to_string(j) + ".w1.weight", std::vector<float>(24 * kD, nan)});
  }
  const SyntheticModel weights = build_weights(c);
  reference::ReferenceModel ref = build_reference(weights);
  RuntimePtr rt = make_runtime();
  ModelPtr model = load_model(rt.get(), weights);
  SessionPtr session = make_session(model.get());
  for (int32_t token : random_tokens(11, 12, c.config.vocab_size)) {
    const std::vector<double> expected = ref.step(token);
    const std::vector<float> got = step(session.get(), token);
    for (float v : got) REQUIRE(std::isfinite(v));
    CHECK(max_abs_diff(got, expected) <= logit_tolerance(expected));
  }
}
