// Writes the seed corpora of the fuzz targets from valid tiny bundles, states and
// texts: `fuzz_make_seeds DIR` fills DIR/<target>/ (tests/fuzz/corpus in the tree).
#include "fuzz_models.hpp"
#include "safetensors.hpp"

#include <nlohmann/json.hpp>
#include <utf8proc.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <tuple>

using namespace mmb::fuzz;
namespace fs = std::filesystem;

namespace {

void write_seed(const fs::path& dir, const std::string& name, const void* data, size_t size) {
  fs::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
  out.write(static_cast<const char*>(data), std::streamsize(size));
  if (!out) {
    std::fprintf(stderr, "cannot write %s\n", (dir / name).c_str());
    std::exit(1);
  }
}

void write_seed(const fs::path& dir, const std::string& name, const std::vector<std::byte>& bytes) {
  write_seed(dir, name, bytes.data(), bytes.size());
}

std::vector<std::byte> with_prefix(uint8_t prefix, const std::vector<std::byte>& bytes) {
  std::vector<std::byte> out{std::byte(prefix)};
  out.insert(out.end(), bytes.begin(), bytes.end());
  return out;
}

// GPT-2's byte-level alphabet: printable bytes stand for themselves, the other 68 for
// U+0100 onwards in byte order.
std::string byte_level_char(int b) {
  auto printable = [](int c) { return (c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF); };
  int cp = b;
  if (!printable(b)) {
    cp = 0x100;
    for (int o = 0; o < b; ++o) cp += printable(o) ? 0 : 1;
  }
  utf8proc_uint8_t buf[4];
  return std::string(reinterpret_cast<const char*>(buf), size_t(utf8proc_encode_char(cp, buf)));
}

// A small byte-level BPE tokenizer.json: 256 byte pieces, a few merges (both
// spellings), a special and an added token, and the given normalizer/pre-tokenizer.
std::string tokenizer_json(const nlohmann::json& normalizer, const nlohmann::json& pre_tokenizer,
                           const nlohmann::json& post_processor) {
  using nlohmann::json;
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_level_char(b)] = b;
  const std::string space = byte_level_char(' ');
  vocab[space + "h"] = 256;
  vocab["ll"] = 257;
  vocab[space + "he"] = 258;
  vocab["llo"] = 259;
  vocab["<|endoftext|>"] = 260;
  json doc = {{"version", "1.0"},
              {"added_tokens", json::array({{{"id", 260}, {"content", "<|endoftext|>"}, {"special", true}},
                                            {{"id", 261}, {"content", "  "}, {"special", false}}})},
              {"normalizer", normalizer},
              {"pre_tokenizer", pre_tokenizer},
              {"post_processor", post_processor},
              {"model", {{"type", "BPE"}, {"unk_token", nullptr}, {"byte_fallback", false}, {"vocab", vocab},
                         {"merges", json::array({space + " h", "l l", json::array({space + "h", "e"}), "ll o"})}}}};
  return doc.dump();
}

