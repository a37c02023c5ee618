// Logits of the library against the float64 reference model (tests/reference), on
// models of every layer kind and option of DESIGN.md section 5; and the reference itself
// against cases small enough to work out by hand.
#include <catch2/catch.hpp>

#include "reference/reference_model.hpp"
#include "support/hand_made_models.hpp"
#include "support/model_harness.hpp"

#include <moemamba/moemamba.h>

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

using namespace mmb;
using namespace mmb::testing;
using mmb::reference::ReferenceModel;

namespace {

// A MoE layer of d_ff 1 ReLU experts, the rest of its options at their defaults.
LayerConfig hand_moe(uint32_t n_experts, uint32_t top_k, RouterAct router) {
  LayerConfig l;
  l.kind = LayerKind::MoE;
  l.moe.n_experts = n_experts;
  l.moe.top_k = top_k;
  l.moe.expert.d_ff = 1;
  l.moe.expert.act = ExpertAct::ReLU;
  l.moe.router = router;
  return l;
}

// Hugging Face MambaForCausalLM's name for a native tensor name.
std::string hf_name(const std::string& native) {
  if (native == "embed.weight") return "backbone.embeddings.weight";
  if (native == "norm_f.weight") return "backbone.norm_f.weight";
  if (native == "lm_head.weight") return native;
  std::string name = "backbone." + native;
  const size_t mixer = name.find(".mamba.");
  if (mixer != std::string::npos) name.replace(mixer, 7, ".mixer.");
  return name;
}

// A safetensors file: 8-byte little-endian header length, the JSON header, the data.
void write_safetensors(const std::string& path, const SyntheticModel& weights) {
  std::ostringstream header;
  std::string data;
  header << "{";
  for (const WriterTensor& t : weights.contents.tensors) {
    header << (data.empty() ? "" : ",") << "\"" << hf_name(t.name) << "\":{\"dtype\":\""
           << (t.dtype == DType::F32 ? "F32" : t.dtype == DType::F16 ? "F16" : "BF16") << "\",\"shape\":[";
    for (size_t i = 0; i < t.shape.size(); ++i) header << (i ? "," : "") << t.shape[i];
    header << "],\"data_offsets\":[" << data.size() << "," << data.size() + t.data.size() << "]}";
    data.append(reinterpret_cast<const char*>(t.data.data()), t.data.size());
  }
  header << "}";
  std::string h = header.str();
  h.append((8 - h.size() % 8) % 8, ' ');
  std::ofstream out(path, std::ios::binary);
  const uint64_t len = h.size();
  for (int i = 0; i < 8; ++i) out.put(char((len >> (8 * i)) & 0xff));
  out << h << data;
  REQUIRE(out.good());
}

}  // namespace

// ---------------------------------------------------------------------------------
// The reference against hand-worked cases.

