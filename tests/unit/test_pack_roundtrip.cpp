// pack -> bundle -> load: every tensor comes back with the checkpoint's values, for
// every dtype and codec and both dialects; the same input gives the same bytes; and
// the real `mmb pack` exits with one clear line either way.
#include <catch2/catch.hpp>

#include "base/error.hpp"
#include "base/tensor_values.hpp"
#include "native_config.hpp"
#include "pack.hpp"
#include "support/bundle_fixtures.hpp"
#include "support/checkpoint_fixture.hpp"
#include "support/config_checks.hpp"

#include <nlohmann/json.hpp>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

using namespace mmb;
using test::FixtureOptions;
using test::FixtureTensor;
using test::TempDir;

namespace {

// A checkpoint directory with the values its tensors hold, by file name.
struct Written {
  ModelConfig config;
  std::vector<FixtureTensor> tensors;
  std::function<std::string(const std::string&)> rename;
};

Written native_checkpoint(const std::string& dir, SafetensorsDType dtype, const std::string& shape = "tiny") {
  Written w{named_shape(shape), {}, [](const std::string& n) { return n; }};
  FixtureOptions o;
  o.dtype = dtype;
  w.tensors = test::fixture_tensors(w.config, o);
  test::write_fixture(dir + "/model.safetensors", w.tensors);
  test::write_text(dir + "/config.json", native_config_json(w.config));
  return w;
}

// Untied head, biases, vocab padded from 300 to 304 rows.
Written hf_checkpoint(const std::string& dir, SafetensorsDType dtype) {
  Written w;
  w.config.d_model = 16;
  w.config.vocab_size = 300;
  w.config.tie_embeddings = false;
  LayerConfig l;
  l.mamba = {32, 4, 4, 1, true, true, true};
  w.config.layers.assign(2, l);
  w.rename = test::hf_name;
  FixtureOptions o;
  o.dtype = dtype;
  o.padded_rows = 4;
  o.rename = w.rename;
  w.tensors = test::fixture_tensors(w.config, o);
  test::write_fixture(dir + "/model.safetensors", w.tensors);
  test::write_text(dir + "/config.json", R"({"model_type": "mamba", "hidden_size": 16, "num_hidden_layers": 2,
      "vocab_size": 300, "state_size": 4, "expand": 2, "conv_kernel": 4, "time_step_rank": "auto",
      "use_bias": true, "use_conv_bias": true, "tie_word_embeddings": false})");
  return w;
}

bool scan_parameter(const std::string& name) {
  for (std::string s : {".A_log", ".D", ".dt_proj.bias"})
    if (name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) return true;
  return false;
}

std::unique_ptr<LoadedBundle> load(const std::string& path) {
  test::LoadResult r = test::try_load(open_file_source(path));
  INFO(r.message);
  REQUIRE(r.status == MMB_OK);
  return std::move(r.bundle);
}

void check_bundle(const LoadedBundle& b, const Written& w, DType weights, Codec codec) {
  CHECK(b.config().d_model == w.config.d_model);
  CHECK(b.config().vocab_size == w.config.vocab_size);
  CHECK(b.config().layers.size() == w.config.layers.size());
  CHECK(b.config().tie_embeddings == w.config.tie_embeddings);
  const std::vector<TensorSpec> specs = tensor_specs(w.config);
  REQUIRE(b.tensors().size() == specs.size());
  bool any_coded = false;
  for (const TensorSpec& spec : specs) {
    INFO(spec.name);
    const TensorView* t = b.find(spec.name);
    REQUIRE(t);
    const FixtureTensor& f = test::fixture_find(w.tensors, w.rename(spec.name));
    CHECK(t->dtype == (scan_parameter(spec.name) ? DType::F32 : weights));
    CHECK(t->shape == f.shape);
    REQUIRE(t->raw_size == f.values.size() * (t->dtype == DType::F32 ? 4 : 2));
    // exact_values survive every dtype unchanged.
    CHECK(test::decode(t->data, f.values.size(), t->dtype) == f.values);
    CHECK((t->codec == codec || t->codec == Codec::None));
    any_coded = any_coded || t->codec == codec;
  }
  CHECK(any_coded);
}

