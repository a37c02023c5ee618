// Checkpoints read as native models: native, Hugging Face and mamba_ssm dialects,
// sharded files, dtype policy, and every inconsistency between config and tensors.
#include <catch2/catch.hpp>

#include "base/error.hpp"
#include "checkpoint.hpp"
#include "native_config.hpp"
#include "packed_dtype.hpp"
#include "support/bundle_fixtures.hpp"
#include "support/checkpoint_fixture.hpp"
#include "synthetic_model.hpp"

#include <algorithm>
#include <filesystem>

using namespace mmb;
using test::FixtureOptions;
using test::FixtureTensor;
using test::TempDir;

namespace {

// A plain Mamba model built by hand, to compare what the dialects' configs produce.
ModelConfig plain_mamba(uint32_t n_layers, bool bias, bool conv_bias, bool tie, NormKind norm = NormKind::RMS) {
  ModelConfig c;
  c.d_model = 16;
  c.vocab_size = 300;
  c.norm = c.final_norm = norm;
  c.tie_embeddings = tie;
  LayerConfig l;
  l.mamba = {32, 4, 4, 1, bias, conv_bias, bias};  // dt_rank 1 = ceil(16 / 16)
  c.layers.assign(n_layers, l);
  return c;
}

std::string hf_config(bool bias, bool tie, const std::string& extra = "") {
  return std::string(R"({"model_type": "mamba", "architectures": ["MambaForCausalLM"], "hidden_size": 16,
      "num_hidden_layers": 2, "vocab_size": 300, "state_size": 4, "expand": 2, "conv_kernel": 4,)") +
         "\"use_bias\": " + (bias ? "true" : "false") + ", \"tie_word_embeddings\": " + (tie ? "true" : "false") + extra + "}";
}

FixtureOptions hf_names(uint64_t padded_rows = 0) {
  FixtureOptions o;
  o.rename = test::hf_name;
  o.padded_rows = padded_rows;
  return o;
}

// Every tensor of the checkpoint holds the fixture's values (rounded to its stored
// dtype), under the native name whose file name `rename` gives.
void check_values(const Checkpoint& ck, const std::vector<FixtureTensor>& fixture,
                  const std::function<std::string(const std::string&)>& rename) {
  const std::vector<TensorSpec> specs = tensor_specs(ck.config);
  REQUIRE(ck.tensors.size() == specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    const CheckpointTensor& t = ck.tensors[i];
    INFO(t.name);
    CHECK(t.name == specs[i].name);
    const FixtureTensor& f = test::fixture_find(fixture, rename(t.name));
    CHECK(t.shape == f.shape);
    REQUIRE(t.data.size() == f.values.size() * (t.dtype == DType::F32 ? 4 : 2));
    CHECK(test::decode(t.data.data(), f.values.size(), t.dtype) == test::round_to(f.values, t.dtype));
  }
}

std::pair<mmb_status, std::string> load_failure(const std::string& input) {
  try {
    load_checkpoint(input);
  } catch (const Error& e) {
    return {e.status(), e.what()};
  }
  return {MMB_OK, ""};
}

bool scan_parameter(const std::string& name) {
  for (const char* suffix : {".A_log", ".D", ".dt_proj.bias"}) {
    const std::string s = suffix;
    if (name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("native checkpoint of every layer kind loads with its tensors unchanged", "[pack]") {
  TempDir dir;
  const ModelConfig config = named_shape("tiny");
  const auto fixture = test::fixture_tensors(config);
  test::write_fixture(dir.path("model.safetensors"), fixture);
  test::write_text(dir.path("config.json"), native_config_json(config));

  const Checkpoint ck = load_checkpoint(dir.dir());
  CHECK(ck.dialect == "moemamba");
  CHECK(ck.tokenizer_path.empty());
  CHECK(ck.input_bytes == std::filesystem::file_size(dir.path("model.safetensors")));
  CHECK(ck.converted.empty());  // all f32: every tensor points into the mapped file
  for (const auto& t : ck.tensors) CHECK(t.dtype == DType::F32);
  check_values(ck, fixture, [](const std::string& n) { return n; });

  // The same, naming the .safetensors file itself.
  check_values(load_checkpoint(dir.path("model.safetensors")), fixture, [](const std::string& n) { return n; });
}

TEST_CASE("dtype policy: --dtype for weights, f32 for the scan's parameters, else the checkpoint's own", "[pack]") {
  const ModelConfig config = named_shape("tiny");
  for (SafetensorsDType source : {SafetensorsDType::F32, SafetensorsDType::F16, SafetensorsDType::BF16, SafetensorsDType::F64}) {
    for (bool rough : {false, true}) {
      TempDir dir;
      FixtureOptions o;
      o.dtype = source;
      o.rough = rough;
      const auto fixture = test::fixture_tensors(config, o);
      test::write_fixture(dir.path("model.safetensors"), fixture);
      test::write_text(dir.path("config.json"), native_config_json(config));
      for (std::optional<DType> wanted : {std::optional<DType>(), std::optional(DType::F32), std::optional(DType::F16),
                                          std::optional(DType::BF16)}) {
        INFO("source " << safetensors_dtype_name(source) << ", rough " << rough << ", --dtype "
                       << (wanted ? dtype_name(*wanted) : "none"));
        const Checkpoint ck = load_checkpoint(dir.dir(), {wanted});
        const DType own = source == SafetensorsDType::F16    ? DType::F16
                          : source == SafetensorsDType::BF16 ? DType::BF16
                                                             : DType::F32;
        for (const auto& t : ck.tensors) {
          INFO(t.name);
          CHECK(t.dtype == (scan_parameter(t.name) ? DType::F32 : wanted.value_or(own)));
        }
        check_values(ck, fixture, [](const std::string& n) { return n; });
      }
    }
  }
}

TEST_CASE("a checkpoint mixing dtypes packs as f32 by default, ignoring the scan's parameters", "[pack]") {
  const ModelConfig config = named_shape("tiny");
  TempDir dir;
  FixtureOptions bf16;
  bf16.dtype = SafetensorsDType::BF16;
  auto fixture = test::fixture_tensors(config, bf16);
  // f32 scan parameters beside bf16 weights, as many checkpoints ship: still bf16.
  auto f32 = test::fixture_tensors(config);
  for (size_t i = 0; i < fixture.size(); ++i)
    if (scan_parameter(fixture[i].name)) fixture[i] = f32[i];
  test::write_fixture(dir.path("model.safetensors"), fixture);
  test::write_text(dir.path("config.json"), native_config_json(config));
  for (const auto& t : load_checkpoint(dir.dir()).tensors) CHECK(t.dtype == (scan_parameter(t.name) ? DType::F32 : DType::BF16));

  // One f16 weight among the bf16 ones: no common dtype, so f32.
  fixture[0] = test::fixture_tensors(config, [] { FixtureOptions o; o.dtype = SafetensorsDType::F16; return o; }())[0];
  test::write_fixture(dir.path("model.safetensors"), fixture);
  const Checkpoint ck = load_checkpoint(dir.dir());
  for (const auto& t : ck.tensors) CHECK(t.dtype == DType::F32);
  check_values(ck, fixture, [](const std::string& n) { return n; });
}

TEST_CASE("routers' selection bias packs as f32 and does not decide the checkpoint's dtype", "[pack]") {
  // Nemotron-H's routers: sigmoid, e_score_correction_bias (native router.sel_bias) for
  // selection only, shipped f32 beside bf16 weights.
  ModelConfig config = named_shape("tiny");
  for (LayerConfig& l : config.layers)
    if (l.kind == LayerKind::MoE) {
      l.moe.router = RouterAct::Sigmoid;
      l.moe.sel_bias = true;
    }
  auto is_sel_bias = [](const std::string& name) { return name.ends_with(".router.sel_bias"); };
  const std::vector<TensorSpec> specs = tensor_specs(config);
  REQUIRE(std::count_if(specs.begin(), specs.end(), [&](const TensorSpec& s) { return is_sel_bias(s.name); }) == 2);
  for (const TensorSpec& spec : specs)
    if (is_sel_bias(spec.name)) {
      CHECK(keeps_f32(spec.name));
      for (DType weights : {DType::F32, DType::F16, DType::BF16, DType::Q8}) CHECK(packed_dtype(spec, weights) == DType::F32);
    }

  TempDir dir;
  FixtureOptions bf16;
  bf16.dtype = SafetensorsDType::BF16;
  auto fixture = test::fixture_tensors(config, bf16);
  FixtureOptions rough_f32;
  rough_f32.rough = true;  // full f32 mantissas: any rounding would show
  const auto f32 = test::fixture_tensors(config, rough_f32);
  for (size_t i = 0; i < fixture.size(); ++i)
    if (is_sel_bias(fixture[i].name) || scan_parameter(fixture[i].name)) fixture[i] = f32[i];
  test::write_fixture(dir.path("model.safetensors"), fixture);
  test::write_text(dir.path("config.json"), native_config_json(config));
  for (std::optional<DType> wanted : {std::optional<DType>(), std::optional(DType::F16), std::optional(DType::BF16)}) {
    INFO("--dtype " << (wanted ? dtype_name(*wanted) : "none"));
    const Checkpoint ck = load_checkpoint(dir.dir(), {wanted});
    for (const auto& t : ck.tensors) {
      INFO(t.name);
      const bool kept = is_sel_bias(t.name) || scan_parameter(t.name);
      CHECK(t.dtype == (kept ? DType::F32 : wanted.value_or(DType::BF16)));
    }
    check_values(ck, fixture, [](const std::string& n) { return n; });
  }
}

TEST_CASE("Hugging Face Mamba checkpoints: names, padded vocab, tied heads, biases", "[pack]") {
  struct Variant {
    const char* label;
    bool bias, tie, head_saved, mamba_ssm_embedding;
    uint64_t padded_rows;
    std::string extra;
  };
  const std::vector<Variant> variants = {
      {"tied, no head, no bias", false, true, false, false, 0, ""},
      {"tied with the head saved too", false, true, true, false, 0, ", \"time_step_rank\": \"auto\""},
      {"untied head, biases, padded vocab", true, false, true, false, 4, ", \"time_step_rank\": 1"},
      {"mamba_ssm's embedding name, padded, tied", true, true, false, true, 8, ""},
  };
  for (const Variant& v : variants) {
    INFO(v.label);
    TempDir dir;
    const ModelConfig expected = plain_mamba(2, v.bias, true, v.tie);
    FixtureOptions o = hf_names(v.padded_rows);
    if (v.mamba_ssm_embedding)
      o.rename = [](const std::string& n) { return n == "embed.weight" ? std::string("backbone.embedding.weight") : test::hf_name(n); };
    auto fixture = test::fixture_tensors(expected, o);
    if (v.tie && v.head_saved) {
      FixtureTensor head = fixture.front();  // the embedding's values under the head's name
      head.name = "lm_head.weight";
      fixture.push_back(head);
    }
    test::write_fixture(dir.path("model.safetensors"), fixture);
    test::write_text(dir.path("config.json"), hf_config(v.bias, v.tie, v.extra));

    const Checkpoint ck = load_checkpoint(dir.dir());
    CHECK(ck.dialect == "hf-mamba");
    CHECK(ck.config.vocab_size == 300);
    CHECK(ck.config.tie_embeddings == v.tie);
    CHECK(ck.tensors.front().shape == std::vector<uint64_t>{300 + v.padded_rows, 16});
    CHECK(ck.tensors.size() == tensor_specs(expected).size());
    check_values(ck, fixture, o.rename);
  }
}

TEST_CASE("mamba_ssm checkpoints with LayerNorm blocks and a saved tied head", "[pack]") {
  TempDir dir;
  const ModelConfig expected = plain_mamba(3, false, true, true, NormKind::Layer);
  FixtureOptions o = hf_names(4);
  o.rename = [](const std::string& n) { return n == "embed.weight" ? std::string("backbone.embedding.weight") : test::hf_name(n); };
  auto fixture = test::fixture_tensors(expected, o);
  FixtureTensor head = fixture.front();
  head.name = "lm_head.weight";
  head.dtype = SafetensorsDType::F64;  // the same values in another dtype still count as the same
  head.bytes = test::encode(head.values, SafetensorsDType::F64);
  fixture.push_back(head);
  test::write_fixture(dir.path("model.safetensors"), fixture);
  test::write_text(dir.path("config.json"), R"({"d_model": 16, "n_layer": 3, "vocab_size": 300, "rms_norm": false,
                               "ssm_cfg": {"d_state": 4}, "pad_vocab_size_multiple": 8})");
  const Checkpoint ck = load_checkpoint(dir.dir());
  CHECK(ck.dialect == "mamba_ssm");
  CHECK(ck.config.norm == NormKind::Layer);
  check_values(ck, fixture, o.rename);
  CHECK(ck.tensors.back().name == "norm_f.bias");
}

TEST_CASE("sharded checkpoints load through their index", "[pack]") {
  TempDir dir;
  const ModelConfig expected = plain_mamba(2, true, true, false);
  const auto fixture = test::fixture_tensors(expected, hf_names());
  std::vector<FixtureTensor> first(fixture.begin(), fixture.begin() + 7), second(fixture.begin() + 7, fixture.end());
  test::write_fixture(dir.path("model-00001-of-00002.safetensors"), first);
  test::write_fixture(dir.path("model-00002-of-00002.safetensors"), second);
  std::string map;
  for (const auto& t : first) map += (map.empty() ? "\"" : ", \"") + t.name + "\": \"model-00001-of-00002.safetensors\"";
  for (const auto& t : second) map += ", \"" + t.name + "\": \"model-00002-of-00002.safetensors\"";
  test::write_text(dir.path("model.safetensors.index.json"), "{\"metadata\": {\"total_size\": 1}, \"weight_map\": {" + map + "}}");
  test::write_text(dir.path("config.json"), hf_config(true, false));

  const Checkpoint ck = load_checkpoint(dir.dir());
  check_values(ck, fixture, test::hf_name);
  CHECK(ck.input_bytes == std::filesystem::file_size(dir.path("model-00001-of-00002.safetensors")) +
                              std::filesystem::file_size(dir.path("model-00002-of-00002.safetensors")));
  check_values(load_checkpoint(dir.path("model.safetensors.index.json")), fixture, test::hf_name);

  auto index_failure = [&](const std::string& weight_map) {
    test::write_text(dir.path("model.safetensors.index.json"), "{\"weight_map\": " + weight_map + "}");
    return load_failure(dir.dir());
  };
  const std::string rest = map.substr(map.find(',') + 1);  // all but the first entry
  const std::string first_name = first.front().name;
  auto absent = index_failure("{\"" + first_name + "\": \"model-00003-of-00002.safetensors\"," + rest + "}");
  CHECK(absent.first == MMB_ERR_IO);
  CHECK_THAT(absent.second, Catch::Contains("model-00003-of-00002.safetensors"));
  auto wrong_shard = index_failure("{\"" + first_name + "\": \"model-00002-of-00002.safetensors\"," + rest + "}");
  CHECK(wrong_shard.first == MMB_ERR_FORMAT);
  CHECK_THAT(wrong_shard.second, Catch::Contains("maps tensor '" + first_name + "' to model-00002-of-00002.safetensors, which does not hold it"));
  auto unlisted = index_failure("{" + rest + "}");
  CHECK(unlisted.first == MMB_ERR_FORMAT);
  CHECK_THAT(unlisted.second, Catch::Contains("holds tensor '" + first_name + "', which"));
  CHECK_THAT(unlisted.second, Catch::Contains("does not list"));
  auto escape = index_failure("{\"" + first_name + "\": \"../model-00001-of-00002.safetensors\"," + rest + "}");
  CHECK(escape.first == MMB_ERR_FORMAT);
  CHECK_THAT(escape.second, Catch::Contains("is not a plain file name"));
  auto typed = index_failure("[]");
  CHECK(typed.first == MMB_ERR_FORMAT);
  CHECK_THAT(typed.second, Catch::Contains("weight_map: expected an object"));
  CHECK(index_failure("{}").first == MMB_ERR_FORMAT);
}

TEST_CASE("tensors that disagree with config.json are format errors naming them", "[pack]") {
  const ModelConfig expected = plain_mamba(2, false, true, true);
  const auto fixture = test::fixture_tensors(expected, hf_names());
  struct Case {
    const char* label;
    std::function<void(std::vector<FixtureTensor>&)> change;
    std::string config;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"missing tensor", [](auto& t) { t.erase(t.begin() + 5); }, hf_config(false, true),
       "missing 1 tensor(s) that"},
      {"extra tensor", [](auto& t) { t.push_back(t.back()); t.back().name = "backbone.layers.0.mixer.extra"; },
       hf_config(false, true), "1 tensor(s) that"},
      {"biases the config does not have", [](auto&) {}, hf_config(true, true), "missing 4 tensor(s)"},
      {"wrong shape", [](auto& t) { t[3].shape = {t[3].shape[0] / 2, 1, t[3].shape[2] * 2}; }, hf_config(false, true),
       "has shape [16, 1, 8] but"},
      {"embedding short of the vocabulary", [](auto& t) {
         t[0].shape[0] = 299;
         t[0].values.resize(299 * 16);
         t[0].bytes = test::encode(t[0].values, t[0].dtype);
       },
       hf_config(false, true), "has shape [299, 16] but"},
      {"both embedding names", [](auto& t) { t.push_back(t[0]); t.back().name = "backbone.embedding.weight"; },
       hf_config(false, true), "holds both 'backbone.embeddings.weight' and 'backbone.embedding.weight' for embed.weight"},
      {"tied head that differs", [](auto& t) {
         t.push_back(t[0]);
         t.back().name = "lm_head.weight";
         t.back().values[7] += 1.0f;
         t.back().bytes = test::encode(t.back().values, t.back().dtype);
       },
       hf_config(false, true), "'lm_head.weight' differs from the embedding 'backbone.embeddings.weight'"},
      {"untied without a head", [](auto&) {}, hf_config(false, false), "missing 1 tensor(s) that"},
      {"layer count", [](auto&) {}, R"({"model_type": "mamba", "hidden_size": 16, "num_hidden_layers": 1,
                                        "vocab_size": 300, "state_size": 4})", "tensor(s) that"},
  };
  for (const Case& c : cases) {
    INFO(c.label);
    TempDir dir;
    auto tensors = fixture;
    c.change(tensors);
    test::write_fixture(dir.path("model.safetensors"), tensors);
    test::write_text(dir.path("config.json"), c.config);
    auto [status, message] = load_failure(dir.dir());
    CHECK(status == MMB_ERR_FORMAT);
    CHECK_THAT(message, Catch::Contains(c.message));
    CHECK_THAT(message, Catch::Contains("model.safetensors"));
  }
}

TEST_CASE("checkpoint inputs: paths, dialect detection and tokenizer files", "[pack]") {
  TempDir dir;
  const ModelConfig config = named_shape("tiny");
  test::write_fixture(dir.path("model.safetensors"), test::fixture_tensors(config));
  auto expect = [&](const std::string& input, mmb_status status, const char* message) {
    INFO(input);
    auto [s, m] = load_failure(input);
    CHECK(s == status);
    CHECK_THAT(m, Catch::Contains(message));
  };
  expect(dir.dir(), MMB_ERR_IO, "config.json: cannot open");
  test::write_text(dir.path("config.json"), "{\"n_layer\": 2}");
  expect(dir.dir(), MMB_ERR_FORMAT, "cannot tell the checkpoint's dialect");
  test::write_text(dir.path("config.json"), "{\"model_type\": \"zamba2\", \"hidden_size\": 16}");
  expect(dir.dir(), MMB_ERR_UNSUPPORTED, "model_type \"zamba2\" is not supported");
  test::write_text(dir.path("config.json"), "{\"model_type\": 3}");
  expect(dir.dir(), MMB_ERR_FORMAT, "model_type: expected a string");
  test::write_text(dir.path("config.json"), "{\"format\": \"moemamba\",}");
  expect(dir.dir(), MMB_ERR_FORMAT, "config.json: invalid JSON");
  expect(dir.path("absent"), MMB_ERR_IO, "no such file or directory");
  expect(dir.path("config.json"), MMB_ERR_INVALID_ARGUMENT, "expected a checkpoint directory");
  test::write_text(dir.path("model.safetensors.index.json"), "{}");
  expect(dir.dir(), MMB_ERR_INVALID_ARGUMENT, "holds both model.safetensors and model.safetensors.index.json");
  TempDir empty;
  expect(empty.dir(), MMB_ERR_IO, "holds neither model.safetensors nor model.safetensors.index.json");
  std::filesystem::remove(dir.path("model.safetensors.index.json"));

  // Tokenizer: beside config.json, or what the native config names.
  const std::string text = native_config_json(config);
  test::write_text(dir.path("config.json"), text);
  CHECK(load_checkpoint(dir.dir()).tokenizer_path.empty());
  test::write_text(dir.path("tokenizer.json"), "{}");
  CHECK(load_checkpoint(dir.dir()).tokenizer_path == dir.path("tokenizer.json"));
  const std::string with_tokenizer = text.substr(0, text.rfind('}')) + ", \"tokenizer\": \"bytes\"}";
  test::write_text(dir.path("config.json"), with_tokenizer);
  CHECK(load_checkpoint(dir.dir()).tokenizer_path.empty());
  test::write_text(dir.path("config.json"), text.substr(0, text.rfind('}')) + ", \"tokenizer\": \"other.json\"}");
  expect(dir.dir(), MMB_ERR_IO, "other.json does not exist");
  test::write_text(dir.path("other.json"), "{}");
  CHECK(load_checkpoint(dir.dir()).tokenizer_path == dir.path("other.json"));
}

TEST_CASE("native checkpoints: parallel parts and projection experts that disagree with config.json are format errors",
          "[pack]") {
  // Layer 0: parallel with two norms; 1: Mamba with x_proj_in, z_proj_in and out_proj
  // routed; 2: parallel with a shared norm and a routed out_proj.
  const ModelConfig config = named_shape("tiny-parallel-routed");
  const size_t d = config.d_model, di = config.layers[1].mamba.d_inner;
  const auto fixture = test::fixture_tensors(config);
  auto find = [](std::vector<FixtureTensor>& t, const std::string& name) -> FixtureTensor& {
    for (auto& x : t)
      if (x.name == name) return x;
    FAIL("no tensor " << name);
    return t.front();
  };
  auto reshape = [](FixtureTensor& t, std::vector<uint64_t> shape) {
    t.shape = std::move(shape);
    t.values.assign(t.shape[0] * t.shape[1], 0.5f);
    t.bytes = test::encode(t.values, t.dtype);
  };
  auto shape_text = [](uint64_t a, uint64_t b) { return "[" + std::to_string(a) + ", " + std::to_string(b) + "]"; };
  struct Case {
    std::string label;
    std::function<void(std::vector<FixtureTensor>&)> change;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"an out_proj expert transposed",
       [&](auto& t) { reshape(find(t, "layers.1.mamba.out_proj.experts.2.weight"), {di, d}); },
       "'layers.1.mamba.out_proj.experts.2.weight' has shape " + shape_text(di, d)},
      {"an x_proj_in expert as wide as the whole in_proj",
       [&](auto& t) { reshape(find(t, "layers.1.mamba.x_proj_in.experts.0.weight"), {2 * di, d}); },
       "'layers.1.mamba.x_proj_in.experts.0.weight' has shape " + shape_text(2 * di, d)},
      {"a router over the wrong width",
       [&](auto& t) { reshape(find(t, "layers.2.mamba.out_proj.router.weight"), {4, d}); },
       "'layers.2.mamba.out_proj.router.weight' has shape " + shape_text(4, d)},
      {"one expert fewer than n_experts",
       [](auto& t) {
         t.erase(std::remove_if(t.begin(), t.end(),
                                [](const FixtureTensor& x) { return x.name == "layers.1.mamba.z_proj_in.experts.3.weight"; }),
                 t.end());
       },
       "missing 1 tensor(s)"},
      {"a parallel layer without its moe part's tensors",
       [](auto& t) {
         t.erase(std::remove_if(t.begin(), t.end(), [](const FixtureTensor& x) { return x.name.rfind("layers.0.moe.", 0) == 0; }),
                 t.end());
       },
       "tensor(s) that"},
      {"a whole in_proj beside routed halves",
       [&](auto& t) {
         t.push_back(find(t, "layers.1.mamba.x_proj_in.experts.0.weight"));
         t.back().name = "layers.1.mamba.in_proj.weight";
         reshape(t.back(), {2 * di, d});
       },
       "1 tensor(s) that"},
      {"norm_moe in a layer whose norm is shared",
       [&](auto& t) {
         t.push_back(find(t, "layers.0.norm_moe.weight"));
         t.back().name = "layers.2.norm_moe.weight";
       },
       "1 tensor(s) that"},
  };
  for (const Case& c : cases) {
    INFO(c.label);
    TempDir dir;
    auto tensors = fixture;
    c.change(tensors);
    test::write_fixture(dir.path("model.safetensors"), tensors);
    test::write_text(dir.path("config.json"), native_config_json(config));
    auto [status, message] = load_failure(dir.dir());
    CHECK(status == MMB_ERR_FORMAT);
    CHECK_THAT(message, Catch::Contains(c.message));
  }
  // The unchanged fixture loads: the failures above are the changes'.
  TempDir dir;
  test::write_fixture(dir.path("model.safetensors"), fixture);
  test::write_text(dir.path("config.json"), native_config_json(config));
  CHECK(load_failure(dir.dir()).first == MMB_OK);
}