TEST_CASE("reference: one Mamba step worked by hand", "[parity][reference]") {
  LayerConfig l;
  l.kind = LayerKind::Mamba;
  l.mamba = {/*d_inner*/ 1, /*d_state*/ 1, /*d_conv*/ 2, /*dt_rank*/ 1, false, true, false};
  const ModelConfig config = two_by_two({l});
  const Tensors t = {
      {"embed.weight", {1, 0, 0, 1}},
      {"layers.0.mamba.in_proj.weight", {0.5, -1, 1, 2}},  // x row, then z row
      {"layers.0.mamba.conv1d.weight", {0.3, 0.7}},        // oldest, newest
      {"layers.0.mamba.conv1d.bias", {0.1}},
      {"layers.0.mamba.x_proj.weight", {2, 0.5, -1}},      // dt, B, C rows
      {"layers.0.mamba.dt_proj.weight", {0.25}},
      {"layers.0.mamba.dt_proj.bias", {-1}},
      {"layers.0.mamba.A_log", {std::log(2.0)}},           // A = -2
      {"layers.0.mamba.D", {0.5}},
      {"layers.0.mamba.out_proj.weight", {1, -2}},
  };
  ReferenceModel ref = reference_of(config, t);

  // Token 0: h = (1, 0), so x = 0.5, z = 1; the conv window is (0, 0.5).
  const double xc1 = silu(0.7 * 0.5 + 0.1);
  const double dt1 = softplus(0.25 * (2 * xc1) - 1);
  const double s1 = dt1 * xc1 * (0.5 * xc1);
  const double y1 = (s1 * -xc1 + 0.5 * xc1) * silu(1.0);
  std::vector<double> l1 = ref.step(0);
  CHECK(l1[0] == Approx(1 + y1).epsilon(1e-12));
  CHECK(l1[1] == Approx(-2 * y1).epsilon(1e-12));

  // Token 1: h = (0, 1), so x = -1, z = 2; the window is (0.5, -1); s decays by exp(dt A).
  const double xc2 = silu(0.3 * 0.5 + 0.7 * -1 + 0.1);
  const double dt2 = softplus(0.25 * (2 * xc2) - 1);
  const double s2 = s1 * std::exp(-2 * dt2) + dt2 * xc2 * (0.5 * xc2);
  const double y2 = (s2 * -xc2 + 0.5 * xc2) * silu(2.0);
  std::vector<double> l2 = ref.step(1);
  CHECK(l2[0] == Approx(y2).epsilon(1e-12));
  CHECK(l2[1] == Approx(1 - 2 * y2).epsilon(1e-12));

  // reset() forgets the state.
  ref.reset();
  CHECK(ref.step(0) == l1);
}

TEST_CASE("reference: RMSNorm block, MLP and LayerNorm final norm by hand", "[parity][reference]") {
  LayerConfig l;
  l.kind = LayerKind::MLP;
  l.mlp.d_ff = 1;
  l.mlp.act = ExpertAct::ReLU;
  ModelConfig config = two_by_two({l});
  config.norm = NormKind::RMS;
  config.final_norm = NormKind::Layer;
  config.tie_embeddings = false;
  const Tensors t = {
      {"embed.weight", {3, 4, 1, -1}},
      {"layers.0.norm.weight", {1, 2}},
      {"layers.0.mlp.w1.weight", {1, 1}},
      {"layers.0.mlp.w2.weight", {1, 0}},
      {"norm_f.weight", {1, 1}},
      {"norm_f.bias", {0.5, -0.5}},
      {"lm_head.weight", {1, 0, 1, 2}},
  };
  ReferenceModel ref = reference_of(config, t);
  const double eps = 1e-5;
  const double inv_rms = 1 / std::sqrt((9.0 + 16.0) / 2 + eps);
  const double a = std::max(0.0, 3 * inv_rms + 4 * 2 * inv_rms);
  const double r0 = 3 + a, r1 = 4;
  const double mean = (r0 + r1) / 2;
  const double var = ((r0 - mean) * (r0 - mean) + (r1 - mean) * (r1 - mean)) / 2;
  const double n0 = (r0 - mean) / std::sqrt(var + eps) + 0.5, n1 = (r1 - mean) / std::sqrt(var + eps) - 0.5;
  std::vector<double> logits = ref.step(0);
  CHECK(logits[0] == Approx(n0).epsilon(1e-12));
  CHECK(logits[1] == Approx(n0 + 2 * n1).epsilon(1e-12));
}

