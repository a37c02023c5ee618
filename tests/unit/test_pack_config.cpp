// config.json in the three dialects: every field read, defaults, and each kind of
// mistake (bad JSON, wrong types, missing or misspelt keys, unknown kinds) reported
// with the field it concerns.
#include <catch2/catch.hpp>

#include "support/config_checks.hpp"

#include "base/error.hpp"
#include "hf_mamba_config.hpp"
#include "json_fields.hpp"
#include "native_config.hpp"
#include "synthetic_model.hpp"

using namespace mmb;

namespace {

NativeConfig native(const std::string& text) { return parse_native_config(parse_json_strict(text, "config.json"), "config.json"); }

// The status and message `parse` fails with on `text`.
template <typename Parse>
std::pair<mmb_status, std::string> failure(Parse parse, const std::string& text) {
  try {
    parse(parse_json_strict(text, "config.json"), "config.json");
  } catch (const Error& e) {
    return {e.status(), e.what()};
  }
  return {MMB_OK, ""};
}


const char* kFullNative = R"({
  "format": "moemamba", "d_model": 48, "vocab_size": 300, "norm": "layer", "final_norm": "none",
  "norm_eps": 1e-6, "tie_embeddings": false, "tokenizer": "tok.json",
  "metadata": {"name": "full", "license": "MIT"},
  "layers": [
    {"kind": "mamba", "d_inner": 96, "d_state": 8, "d_conv": 3, "dt_rank": 5,
     "in_proj_bias": true, "conv_bias": false, "out_proj_bias": true},
    {"kind": "moe", "n_experts": 4, "top_k": 2, "d_ff": 64, "expert": "swiglu", "expert_bias": true,
     "router": "sigmoid", "router_bias": true, "sel_bias": true, "renorm": true, "routed_scale": 2.5,
     "n_shared": 1, "shared_d_ff": 32, "shared_expert": "gelu_tanh", "shared_bias": false,
     "normalize_expert_output": true},
    {"kind": "mlp", "d_ff": 40, "expert": "geglu", "bias": true}
  ]})";

}  // namespace

TEST_CASE("native config.json: every field is read", "[pack]") {
  const NativeConfig n = native(kFullNative);
  const ModelConfig& c = n.model;
  CHECK(c.d_model == 48);
  CHECK(c.vocab_size == 300);
  CHECK(c.norm == NormKind::Layer);
  CHECK(c.final_norm == NormKind::None);
  CHECK(c.norm_eps == 1e-6f);
  CHECK_FALSE(c.tie_embeddings);
  CHECK(n.tokenizer == "tok.json");
  CHECK(n.metadata == std::vector<std::pair<std::string, std::string>>{{"license", "MIT"}, {"name", "full"}});
  REQUIRE(c.layers.size() == 3);
  const MambaConfig& m = c.layers[0].mamba;
  CHECK(c.layers[0].kind == LayerKind::Mamba);
  CHECK((m.d_inner == 96 && m.d_state == 8 && m.d_conv == 3 && m.dt_rank == 5));
  CHECK((m.in_proj_bias && !m.conv_bias && m.out_proj_bias));
  const MoEConfig& e = c.layers[1].moe;
  CHECK(c.layers[1].kind == LayerKind::MoE);
  CHECK((e.n_experts == 4 && e.top_k == 2 && e.expert.d_ff == 64));
  CHECK((e.expert.act == ExpertAct::SwiGLU && e.expert.bias));
  CHECK((e.router == RouterAct::Sigmoid && e.router_bias && e.sel_bias && e.renorm));
  CHECK(e.routed_scale == 2.5f);
  CHECK((e.n_shared == 1 && e.shared.d_ff == 32 && e.shared.act == ExpertAct::GELUTanh && !e.shared.bias));
  CHECK(e.normalize_expert_output);
  CHECK(c.layers[2].kind == LayerKind::MLP);
  CHECK((c.layers[2].mlp.d_ff == 40 && c.layers[2].mlp.act == ExpertAct::GeGLU && c.layers[2].mlp.bias));
}