std::string metadata_value(const LoadedBundle& b, const std::string& key) {
  for (const auto& [k, v] : b.metadata())
    if (k == key) return v;
  return "<absent>";
}

// GPT-2's printable form of a byte (its tokenizer.json spells pieces this way):
// printable bytes stand for themselves, the others map to U+0100 onwards in order.
std::string byte_level_piece(int byte) {
  int next = 256, code = 0;
  for (int b = 0; b <= byte; ++b) {
    const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
    code = printable ? b : next++;
  }
  std::string utf8;
  if (code < 0x80) {
    utf8 += char(code);
  } else {
    utf8 += char(0xc0 | (code >> 6));
    utf8 += char(0x80 | (code & 0x3f));
  }
  return utf8;
}

// A byte-level BPE tokenizer.json: the 256 bytes, " t" merged as id 256, and
// <|endoftext|> as special id 257.
std::string small_tokenizer_json() {
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_level_piece(b)] = b;
  vocab[byte_level_piece(' ') + "t"] = 256;
  nlohmann::json tokenizer = {
      {"version", "1.0"},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
      {"added_tokens", {{{"id", 257}, {"content", "<|endoftext|>"}, {"special", true}}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", {byte_level_piece(' ') + " t"}}}}};
  return tokenizer.dump();
}

struct CliResult {
  int code = -1;
  std::vector<std::string> out, err;  // lines
};

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

CliResult run_cli(const TempDir& dir, const std::string& args) {
  const std::string command = std::string(MMB_CLI_LAUNCHER) + MMB_CLI_PATH + " pack " + args + " >" + dir.path("stdout") +
                              " 2>" + dir.path("stderr");
  const int status = std::system(command.c_str());
  CliResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = lines_of(dir.path("stdout"));
  r.err = lines_of(dir.path("stderr"));
  return r;
}

}  // namespace

TEST_CASE("pack round trip: every dtype and codec, native and Hugging Face checkpoints", "[pack]") {
  for (bool hf : {false, true}) {
    for (SafetensorsDType source : {SafetensorsDType::F32, SafetensorsDType::BF16}) {
      TempDir dir;
      const Written w = hf ? hf_checkpoint(dir.dir(), source) : native_checkpoint(dir.dir(), source);
      for (DType weights : {DType::F32, DType::F16, DType::BF16}) {
        for (Codec codec : {Codec::None, Codec::Zstd, Codec::ShuffleZstd}) {
          INFO((hf ? "hf" : "native") << ", source " << safetensors_dtype_name(source) << ", " << dtype_name(weights)
                                      << ", codec " << int(codec));
          PackOptions o;
          o.dtype = weights;
          o.writer.codec = codec;
          o.writer.threads = 2;
          const PackSummary s = pack_checkpoint(dir.dir(), dir.path("out.mmb"), o);
          CHECK(s.dialect == (hf ? "hf-mamba" : "moemamba"));
          CHECK(s.tensors == tensor_specs(w.config).size());
          CHECK(s.tokenizer == "bytes");
          const auto b = load(dir.path("out.mmb"));
          check_bundle(*b, w, weights, codec);
          CHECK(s.bytes_out == b->file_size());
          CHECK(b->tokenizer().pieces.size() == 256);
          CHECK(metadata_value(*b, "source_format") == s.dialect);
        }
      }
      // No --dtype: the checkpoint's own.
      pack_checkpoint(dir.dir(), dir.path("own.mmb"), {});
      check_bundle(*load(dir.path("own.mmb")), w, source == SafetensorsDType::BF16 ? DType::BF16 : DType::F32, Codec::None);
    }
  }
}

TEST_CASE("pack round trip: parallel layers and routed projections from a native checkpoint", "[pack]") {
  TempDir dir;
  const Written w = native_checkpoint(dir.dir(), SafetensorsDType::F32, "tiny-parallel-routed");
  PackOptions o;
  o.writer.codec = Codec::Zstd;
  const PackSummary s = pack_checkpoint(dir.dir(), dir.path("out.mmb"), o);
  CHECK(s.dialect == "moemamba");
  CHECK(s.tensors == tensor_specs(w.config).size());
  const auto b = load(dir.path("out.mmb"));
  test::check_same_config(b->config(), w.config);
  check_bundle(*b, w, DType::F32, Codec::Zstd);
}

TEST_CASE("pack --dtype q8: matrices quantized within half a scale, routers and vectors f32", "[pack][q8]") {
  TempDir dir;
  Written w{named_shape("tiny"), {}, [](const std::string& n) { return n; }};
  FixtureOptions fo;
  fo.rough = true;  // full mantissas: nothing survives q8 exactly
  w.tensors = test::fixture_tensors(w.config, fo);
  test::write_fixture(dir.path("model.safetensors"), w.tensors);
  test::write_text(dir.path("config.json"), native_config_json(w.config));
  for (Codec codec : {Codec::None, Codec::ShuffleZstd}) {
    PackOptions o;
    o.dtype = DType::Q8;
    o.writer.codec = codec;
    const PackSummary s = pack_checkpoint(dir.dir(), dir.path("q8.mmb"), o);
    CHECK(s.dtypes == "f32+q8");
    const auto b = load(dir.path("q8.mmb"));
    size_t quantized = 0;
    for (const TensorSpec& spec : tensor_specs(w.config)) {
      INFO(spec.name);
      const TensorView& t = *b->find(spec.name);
      const FixtureTensor& f = test::fixture_find(w.tensors, spec.name);
      const bool router = spec.name.find(".router.") != std::string::npos;
      const bool matrix = spec.shape.size() == 2 && !scan_parameter(spec.name);
      REQUIRE(t.dtype == (matrix && !router ? DType::Q8 : DType::F32));
      if (t.dtype != DType::Q8) {
        CHECK(test::decode(t.data, f.values.size(), t.dtype) == f.values);
        continue;
      }
      ++quantized;
      // Group by group: the largest |value| / 127 is an upper bound of scale / 1.001
      // (scales are f16, rounded up), and no value is further than half a scale away.
      const uint64_t rows = t.shape[0], cols = t.shape[1];
      const std::vector<float> got = decode_values({t.data, size_t(t.raw_size)}, t.dtype, t.shape);
      for (uint64_t r = 0; r < rows; ++r)
        for (uint64_t c0 = 0; c0 < cols; c0 += 32) {
          double max_abs = 0;
          for (uint64_t c = c0; c < std::min(cols, c0 + 32); ++c) max_abs = std::max(max_abs, std::abs(double(f.values[r * cols + c])));
          const double half_scale = max_abs / 127.0 * 1.001 / 2 + 1e-30;
          for (uint64_t c = c0; c < std::min(cols, c0 + 32); ++c)
            if (std::abs(double(got[r * cols + c]) - f.values[r * cols + c]) > half_scale)
              FAIL_CHECK("[" << r << ", " << c << "]: " << got[r * cols + c] << " for " << f.values[r * cols + c]);
        }
    }
    CHECK(quantized > 10);
  }

  // A bundle packs too: the f32 bundle made q8 is the q8 bundle packed from the checkpoint, byte for byte.
  pack_checkpoint(dir.dir(), dir.path("f32.mmb"), {});
  PackOptions o;
  o.dtype = DType::Q8;
  const PackSummary s = pack_checkpoint(dir.path("f32.mmb"), dir.path("requant.mmb"), o);
  CHECK(s.dialect == "mmb");
  CHECK(s.tokenizer == "the bundle's");
  pack_checkpoint(dir.dir(), dir.path("direct.mmb"), o);
  CHECK(test::read_file(dir.path("requant.mmb")) == test::read_file(dir.path("direct.mmb")));
  // ...and back: q8 to f32 gives the dequantized values.
  o.dtype = DType::F32;
  pack_checkpoint(dir.path("direct.mmb"), dir.path("wide.mmb"), o);
  const auto q = load(dir.path("direct.mmb")), wide = load(dir.path("wide.mmb"));
  const TensorView& qt = *q->find("layers.0.mamba.dt_proj.weight");
  const TensorView& wt = *wide->find("layers.0.mamba.dt_proj.weight");
  CHECK(wt.dtype == DType::F32);
  CHECK(test::decode(wt.data, qt.shape[0] * qt.shape[1], DType::F32) ==
        decode_values({qt.data, size_t(qt.raw_size)}, DType::Q8, qt.shape));

  // A weight q8 cannot hold is refused, naming the file and tensor.
  for (FixtureTensor& t : w.tensors)
    if (t.name == "layers.0.mamba.x_proj.weight") {
      t.values[7] = std::nanf("");
      t.bytes = test::encode(t.values, t.dtype);
    }
  test::write_fixture(dir.path("model.safetensors"), w.tensors);
  o.dtype = DType::Q8;
  try {
    pack_checkpoint(dir.dir(), dir.path("nan.mmb"), o);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.status() == MMB_ERR_UNSUPPORTED);
    CHECK_THAT(e.what(), Catch::Contains("model.safetensors: layers.0.mamba.x_proj.weight: value nan at index 7 cannot be stored as q8"));
  }
}