TEST_CASE("reference: expert activations match tabulated values", "[parity][reference]") {
  // silu(1), gelu(1) = Phi(1), gelu_tanh(1) and their values at -1, from the definitions
  // evaluated independently to 16 digits.
  struct Case { ExpertAct act; double at_1, at_minus_1; };
  const Case cases[] = {
      {ExpertAct::ReLU, 1.0, 0.0},
      {ExpertAct::SiLU, 0.7310585786300049, -0.2689414213699951},
      {ExpertAct::GELU, 0.8413447460685429, -0.15865525393145707},
      {ExpertAct::GELUTanh, 0.8411919906082768, -0.15880800939172324},
      {ExpertAct::SwiGLU, 0.7310585786300049, -0.2689414213699951},
      {ExpertAct::GeGLU, 0.8413447460685429, -0.15865525393145707},
  };
  for (const Case& c : cases) {
    for (bool bias : {false, true}) {
      INFO("act " << int(c.act) << " bias " << bias);
      LayerConfig l;
      l.kind = LayerKind::MLP;
      l.mlp.d_ff = 1;
      l.mlp.act = c.act;
      l.mlp.bias = bias;
      Tensors t = {{"embed.weight", {1, 0, 0, 1}}, {"layers.0.mlp.w1.weight", {1, 0}}, {"layers.0.mlp.w2.weight", {1, 0}}};
      if (bias) {
        t["layers.0.mlp.w1.bias"] = {-2};  // pre-activation 1 - 2 = -1
        t["layers.0.mlp.w2.bias"] = {0.25, -0.5};
      }
      const bool gated = c.act == ExpertAct::SwiGLU || c.act == ExpertAct::GeGLU;
      if (gated) {
        t["layers.0.mlp.w3.weight"] = {2, 0};
        if (bias) t["layers.0.mlp.w3.bias"] = {1};
      }
      const double act = bias ? c.at_minus_1 : c.at_1;
      const double up = gated ? (bias ? 3.0 : 2.0) : 1.0;
      ReferenceModel ref = reference_of(two_by_two({l}), t);
      std::vector<double> logits = ref.step(0);
      CHECK(logits[0] == Approx(1 + act * up + (bias ? 0.25 : 0.0)).epsilon(1e-14));
      CHECK(logits[1] == Approx(bias ? -0.5 : 0.0).margin(1e-15));
    }
  }
}

TEST_CASE("reference: MoE selection, ties, renorm, scale and normalized outputs by hand", "[parity][reference]") {
  LayerConfig l = hand_moe(3, 2, RouterAct::Softmax);
  l.moe.sel_bias = true;
  l.moe.renorm = true;
  l.moe.routed_scale = 2.0f;
  l.moe.normalize_expert_output = true;
  const Tensors t = {
      {"embed.weight", {1, 0, 0, 1}},
      {"layers.0.moe.router.weight", {1, 0, 0, 1, 1, 1}},
      {"layers.0.moe.router.sel_bias", {0, 0.5, 0}},
      {"layers.0.moe.experts.0.w1.weight", {1, 0}},
      {"layers.0.moe.experts.0.w2.weight", {2, 0}},
      {"layers.0.moe.experts.1.w1.weight", {1, 1}},
      {"layers.0.moe.experts.1.w2.weight", {0, 3}},
      {"layers.0.moe.experts.2.w1.weight", {1, 0}},
      {"layers.0.moe.experts.2.w2.weight", {-5, -5}},
  };
  ReferenceModel ref = reference_of(two_by_two({l}), t);
  // Token 0: router logits (1, 0, 1). Softmax p0 = p2 > p1, but sel_bias lifts expert 1
  // to first place; experts 0 and 2 then tie and the lower index (0) wins.
  const double e = std::exp(1.0);
  const double p0 = e / (2 * e + 1), p1 = 1 / (2 * e + 1);
  const double g0 = 2 * p0 / (p0 + p1), g1 = 2 * p1 / (p0 + p1);
  const double eps = 1e-5;
  const double e0 = 2 / std::sqrt(4.0 / 2 + eps);  // expert 0 outputs (2, 0) before normalizing
  const double e1 = 3 / std::sqrt(9.0 / 2 + eps);  // expert 1 outputs (0, 3)
  std::vector<double> logits = ref.step(0);
  CHECK(logits[0] == Approx(1 + g0 * e0).epsilon(1e-12));
  CHECK(logits[1] == Approx(g1 * e1).epsilon(1e-12));
  CHECK(std::isinf(ref.min_selection_margin()));  // an exact tie is settled by the rule, not a near-tie
}