TEST_CASE("native config.json: defaults and layer_pattern", "[pack]") {
  const ModelConfig c = native(R"({"format": "moemamba", "d_model": 40, "vocab_size": 256,
      "layer_pattern": {"repeat": 3, "pattern": [{"kind": "mamba"},
                                                  {"kind": "moe", "n_experts": 8, "d_ff": 80, "expert": "relu"}]}})")
                            .model;
  CHECK(c.norm == NormKind::RMS);
  CHECK(c.final_norm == NormKind::RMS);  // follows norm
  CHECK(c.norm_eps == 1e-5f);
  CHECK(c.tie_embeddings);
  REQUIRE(c.layers.size() == 6);
  for (size_t i = 0; i < 6; i += 2) {
    const MambaConfig& m = c.layers[i].mamba;
    CHECK(c.layers[i].kind == LayerKind::Mamba);
    CHECK((m.d_inner == 80 && m.d_state == 16 && m.d_conv == 4));
    CHECK(m.dt_rank == 3);  // ceil(40 / 16)
    CHECK((!m.in_proj_bias && m.conv_bias && !m.out_proj_bias));
    const MoEConfig& e = c.layers[i + 1].moe;
    CHECK(c.layers[i + 1].kind == LayerKind::MoE);
    CHECK((e.top_k == 1 && e.router == RouterAct::Softmax && !e.router_bias && !e.sel_bias && !e.renorm));
    CHECK((e.routed_scale == 1.0f && e.n_shared == 0 && !e.expert.bias && !e.normalize_expert_output));
  }
  CHECK(native(R"({"format": "moemamba", "d_model": 32, "vocab_size": 256, "norm": "layer",
                   "layers": [{"kind": "mamba", "dt_rank": "auto"}]})")
            .model.final_norm == NormKind::Layer);
}

TEST_CASE("native config.json written by native_config_json reads back the same", "[pack]") {
  for (const std::string& name : named_shapes()) {
    INFO(name);
    const ModelConfig c = named_shape(name);
    test::check_same_config(native(native_config_json(c)).model, c);
  }
  const ModelConfig full = native(kFullNative).model;
  test::check_same_config(native(native_config_json(full)).model, full);
}

TEST_CASE("native config.json: parallel layers and projection experts", "[pack]") {
  const std::string text = R"({"format": "moemamba", "d_model": 32, "vocab_size": 256, "layers": [
    {"kind": "parallel", "shared_norm": true,
     "mamba": {"d_inner": 48, "d_state": 8, "out_proj_experts": {"n_experts": 4, "top_k": 2, "router": "sigmoid",
               "router_bias": true, "sel_bias": true, "renorm": true, "routed_scale": 0.5, "bias": true}},
     "moe": {"n_experts": 4, "top_k": 2, "d_ff": 64, "expert": "swiglu"}},
    {"kind": "mamba", "x_proj_experts": {"n_experts": 3}, "z_proj_experts": {"n_experts": 5, "top_k": 3, "router": "relu"}},
    {"kind": "parallel", "mamba": {}, "moe": {"n_experts": 2, "d_ff": 16, "expert": "relu"}}]})";
  const ModelConfig c = native(text).model;
  REQUIRE(c.layers.size() == 3);
  const LayerConfig& p = c.layers[0];
  CHECK(p.kind == LayerKind::Parallel);
  CHECK(p.shared_norm);
  CHECK((p.mamba.d_inner == 48 && p.mamba.d_state == 8 && !p.mamba.x_proj_experts && !p.mamba.z_proj_experts));
  REQUIRE(p.mamba.out_proj_experts);
  const ProjectionExperts& o = *p.mamba.out_proj_experts;
  CHECK((o.n_experts == 4 && o.top_k == 2 && o.router == RouterAct::Sigmoid && o.router_bias && o.sel_bias && o.renorm &&
         o.routed_scale == 0.5f && o.bias));
  CHECK((p.moe.n_experts == 4 && p.moe.top_k == 2 && p.moe.expert.act == ExpertAct::SwiGLU));
  const MambaConfig& m = c.layers[1].mamba;
  CHECK(c.layers[1].kind == LayerKind::Mamba);
  REQUIRE((m.x_proj_experts && m.z_proj_experts));
  CHECK((m.x_proj_experts->n_experts == 3 && m.x_proj_experts->top_k == 1 && m.x_proj_experts->router == RouterAct::Softmax &&
         !m.x_proj_experts->bias && m.x_proj_experts->routed_scale == 1.0f));
  CHECK((m.z_proj_experts->n_experts == 5 && m.z_proj_experts->top_k == 3 && m.z_proj_experts->router == RouterAct::ReLU));
  CHECK(!m.out_proj_experts);
  CHECK(c.layers[2].kind == LayerKind::Parallel);
  CHECK(!c.layers[2].shared_norm);
  CHECK(c.layers[2].mamba.d_inner == 64);  // 2 * d_model by default
  test::check_same_config(native(native_config_json(c)).model, c);
}