TEST_CASE("pack: the same checkpoint gives the same bundle bytes for any thread count", "[pack]") {
  TempDir dir;
  hf_checkpoint(dir.dir(), SafetensorsDType::F32);
  PackOptions o;
  o.dtype = DType::BF16;
  o.writer.codec = Codec::ShuffleZstd;
  o.metadata = {{"name", "det"}};
  o.writer.threads = 1;
  pack_checkpoint(dir.dir(), dir.path("a.mmb"), o);
  o.writer.threads = 3;
  pack_checkpoint(dir.dir(), dir.path("b.mmb"), o);
  const auto a = test::read_file(dir.path("a.mmb")), b = test::read_file(dir.path("b.mmb"));
  CHECK(a.size() > 4096);
  CHECK(a == b);
}

TEST_CASE("pack: metadata from the config and the options, later keys replacing earlier", "[pack]") {
  TempDir dir;
  const Written w = native_checkpoint(dir.dir(), SafetensorsDType::F32);
  const std::string text = native_config_json(w.config);
  test::write_text(dir.path("config.json"), text.substr(0, text.rfind('}')) + R"(, "metadata": {"name": "tiny", "license": "MIT"}})");
  PackOptions o;
  o.metadata = {{"license", "Apache-2.0"}, {"notes", "packed in a test"}};
  pack_checkpoint(dir.dir(), dir.path("out.mmb"), o);
  const auto b = load(dir.path("out.mmb"));
  CHECK(metadata_value(*b, "source_format") == "moemamba");
  CHECK(metadata_value(*b, "name") == "tiny");
  CHECK(metadata_value(*b, "license") == "Apache-2.0");
  CHECK(metadata_value(*b, "notes") == "packed in a test");
  CHECK(b->metadata().size() == 4);
}