std::vector<uint8_t> state_after(mmb_model* model, const std::string& text, int32_t kv_type = MMB_KV_F16) {
  mmb_session_options options;
  if (mmb_session_options_init(&options, sizeof options) != MMB_OK) std::abort();
  options.kv_type = kv_type;
  mmb_session* s = nullptr;
  if (mmb_session_create(model, &options, &s) != MMB_OK) std::abort();
  SessionPtr session(s);
  for (char c : text) mmb_session_step(s, uint8_t(c), nullptr, 0);
  size_t size = 0;
  mmb_session_state_size(s, &size);
  std::vector<uint8_t> blob(size);
  if (mmb_session_state_save(s, blob.data(), blob.size(), &size) != MMB_OK) std::abort();
  return blob;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_make_seeds DIR\n");
    return 2;
  }
  const fs::path root = argv[1];
  const std::vector<std::byte> raw = tiny_bundle(false), zstd = tiny_bundle(true), bpe = bpe_bundle();
  const std::vector<std::byte> q8 = q8_bundle(false), q8_zstd = q8_bundle(true);
  const std::vector<std::byte> q4 = q4_bundle(false), q4_zstd = q4_bundle(true);
  const std::vector<std::byte> hybrid = hybrid_bundle();

  write_seed(root / "fuzz_bundle_memory", "tiny_raw.bin", raw);
  write_seed(root / "fuzz_bundle_memory", "tiny_zstd.bin", zstd);
  write_seed(root / "fuzz_bundle_memory", "bpe.bin", bpe);
  write_seed(root / "fuzz_bundle_memory", "q8_raw.bin", q8);
  write_seed(root / "fuzz_bundle_memory", "q4_raw.bin", q4);
  write_seed(root / "fuzz_bundle_memory", "hybrid.bin", hybrid);

  // First byte: 0 = whole reads, >= 128 = reads capped at (byte - 127) * 64 bytes.
  write_seed(root / "fuzz_bundle_io", "tiny_zstd_whole.bin", with_prefix(0, zstd));
  write_seed(root / "fuzz_bundle_io", "tiny_raw_chunked.bin", with_prefix(130, raw));
  write_seed(root / "fuzz_bundle_io", "q8_zstd_whole.bin", with_prefix(0, q8_zstd));
  write_seed(root / "fuzz_bundle_io", "q4_zstd_whole.bin", with_prefix(0, q4_zstd));
  write_seed(root / "fuzz_bundle_io", "hybrid_chunked.bin", with_prefix(131, hybrid));

  RuntimePtr runtime = single_thread_runtime();
  ModelPtr model = load_valid(runtime.get(), raw);
  for (const auto& [name, text] : {std::pair<std::string, std::string>{"fresh.state", ""},
                                   {"hello.state", "Hello, world"}}) {
    const std::vector<uint8_t> blob = state_after(model.get(), text);
    write_seed(root / "fuzz_state_load", name, blob.data(), blob.size());
  }
  // State format 1.1: the hybrid's floats and KV cache, empty, part of a page, and the
  // whole (one-page) context in f32.
  ModelPtr hybrid_model = load_valid(runtime.get(), hybrid);
  for (const auto& [name, text, kv_type] :
       {std::tuple<std::string, std::string, int32_t>{"hybrid_fresh.state", "", MMB_KV_F16},
        {"hybrid_hello.state", "Hello, world", MMB_KV_F16},
        {"hybrid_full_f32.state", std::string(kHybridContext, 'z'), MMB_KV_F32}}) {
    const std::vector<uint8_t> blob = state_after(hybrid_model.get(), text, kv_type);
    write_seed(root / "fuzz_state_load", name, blob.data(), blob.size());
  }

  const std::string texts[] = {"Hello world", "abcabc aa bc  the  <|endoftext|> thee",
                               "caf\xc3\xa9 \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x98\x80 123 'll",
                               std::string("\xff\xfe\xc3 a\0b\x80", 8)};
  for (size_t i = 0; i < std::size(texts); ++i)
    write_seed(root / "fuzz_tokenizer", "text" + std::to_string(i), texts[i].data(), texts[i].size());

  // tokenizer.json, optionally followed by a NUL and a tokenizer_config.json.
  {
    using nlohmann::json;
    const json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
    const std::string gpt2 = tokenizer_json(nullptr, byte_level, byte_level);
    write_seed(root / "fuzz_tokenizer_json", "gpt2_like.json", gpt2.data(), gpt2.size());
    const json template_bos = {{"type", "TemplateProcessing"},
                               {"single", json::array({{{"SpecialToken", {{"id", "<|endoftext|>"}, {"type_id", 0}}}},
                                                       {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})}};
    const std::string neox = tokenizer_json(
        {{"type", "NFC"}},
        {{"type", "Sequence"}, {"pretokenizers", json::array({{{"type", "ByteLevel"}, {"use_regex", false}}})}},
        {{"type", "Sequence"}, {"processors", json::array({template_bos})}});
    write_seed(root / "fuzz_tokenizer_json", "nfc_sequence.json", neox.data(), neox.size());
    const std::string config = json{{"bos_token", {{"content", "<|endoftext|>"}}}, {"eos_token", "<|endoftext|>"},
                                    {"pad_token", nullptr}, {"add_bos_token", true}}.dump();
    const std::string with_config = gpt2 + std::string(1, '\0') + config;
    write_seed(root / "fuzz_tokenizer_json", "with_config.json", with_config.data(), with_config.size());
  }

  // A safetensors file with every dtype pack reads, and metadata.
  const fs::path tmp = fs::temp_directory_path() / "mmb_fuzz_seed.safetensors";
  const std::vector<std::byte> values(48, std::byte(0x3c));
  mmb::write_safetensors(tmp.string(),
                         {{"embedding.weight", mmb::SafetensorsDType::F32, {2, 3}, std::span(values).first(24)},
                          {"norm.weight", mmb::SafetensorsDType::F16, {4}, std::span(values).first(8)},
                          {"head.weight", mmb::SafetensorsDType::BF16, {2, 2}, std::span(values).first(8)},
                          {"scale", mmb::SafetensorsDType::F64, {1}, std::span(values).first(8)}},
                         {{"format", "pt"}});
  {
    std::ifstream in(tmp, std::ios::binary);
    const std::string image((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    write_seed(root / "fuzz_safetensors", "four_dtypes.safetensors", image.data(), image.size());
  }
  fs::remove(tmp);

  // Op sequences (see fuzz_api_sequence.cpp): create two, step, prefill, save, fork,
  // load, flip a byte, load again, batch, reset, destroy.
  const std::vector<uint8_t> ops = {0x00, 0x10, 0x02, 'a', 1, 0x12, 'b', 1, 0x04, 5, 'h', 'e', 'l', 'l', 'o', 1, 1,
                                    0x05, 1, 0x88, 0x16, 0x07, 8, 0, 0, 0, 3, 0x06, 0x0a, 1, 'x', 1, 'y', 0x09,
                                    0x01, 0x02, 'z', 1};
  write_seed(root / "fuzz_api_sequence", "ops", ops.data(), ops.size());
  const std::vector<uint8_t> reload = {0x00, 0x04, 30, 'T', 'h', 'e', ' ', 'q', 'u', 'i', 'c', 'k', 0, 0,
                                       0x05, 1, 0x10, 0x16, 0x12, 'q', 1, 0x28, 0x38, 0x22, 250, 1, 0x31};
  write_seed(root / "fuzz_api_sequence", "reload", reload.data(), reload.size());

  // Grammars and schemas: the samples of tests/grammar, and a few small ones that reach
  // repeats, classes, escapes, recursion and the numeric and string bounds at once.
  for (const auto& [target, folder, extension] :
       {std::tuple<std::string, std::string, std::string>{"fuzz_grammar_gbnf", "gbnf", ".gbnf"},
        {"fuzz_json_schema", "schemas", ".json"}}) {
    for (const fs::directory_entry& entry : fs::directory_iterator(fs::path(MMB_GRAMMAR_SAMPLES_DIR) / folder)) {
      if (entry.path().extension() != extension) continue;
      std::ifstream in(entry.path(), std::ios::binary);
      const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      write_seed(root / target, entry.path().filename().string(), text.data(), text.size());
    }
  }
  const std::pair<std::string, std::string> gbnf[] = {
      {"repeats.gbnf", "root ::= (\"ab\" | [c-e]{2,3})+ x? \"!\"*\nx ::= [^\\n\\x00-\\x1f]{0,4} \"\\u00e9\\t\" # end\n"},
      {"nested.gbnf", "root ::= item (\",\" item){0,3}\nitem ::= \"(\" root? \")\" | [0-9]+ | . \n"},
      {"unicode_class.gbnf", "root ::= [\\u0100-\\u2000\\U0001F600-\\U0001F64F a-c]{1,2} \"\\x41\" \" th\"\n"}};
  for (const auto& [name, text] : gbnf) write_seed(root / "fuzz_grammar_gbnf", name, text.data(), text.size());
  const std::pair<std::string, std::string> schemas[] = {
      {"bounds.json", R"({"type":"object","properties":{"n":{"type":"integer","minimum":-5,"exclusiveMaximum":120},)"
                      R"("x":{"type":"number","exclusiveMinimum":0.5,"maximum":9.25},"s":{"type":"string","minLength":1,)"
                      R"("maxLength":3},"l":{"type":"array","items":{"enum":[1,"a",null,true]},"minItems":1,"maxItems":3},)"
                      R"("t":{"type":"array","prefixItems":[{"const":"k"},{"type":"boolean"}]}},"required":["n","s"],)"
                      R"("additionalProperties":false})"},
      {"ref_allof.json", R"({"$defs":{"node":{"type":"object","properties":{"v":{"type":["string","null"]},)"
                         R"("next":{"$ref":"#/$defs/node"}},"additionalProperties":false}},"allOf":[{"$ref":"#/$defs/node"}],)"
                         R"("definitions":{"u":{"oneOf":[{"type":"integer"},{"const":{"a":[1]}}]}}})"}};
  for (const auto& [name, text] : schemas) write_seed(root / "fuzz_json_schema", name, text.data(), text.size());
  std::printf("seeds written under %s\n", root.c_str());
  return 0;
}