TEST_CASE("native config.json mistakes are format errors naming the field", "[pack]") {
  const std::string head = R"({"format": "moemamba", "d_model": 32, "vocab_size": 256, )";
  const std::string mamba = R"({"kind": "mamba"})";
  struct Case {
    std::string text;
    const char* message;
  };
  const std::vector<Case> cases = {
      {R"({"format": "moemamba", "d_model": 32,)", "config.json: invalid JSON"},
      {"[1]", "config.json: expected an object, got an array"},
      {R"({"format": "other", "d_model": 32, "vocab_size": 256, "layers": [{"kind": "mamba"}]})", "config.json.format: expected \"moemamba\""},
      {R"({"format": "moemamba", "vocab_size": 256, "layers": [{"kind": "mamba"}]})", "missing required key 'd_model'"},
      {R"({"format": "moemamba", "d_model": "32", "vocab_size": 256, "layers": [{"kind": "mamba"}]})",
       "config.json.d_model: expected an integer in [1, 4294967295], got a string"},
      {R"({"format": "moemamba", "d_model": 32.5, "vocab_size": 256, "layers": [{"kind": "mamba"}]})", "got a fractional number"},
      {R"({"format": "moemamba", "d_model": -1, "vocab_size": 256, "layers": [{"kind": "mamba"}]})", "d_model: -1 is outside"},
      {R"({"format": "moemamba", "d_model": 32, "d_model": 32, "vocab_size": 256, "layers": []})", "key 'd_model' appears twice"},
      {head + R"("layers": []})", "config.json.layers: expected a non-empty array of layers, got an empty array"},
      {head + R"("layers": {"kind": "mamba"}})", "expected a non-empty array of layers, got an object"},
      {head + R"("layers": [{"kind": "retention"}]})", "config.json.layers[0].kind: \"retention\" is not one of \"mamba\", \"moe\", \"mlp\""},
      {head + R"("layers": [{"kind": "attention", "n_heads": 4, "n_kv_heads": 3}]})", "layers[0].attention.n_heads = 4 is not a multiple of n_kv_heads = 3"},
      {head + R"("layers": [{"kind": "attention", "n_heads": 2, "rotary_dim": 3}]})", "rotary_dim = 3 is odd"},
      {head + R"("layers": [{"d_inner": 64}]})", "config.json.layers[0]: missing required key 'kind'"},
      {head + R"("layers": [)" + mamba + R"(, {"kind": "moe", "n_expert": 4, "d_ff": 64, "expert": "relu"}]})",
       "config.json.layers[1]: missing required key 'n_experts'"},
      {head + R"("layers": [{"kind": "moe", "n_experts": 4, "n_expert": 4, "d_ff": 64, "expert": "relu"}]})",
       "config.json.layers[0]: unknown key(s) 'n_expert'"},
      {head + R"("layers": [{"kind": "moe", "n_experts": 4, "d_ff": 64, "expert": "tanh"}]})", "layers[0].expert: \"tanh\" is not one of"},
      {head + R"("layers": [{"kind": "moe", "n_experts": 4, "top_k": 5, "d_ff": 64, "expert": "relu"}]})",
       "config.json: config layers[0].top_k = 5 is outside [1, 4]"},
      {head + R"("layers": [{"kind": "mlp", "d_ff": 64, "expert": "relu", "bias": "yes"}]})", "layers[0].bias: expected true or false, got a string"},
      {head + R"("layers": [{"kind": "mamba", "dt_rank": "big"}]})", "layers[0].dt_rank: expected an integer"},
      {head + R"("layers": [{"kind": "mamba", "d_state": 0}]})", "d_state = 0 is outside"},
      {head + R"("layers": [{"kind": "parallel", "mamba": {}}]})", "config.json.layers[0]: missing required key 'moe'"},
      {head + R"("layers": [{"kind": "parallel", "mamba": {}, "moe": {"n_experts": 4, "d_ff": 8, "expert": "relu"}, "norm_moe": 1}]})",
       "config.json.layers[0]: unknown key(s) 'norm_moe'"},
      {head + R"("layers": [{"kind": "parallel", "mamba": {"d_stat": 4}, "moe": {"n_experts": 4, "d_ff": 8, "expert": "relu"}}]})",
       "config.json.layers[0].mamba: unknown key(s) 'd_stat'"},
      {head + R"("layers": [{"kind": "parallel", "mamba": {}, "moe": {"n_experts": 4, "top_k": 5, "d_ff": 8, "expert": "relu"}}]})",
       "config layers[0].moe.top_k = 5 is outside [1, 4]"},
      {head + R"("layers": [{"kind": "mamba", "out_proj_experts": {"n_experts": 2, "top_k": 3}}]})",
       "config layers[0].out_proj_experts.top_k = 3 is outside [1, 2]"},
      {head + R"("layers": [{"kind": "mamba", "x_proj_experts": {"n_experts": 0}}]})",
       "config layers[0].x_proj_experts.n_experts = 0 is outside"},
      {head + R"("layers": [{"kind": "mamba", "z_proj_experts": {"top_k": 1}}]})",
       "config.json.layers[0].z_proj_experts: missing required key 'n_experts'"},
      {head + R"("layers": [{"kind": "mamba", "z_proj_experts": {"n_experts": 2, "route": "relu"}}]})",
       "config.json.layers[0].z_proj_experts: unknown key(s) 'route'"},
      {head + R"("norm": "none", "layers": [{"kind": "mamba"}]})", "config.json.norm: \"none\" is not one of \"rms\", \"layer\""},
      {head + R"("norm_eps": 0, "layers": [{"kind": "mamba"}]})", "norm_eps = 0 must be in (0, 1)"},
      {head + R"("layers": [{"kind": "mamba"}], "layer_pattern": {"repeat": 2, "pattern": [{"kind": "mamba"}]}})",
       "give exactly one of \"layers\" and \"layer_pattern\""},
      {head + R"("layer_pattern": {"repeat": 0, "pattern": [{"kind": "mamba"}]}})", "layer_pattern.repeat: 0 is outside [1, 4096]"},
      {head + R"("layer_pattern": {"repeat": 2, "pattern": [{"kind": "mamba"}], "every": 2}})", "layer_pattern: unknown key(s) 'every'"},
      {head + R"("layers": [{"kind": "mamba"}], "metadata": {"n": 1}})", "config.json.metadata.n: expected a string"},
      {head + R"("layers": [{"kind": "mamba"}], "tokeniser": "t.json"})", "config.json: unknown key(s) 'tokeniser'"},
  };
  for (const Case& c : cases) {
    INFO(c.text);
    auto [status, message] = failure(parse_native_config, c.text);
    CHECK(status == MMB_ERR_FORMAT);
    CHECK_THAT(message, Catch::Contains(c.message));
  }
}