TEST_CASE("pack: a vocabulary smaller than the byte tokenizer needs a tokenizer.json", "[pack]") {
  TempDir dir;
  Written w = native_checkpoint(dir.dir(), SafetensorsDType::F32);
  w.config.vocab_size = 200;
  FixtureOptions o;
  w.tensors = test::fixture_tensors(w.config, o);
  test::write_fixture(dir.path("model.safetensors"), w.tensors);
  test::write_text(dir.path("config.json"), native_config_json(w.config));
  try {
    pack_checkpoint(dir.dir(), dir.path("out.mmb"), {});
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.status() == MMB_ERR_FORMAT);
    CHECK_THAT(e.what(), Catch::Contains("byte tokenizer has 256 tokens, more than the model's vocab_size of 200"));
  }
  CHECK_FALSE(std::ifstream(dir.path("out.mmb")).good());
}

TEST_CASE("pack: tokenizer.json beside config.json, or given, with its tokenizer_config.json", "[pack]") {
  TempDir dir;
  hf_checkpoint(dir.dir(), SafetensorsDType::F32);
  test::write_text(dir.path("tokenizer.json"), small_tokenizer_json());
  const PackSummary s = pack_checkpoint(dir.dir(), dir.path("out.mmb"), {});
  CHECK(s.tokenizer == dir.path("tokenizer.json"));
  {
    const auto b = load(dir.path("out.mmb"));
    const TokenizerData& t = b->tokenizer();
    CHECK(t.kind == TokenizerKind::ByteBPE);
    REQUIRE(t.pieces.size() == 258);
    CHECK(t.pieces[' '] == " ");
    CHECK(t.pieces[256] == " t");
    CHECK(t.merges == std::vector<std::pair<int32_t, int32_t>>{{' ', 't'}});
    CHECK(t.eos_id == 257);
    CHECK(t.pad_id == -1);
  }

  // Given explicitly, from elsewhere, with a tokenizer_config.json beside it.
  TempDir other;
  test::write_text(other.path("tok.json"), small_tokenizer_json());
  test::write_text(other.path("tokenizer_config.json"), R"({"pad_token": "<|endoftext|>", "add_bos_token": false})");
  PackOptions o;
  o.tokenizer_path = other.path("tok.json");
  CHECK(pack_checkpoint(dir.dir(), dir.path("out.mmb"), o).tokenizer == other.path("tok.json"));
  CHECK(load(dir.path("out.mmb"))->tokenizer().pad_id == 257);

  auto failure = [&](const PackOptions& options) -> std::pair<mmb_status, std::string> {
    try {
      pack_checkpoint(dir.dir(), dir.path("bad.mmb"), options);
    } catch (const Error& e) {
      return {e.status(), e.what()};
    }
    return {MMB_OK, ""};
  };
  test::write_text(other.path("tokenizer_config.json"), R"({"pad_token": "<none>"})");
  auto bad_config = failure(o);
  CHECK(bad_config.first == MMB_ERR_FORMAT);
  CHECK_THAT(bad_config.second, Catch::StartsWith(other.path("tokenizer_config.json") + ": "));
  test::write_text(other.path("tok.json"), R"({"model": {"type": "Unigram", "vocab": []}})");
  auto bad_json = failure(o);
  CHECK(bad_json.first == MMB_ERR_FORMAT);
  CHECK_THAT(bad_json.second, Catch::StartsWith(other.path("tok.json") + ": "));
  o.tokenizer_path = other.path("absent.json");
  CHECK(failure(o).first == MMB_ERR_IO);

  // More tokens than the model has rows for.
  TempDir native;
  native_checkpoint(native.dir(), SafetensorsDType::F32);
  test::write_text(native.path("tokenizer.json"), small_tokenizer_json());
  try {
    pack_checkpoint(native.dir(), native.path("out.mmb"), {});
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.status() == MMB_ERR_FORMAT);
    CHECK_THAT(e.what(), Catch::Contains("has 258 tokens, more than the model's vocab_size of 256"));
  }
}