TEST_CASE("reference: a ReLU router with every score zero leaves the gates zero", "[parity][reference]") {
  LayerConfig l = hand_moe(2, 1, RouterAct::ReLU);
  l.moe.renorm = true;
  l.moe.n_shared = 1;
  l.moe.shared.d_ff = 1;
  l.moe.shared.act = ExpertAct::GeGLU;
  const Tensors t = {
      {"embed.weight", {1, 0.5, 0, 1}},
      {"layers.0.moe.router.weight", {-1, 0, 0, -1}},  // token 0: router logits (-1, -0.5)
      {"layers.0.moe.experts.0.w1.weight", {1, 1}},
      {"layers.0.moe.experts.0.w2.weight", {7, 7}},
      {"layers.0.moe.experts.1.w1.weight", {1, 1}},
      {"layers.0.moe.experts.1.w2.weight", {7, 7}},
      {"layers.0.moe.shared.0.w1.weight", {1, 1}},     // 1.5
      {"layers.0.moe.shared.0.w3.weight", {2, 0}},     // 2
      {"layers.0.moe.shared.0.w2.weight", {1, -1}},
  };
  ReferenceModel ref = reference_of(two_by_two({l}), t);
  const double shared = 2 * 1.399789198096713;  // gelu(1.5) * 2
  const double r0 = 1 + shared, r1 = 0.5 - shared;  // the residual after the layer
  std::vector<double> logits = ref.step(0);       // tied head: the embedding rows
  CHECK(logits[0] == Approx(r0 + 0.5 * r1).epsilon(1e-12));
  CHECK(logits[1] == Approx(r1).epsilon(1e-12));
}

TEST_CASE("reference: sigmoid router gates are the selected score times routed_scale", "[parity][reference]") {
  LayerConfig l = hand_moe(2, 1, RouterAct::Sigmoid);
  l.moe.router_bias = true;
  l.moe.routed_scale = 3.0f;
  const Tensors t = {
      {"embed.weight", {1, 0, 0, 1}},
      {"layers.0.moe.router.weight", {1, 0, 2, 0}},
      {"layers.0.moe.router.bias", {0.5, -2}},  // token 0: logits (1.5, 0): expert 0 wins
      {"layers.0.moe.experts.0.w1.weight", {1, 0}},
      {"layers.0.moe.experts.0.w2.weight", {0, 1}},
      {"layers.0.moe.experts.1.w1.weight", {1, 0}},
      {"layers.0.moe.experts.1.w2.weight", {1, 0}},
  };
  ReferenceModel ref = reference_of(two_by_two({l}), t);
  std::vector<double> logits = ref.step(0);
  const double gate = 3 / (1 + std::exp(-1.5));
  CHECK(logits[0] == Approx(1).epsilon(1e-12));
  CHECK(logits[1] == Approx(gate).epsilon(1e-12));
  // The chosen expert's score beat the other's by sigmoid(1.5) - sigmoid(0).
  CHECK(ref.min_selection_margin() == Approx(1 / (1 + std::exp(-1.5)) - 0.5).epsilon(1e-12));
}

// ---------------------------------------------------------------------------------
// The test models themselves.