TEST_CASE("Hugging Face MambaConfig: keys, defaults and unsupported models", "[pack]") {
  const ModelConfig c = parse_hf_mamba_config(parse_json_strict(R"({
      "model_type": "mamba", "architectures": ["MambaForCausalLM"], "hidden_size": 40, "num_hidden_layers": 3,
      "vocab_size": 1000, "state_size": 8, "expand": 2, "intermediate_size": 88, "conv_kernel": 3,
      "time_step_rank": 7, "use_bias": true, "use_conv_bias": false, "layer_norm_epsilon": 1e-6,
      "tie_word_embeddings": false, "hidden_act": "silu", "residual_in_fp32": true, "pad_token_id": 0})",
                                                                "config.json"),
                                              "config.json");
  CHECK((c.d_model == 40 && c.vocab_size == 1000 && c.layers.size() == 3));
  CHECK((c.norm == NormKind::RMS && c.final_norm == NormKind::RMS && c.norm_eps == 1e-6f && !c.tie_embeddings));
  for (const LayerConfig& l : c.layers) {
    CHECK(l.kind == LayerKind::Mamba);
    CHECK((l.mamba.d_inner == 88 && l.mamba.d_state == 8 && l.mamba.d_conv == 3 && l.mamba.dt_rank == 7));  // intermediate_size wins
    CHECK((l.mamba.in_proj_bias && l.mamba.out_proj_bias && !l.mamba.conv_bias));
  }

  const ModelConfig d = parse_hf_mamba_config(
      parse_json_strict(R"({"model_type": "mamba", "hidden_size": 40, "num_hidden_layers": 2, "vocab_size": 300,
                            "time_step_rank": "auto", "expand": 1.5})", "config.json"),
      "config.json");
  const MambaConfig& m = d.layers[0].mamba;
  CHECK((m.d_inner == 60 && m.d_state == 16 && m.d_conv == 4 && m.dt_rank == 3));
  CHECK((m.in_proj_bias && m.out_proj_bias && m.conv_bias));  // transformers' MambaConfig defaults
  CHECK((d.tie_embeddings && d.norm_eps == 1e-5f));

  CHECK(failure(parse_hf_mamba_config, R"({"model_type": "mamba", "hidden_size": 40, "num_hidden_layers": 2,
                                           "vocab_size": 300, "hidden_act": "gelu"})")
            .first == MMB_ERR_UNSUPPORTED);
  auto missing = failure(parse_hf_mamba_config, R"({"model_type": "mamba", "num_hidden_layers": 2, "vocab_size": 300})");
  CHECK(missing.first == MMB_ERR_FORMAT);
  CHECK_THAT(missing.second, Catch::Contains("missing required key 'hidden_size'"));
  auto typed = failure(parse_hf_mamba_config, R"({"hidden_size": 40, "num_hidden_layers": 2, "vocab_size": 300, "use_bias": 1})");
  CHECK(typed.first == MMB_ERR_FORMAT);
  CHECK_THAT(typed.second, Catch::Contains("config.json.use_bias: expected true or false, got an integer"));
}