TEST_CASE("mmb pack CLI: one summary line, or one error line and a non-zero exit", "[pack]") {
  TempDir dir;
  hf_checkpoint(dir.dir(), SafetensorsDType::F32);
  const std::string out = dir.path("cli.mmb");

  CliResult ok = run_cli(dir, dir.dir() + " -o " + out + " --dtype bf16 --codec=shuffle-zstd --level 5 --threads 2 --meta name=cli");
  CHECK(ok.code == 0);
  REQUIRE(ok.out.size() == 1);
  CHECK_THAT(ok.out[0], Catch::StartsWith("packed " + out + " (hf-mamba, f32+bf16, tokenizer bytes): 27 tensors"));
  CHECK(ok.err.empty());
  CHECK(metadata_value(*load(out), "name") == "cli");

  CliResult help = run_cli(dir, "--help");
  CHECK(help.code == 0);
  CHECK_THAT(help.out.at(0), Catch::StartsWith("usage: mmb pack INPUT -o OUT.mmb"));

  test::write_text(dir.path("config.json"), R"({"model_type": "mamba", "hidden_size": "16"})");
  struct Case {
    std::string args;
    const char* message;
  };
  const std::vector<Case> cases = {
      {dir.dir() + " -o " + dir.path("bad.mmb"), "mmb pack: MMB_ERR_FORMAT: " },
      {dir.dir(), "mmb pack: MMB_ERR_INVALID_ARGUMENT: no output given"},
      {"-o " + dir.path("bad.mmb"), "mmb pack: MMB_ERR_INVALID_ARGUMENT: no INPUT given"},
      {dir.dir() + " -o " + dir.path("bad.mmb") + " --codec lz4", "--codec takes none, zstd or shuffle-zstd, not 'lz4'"},
      {dir.dir() + " -o " + dir.path("bad.mmb") + " --threads 0", "--threads takes an integer in [1, 1024], not '0'"},
      {dir.dir() + " -o " + dir.path("bad.mmb") + " --frobnicate", "unknown option '--frobnicate'"},
      {dir.path("nothing-here") + " -o " + dir.path("bad.mmb"), "mmb pack: MMB_ERR_IO: "},
  };
  for (const Case& c : cases) {
    INFO(c.args);
    CliResult r = run_cli(dir, c.args);
    CHECK(r.code != 0);
    CHECK(r.out.empty());
    REQUIRE(r.err.size() == 1);
    CHECK_THAT(r.err[0], Catch::Contains(c.message));
  }
  CHECK_THAT(run_cli(dir, cases[0].args).err.at(0), Catch::Contains("config.json.hidden_size: expected an integer"));
  CHECK_FALSE(std::ifstream(dir.path("bad.mmb")).good());
}