TEST_CASE("parity cases cover every layer kind and option", "[parity]") {
  std::set<int> kinds, expert_acts, routers, top_ks, final_norms, block_norms;
  std::set<float> eps;
  std::set<bool> router_bias, sel_bias, renorm, shared, normalized, in_bias, conv_bias, out_bias, tied, padded, ff_bias;
  std::set<bool> parallel_norms, routed_projection[3], projection_options[6];
  std::set<int> projection_routers;
  bool scaled = false;
  for (const ModelCase& c : parity_cases()) {
    validate_config(c.config);
    final_norms.insert(int(c.config.final_norm));
    eps.insert(c.config.norm_eps);
    block_norms.insert(int(c.config.norm));
    tied.insert(c.config.tie_embeddings);
    padded.insert(c.pad_rows > 0 && !c.config.tie_embeddings);
    padded.insert(c.pad_rows > 0 && c.config.tie_embeddings);
    for (const LayerConfig& l : c.config.layers) {
      kinds.insert(int(l.kind));
      if (l.kind == LayerKind::Parallel) parallel_norms.insert(l.shared_norm);
      if (l.has_mamba())
        for (const auto* e : {&l.mamba.x_proj_experts, &l.mamba.z_proj_experts, &l.mamba.out_proj_experts}) {
          if (!*e) continue;
          projection_routers.insert(int((*e)->router));
          for (auto [set, on] : {std::pair{&projection_options[0], (*e)->router_bias}, {&projection_options[1], (*e)->sel_bias},
                                 {&projection_options[2], (*e)->renorm}, {&projection_options[3], (*e)->bias},
                                 {&projection_options[4], (*e)->top_k > 1}, {&projection_options[5], (*e)->routed_scale != 1.0f}})
            set->insert(on);
        }
      if (l.has_mamba()) {
        for (int which = 0; which < 3; ++which)
          routed_projection[which].insert(bool(which == 0   ? l.mamba.x_proj_experts
                                               : which == 1 ? l.mamba.z_proj_experts
                                                            : l.mamba.out_proj_experts));
        in_bias.insert(l.mamba.in_proj_bias);
        conv_bias.insert(l.mamba.conv_bias);
        out_bias.insert(l.mamba.out_proj_bias);
      }
      if (l.has_moe()) {
        expert_acts.insert(int(l.moe.expert.act));
        ff_bias.insert(l.moe.expert.bias);
        routers.insert(int(l.moe.router));
        top_ks.insert(int(l.moe.top_k));
        router_bias.insert(l.moe.router_bias);
        sel_bias.insert(l.moe.sel_bias);
        renorm.insert(l.moe.renorm);
        shared.insert(l.moe.n_shared > 0);
        normalized.insert(l.moe.normalize_expert_output);
        scaled |= l.moe.routed_scale != 1.0f;
      }
      if (l.kind == LayerKind::MLP) ff_bias.insert(l.mlp.bias);
    }
  }
  CHECK(kinds.size() == 4);
  CHECK(parallel_norms.size() == 2);
  CHECK(projection_routers.size() == 3);
  for (const auto& s : routed_projection) CHECK(s.size() == 2);
  for (const auto& s : projection_options) CHECK(s.size() == 2);
  CHECK(expert_acts.size() == 6);
  CHECK(routers.size() == 3);
  CHECK(top_ks.count(1) + top_ks.count(2) + top_ks.count(3) == 3);
  CHECK(final_norms.size() == 3);
  CHECK(block_norms.size() == 3);
  CHECK(eps.size() >= 4);  // a library that ignored the configured eps would fail somewhere
  for (const auto* s : {&router_bias, &sel_bias, &renorm, &shared, &normalized, &in_bias, &conv_bias, &out_bias, &tied,
                        &padded, &ff_bias, &parallel_norms})
    CHECK(s->size() == 2);
  CHECK(scaled);
}

// ---------------------------------------------------------------------------------
// The library against the reference.

TEST_CASE("f32 logits match the reference on every layer kind and option", "[parity]") {
  for (const ModelCase& c : parity_cases()) check_parity(c, build_weights(c), 24);
}

TEST_CASE("f16 and bf16 weights match the reference on the rounded weights", "[parity]") {
  // The reference reads the same rounded values (SyntheticModel::values widens the
  // stored f16/bf16 exactly), and widening to f32 in the library is exact too, so the
  // weights contribute no error: the f32 tolerance applies unchanged. Only the
  // activations and accumulations, f32 in the library, differ from the reference.
  const std::set<std::string> chosen = {"blackmamba", "deepseek-like shared + sel_bias", "pure mamba with biases",
                                        "mixed plan", "parallel mamba + moe", "x, z and out_proj experts",
                                        "z experts in a parallel block"};
  const size_t runs = check_parity_in_dtypes(parity_cases(), chosen, {DType::F16, DType::BF16}, build_weights, 16);
  CHECK(runs == 2 * chosen.size());
}