TEST_CASE("mamba_ssm config.json: keys, defaults and unsupported models", "[pack]") {
  const ModelConfig c = parse_mamba_ssm_config(
      parse_json_strict(R"({"d_model": 64, "n_layer": 2, "vocab_size": 50277, "ssm_cfg": {}, "rms_norm": true,
                            "residual_in_fp32": true, "fused_add_norm": true, "pad_vocab_size_multiple": 8})", "config.json"),
      "config.json");
  CHECK((c.d_model == 64 && c.vocab_size == 50277 && c.layers.size() == 2 && c.tie_embeddings));
  CHECK((c.norm == NormKind::RMS && c.final_norm == NormKind::RMS));
  const MambaConfig& m = c.layers[1].mamba;
  CHECK((m.d_inner == 128 && m.d_state == 16 && m.d_conv == 4 && m.dt_rank == 4 && m.conv_bias && !m.in_proj_bias));

  const ModelConfig l = parse_mamba_ssm_config(
      parse_json_strict(R"({"d_model": 64, "n_layer": 1, "vocab_size": 100, "rms_norm": false, "tie_embeddings": false,
                            "ssm_cfg": {"d_state": 4, "d_conv": 2, "expand": 3, "dt_rank": 9, "bias": true,
                                        "conv_bias": false, "layer": "Mamba1", "dt_min": 0.001}})", "config.json"),
      "config.json");
  CHECK((l.norm == NormKind::Layer && l.final_norm == NormKind::Layer && !l.tie_embeddings));
  const MambaConfig& n = l.layers[0].mamba;
  CHECK((n.d_inner == 192 && n.d_state == 4 && n.d_conv == 2 && n.dt_rank == 9 && n.in_proj_bias && n.out_proj_bias && !n.conv_bias));

  CHECK(failure(parse_mamba_ssm_config, R"({"d_model": 64, "n_layer": 2, "vocab_size": 100, "ssm_cfg": {"layer": "Mamba3"}})")
            .first == MMB_ERR_UNSUPPORTED);
  const ModelConfig m2 = parse_mamba_ssm_config(
      parse_json_strict(R"({"d_model": 64, "n_layer": 2, "vocab_size": 100, "ssm_cfg": {"layer": "Mamba2"}})", "config.json"),
      "config.json");
  REQUIRE(m2.layers.size() == 2);
  CHECK(m2.layers[0].kind == LayerKind::Mamba2);
  CHECK((m2.layers[0].mamba2.d_inner == 128 && m2.layers[0].mamba2.n_heads == 2 && m2.layers[0].mamba2.d_state == 128));
  CHECK(failure(parse_mamba_ssm_config, R"({"d_model": 64, "n_layer": 2, "vocab_size": 100, "d_intermediate": 128})")
            .first == MMB_ERR_UNSUPPORTED);
  CHECK(failure(parse_mamba_ssm_config, R"({"d_model": 64, "n_layer": 2, "vocab_size": 100, "attn_layer_idx": [1]})")
            .first == MMB_ERR_UNSUPPORTED);
  auto typed = failure(parse_mamba_ssm_config, R"({"d_model": 64, "n_layer": 2, "vocab_size": 100, "ssm_cfg": []})");
  CHECK(typed.first == MMB_ERR_FORMAT);
  CHECK_THAT(typed.second, Catch::Contains("config.json.ssm_cfg: expected an object, got an array"));
}