TEST_CASE("pack: special_tokens_map, tokenizer_config and generation_config beside tokenizer.json", "[pack]") {
  TempDir dir;
  hf_checkpoint(dir.dir(), SafetensorsDType::F32);
  test::write_text(dir.path("tokenizer.json"), small_tokenizer_json());
  test::write_text(dir.path("special_tokens_map.json"), R"({"pad_token": {"content": "<|endoftext|>"}})");
  test::write_text(dir.path("tokenizer_config.json"), R"({"eos_token": "<|endoftext|>", "add_eos_token": true,
      "chat_template": [{"name": "default", "template": "{{ x }}"}, {"name": "rag", "template": "{{ y }}"}]})");
  test::write_text(dir.path("generation_config.json"), R"({"eos_token_id": [257, 256]})");
  const PackSummary s = pack_checkpoint(dir.dir(), dir.path("out.mmb"), {});
  CHECK(s.tokenizer == dir.path("tokenizer.json"));
  CHECK(s.tokenizer_found ==
        " + special_tokens_map.json + tokenizer_config.json + generation_config.json: byte-level BPE, 258 tokens, 2 chat templates, 1 stop id");
  const auto b = load(dir.path("out.mmb"));
  const TokenizerData& t = b->tokenizer();
  CHECK(t.pad_id == 257);
  CHECK(t.eos_id == 257);
  CHECK(t.post_suffix == std::vector<int32_t>{257});
  CHECK(t.stop_ids == std::vector<int32_t>{256});
  REQUIRE(t.chat_templates.size() == 2);
  CHECK(t.chat_templates[1].name == "rag");
  CHECK(t.chat_templates[1].text == "{{ y }}");

  test::write_text(dir.path("generation_config.json"), R"({"eos_token_id": [257, 999]})");
  try {
    pack_checkpoint(dir.dir(), dir.path("bad.mmb"), {});
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.status() == MMB_ERR_FORMAT);
    CHECK_THAT(e.what(), Catch::StartsWith(dir.path("generation_config.json") + ": eos_token_id 999 is outside"));
  }
}