TEST_CASE("q8 weights match the reference on the dequantized weights and quantized inputs", "[parity][q8]") {
  // As for q4: the reference reads the values the q8 bytes stand for (q * scale, exact
  // in f32) and rounds each q8 product's input as the library does
  // (docs/bundle-format.md, "What a q8 or q4 product computes"), within check_parity's
  // kRoundedInputAllowance.
  const std::set<std::string> chosen = {"blackmamba", "pure mamba with biases", "mixed plan", "x, z and out_proj experts"};
  CHECK(check_parity_in_dtypes(parity_cases(), chosen, {DType::Q8}, build_weights, 16) == chosen.size());
}

TEST_CASE("q4 weights match the reference on the dequantized weights and quantized inputs", "[parity][q4]") {
  // The reference reads the values the q4 bytes stand for ((code - 8) * scale, exact in
  // f32) and rounds each q4 product's input as the library does (docs/bundle-format.md,
  // "What a q8 or q4 product computes"); the tolerance allows a rare input rounding the
  // other way (check_parity's kRoundedInputAllowance). Inputs left unrounded are off by ~300
  // times the f32 tolerance on these models, a misread nibble or scale by more.
  const std::set<std::string> chosen = {"blackmamba", "pure mamba with biases", "mixed plan", "x, z and out_proj experts"};
  CHECK(check_parity_in_dtypes(parity_cases(), chosen, {DType::Q4}, build_weights, 16) == chosen.size());
}

TEST_CASE("a bundle loaded from a file gives the same logits as from memory", "[parity]") {
  const ModelCase c = parity_cases()[0];
  const SyntheticModel weights = build_weights(c);
  const std::string path = (std::filesystem::temp_directory_path() / "mmb_parity_model.mmb").string();
  write_bundle_to_file(weights.contents, WriterOptions{}, path);
  RuntimePtr rt = make_runtime();
  mmb_model* from_file = nullptr;
  REQUIRE(mmb_model_load_file(rt.get(), path.c_str(), nullptr, &from_file) == MMB_OK);
  ModelPtr file_model(from_file);
  ModelPtr memory_model = load_model(rt.get(), weights);
  SessionPtr a = make_session(file_model.get());
  SessionPtr b = make_session(memory_model.get());
  for (int32_t token : random_tokens(3, 8, c.config.vocab_size)) CHECK(step(a.get(), token) == step(b.get(), token));
  std::filesystem::remove(path);
}

TEST_CASE("model info describes the config", "[parity]") {
  RuntimePtr rt = make_runtime();
  for (const ModelCase& c : parity_cases()) {
    INFO(c.name);
    const SyntheticModel weights = build_weights(c);
    ModelPtr model = load_model(rt.get(), weights);
    const mmb_model_info info = model_info(model.get());
    const ModelConfig& cfg = c.config;
    int mamba = 0, moe = 0, mlp = 0, experts = 0, top_k = 0;
    for (const LayerConfig& l : cfg.layers) {
      mamba += l.has_mamba();  // a parallel layer counts as both
      moe += l.has_moe();
      mlp += l.kind == LayerKind::MLP;
      if (l.has_moe()) {
        experts = std::max(experts, int(l.moe.n_experts));
        top_k = std::max(top_k, int(l.moe.top_k));
      }
    }
    CHECK(info.vocab_size == int32_t(cfg.vocab_size));
    CHECK(info.d_model == int32_t(cfg.d_model));
    CHECK(info.n_layers == int32_t(cfg.layers.size()));
    CHECK(info.n_mamba_layers == mamba);
    CHECK(info.n_moe_layers == moe);
    CHECK(info.n_mlp_layers == mlp);
    CHECK(info.n_experts == experts);
    CHECK(info.top_k == top_k);
    CHECK(info.weight_dtype == 0);
    CHECK(info.state_bytes == 4 * state_floats(cfg));
    if (c.pad_rows == 0) {
      CHECK(info.params_total == params_total(cfg));
      CHECK(info.params_active == params_active(cfg));
    } else {  // whether padding rows count as parameters is the library's choice
      const uint64_t padding = uint64_t(c.pad_rows) * cfg.d_model * (cfg.tie_embeddings ? 1 : 2);
      CHECK(info.params_total >= params_total(cfg));
      CHECK(info.params_total <= params_total(cfg) + padding);
    }
    CHECK(info.params_active <= info.params_total);
    // A tied model reads its embedding twice per token (one row in, the head out), so
    // the active bytes may exceed the stored ones by a row.
    CHECK(info.active_weight_bytes > 0);
    CHECK(info.active_weight_bytes <= info.weight_bytes + 4ull * cfg.d_model);
    CHECK(info.name != nullptr);
  }
}

TEST_CASE("a Hugging Face Mamba checkpoint packed by mmb pack matches the reference", "[parity][cli]") {
  struct Variant {
    const char* name;
    bool tied, bias, conv_bias;
    float eps;
    DType dtype;
    uint32_t vocab;
  };
  const Variant variants[] = {
      {"tied, f32", true, false, true, 1e-5f, DType::F32, 264},
      {"untied, biases, no conv bias, bf16, eps 1e-3", false, true, false, 1e-3f, DType::BF16, 280},
  };
  const auto dir = std::filesystem::temp_directory_path() / ("mmb_hf_parity_" + std::to_string(getpid()));
  for (const Variant& v : variants) {
    INFO(v.name);
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    // The same model in native terms, whose synthetic weights go into the checkpoint
    // under Hugging Face names.
    ModelConfig config;
    config.d_model = 32;
    config.vocab_size = v.vocab;
    config.norm_eps = v.eps;
    config.tie_embeddings = v.tied;
    for (int i = 0; i < 2; ++i) {
      LayerConfig l;
      l.mamba = {64, 8, 4, 2, v.bias, v.conv_bias, v.bias};
      config.layers.push_back(l);
    }
    const SyntheticModel weights = make_synthetic_model(config, {77, v.dtype});
    write_safetensors((dir / "model.safetensors").string(), weights);
    std::ofstream((dir / "config.json").string())
        << "{\"model_type\": \"mamba\", \"architectures\": [\"MambaForCausalLM\"], \"hidden_size\": 32, "
        << "\"num_hidden_layers\": 2, \"vocab_size\": " << v.vocab << ", \"state_size\": 8, \"conv_kernel\": 4, "
        << "\"intermediate_size\": 64, \"time_step_rank\": 2, \"use_bias\": " << (v.bias ? "true" : "false")
        << ", \"use_conv_bias\": " << (v.conv_bias ? "true" : "false") << ", \"layer_norm_epsilon\": " << v.eps
        << ", \"tie_word_embeddings\": " << (v.tied ? "true" : "false") << ", \"hidden_act\": \"silu\"}";

    const std::string bundle = (dir / "model.mmb").string(), log = (dir / "pack.log").string();
    const std::string command = std::string(MMB_CLI_LAUNCHER) + "\"" + MMB_CLI_PATH + "\" pack \"" + dir.string() +
                                "\" -o \"" + bundle + "\" > \"" + log + "\" 2>&1";
    const int rc = std::system(command.c_str());
    std::ifstream log_file(log);
    const std::string output((std::istreambuf_iterator<char>(log_file)), std::istreambuf_iterator<char>());
    INFO(command << "\n" << output);
    REQUIRE(rc == 0);

    RuntimePtr rt = make_runtime();
    mmb_model* raw = nullptr;
    const mmb_status s = mmb_model_load_file(rt.get(), bundle.c_str(), nullptr, &raw);
    INFO(mmb_last_error());
    REQUIRE(s == MMB_OK);
    ModelPtr model(raw);
    SessionPtr session = make_session(model.get());
    ReferenceModel ref = build_reference(weights);
    for (int32_t token : random_tokens(5, 16, v.vocab)) {
      const std::vector<double> expected = ref.step(token);
      const double diff = max_abs_diff(step(session.get(), token), expected);
      INFO("token " << token << ": max |lib - ref| = " << diff);
      CHECK(diff <= logit_tolerance(expected));
    }
  }
  std::filesystem::remove_all(dir);
}
