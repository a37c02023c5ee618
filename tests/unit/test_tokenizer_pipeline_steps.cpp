// Our normalizer and pre-tokenizer steps against the reference they must agree with:
// tokenizers.js (npm @huggingface/tokenizers, run under node) gives, for the same
// tokenizer.json objects, the same normalized text and the same pieces on varied
// text (many scripts, emoji, combining marks, whitespace runs) and on hand-picked
// edge cases. Where we follow Hugging Face's Rust library instead, the reference is
// corrected (pipeline_steps.js: Digits splits at Unicode numbers, Whitespace uses
// Unicode \w and \s) or the behaviour is checked by hand below (Split's merged
// behaviours, Metaspace's split, Digits after ByteLevel).
#include <catch2/catch.hpp>

#include "support/pipeline_step_json.hpp"
#include "support/text_corpus.hpp"
#include "support/tokenizer_reference.hpp"
#include "tokenizer/normalizer.hpp"
#include "tokenizer/pre_tokenizer.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

using namespace mmb;
using nlohmann::json;

namespace {

std::string to_hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

std::string from_hex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(char(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

std::string printable(const std::string& text) {
  return json(text.substr(0, 200)).dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string package_dir() { return std::string(MMB_DEPS_DIR) + "/npm/node_modules/@huggingface/tokenizers"; }

// Texts for every case: the varied corpus cut into short documents (so that edge
// cases at starts and ends come often), plus hand-picked ones.
std::vector<std::string> test_texts() {
  std::vector<std::string> texts = {
      " ", "  leading and trailing  ", "\t\n\r\x0B\x0C mixed \xC2\xA0 spaces \xE3\x80\x80 ",
      "\xEF\xBB\xBF" "bom \xC2\x85 nel \xE2\x80\xA8 ls",       // U+FEFF, U+0085, U+2028
      "\xCE\x9F\xCE\x94\xCE\x9F\xCE\xA3 \xCE\xA3 \xCE\xA3\xCE\x91 A\xCE\xA3'",  // ΟΔΟΣ Σ ΣΑ AΣ'
      "\xC4\xB0stanbul \xC5\xBF K \xE2\x84\xAA",               // İstanbul, long s, Kelvin sign
      "it's IT'S we'LL they'D \xC5\xBF's '\xC5\xBF '\xE2\x84\xAA 'K",  // contractions, cased, long s, Kelvin
      "1234567 \xD9\xA1\xD9\xA2\xD9\xA3 \xC2\xB2\xC2\xBD \xE2\x85\xA0",  // digits, Arabic-Indic, ², ½, Ⅰ
      "caf\x65\xCC\x81 \xEF\xAC\x81 \xE2\x91\xA0 \xEF\xBC\xA1",  // e + combining acute, fi ligature, ①, Ａ
      "line\r\n\r\nnext\n\n\n  indented\n",
      "a,b;c...d!?\xE2\x80\x94" "e\xE3\x80\x82" "f\xC2\xBF" "g$+<=>^`|~",
      "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9 emoji \xF0\x9F\x98\x80\xF0\x9F\x98\x80",
      "snake_case camelCase __init__ x1y2",
  };
  for (const std::string& doc : test::varied_corpus(256 << 10, 4242)) {
    for (size_t at = 0; at < doc.size();) {
      size_t end = std::min(doc.size(), at + 700);
      while (end < doc.size() && (uint8_t(doc[end]) & 0xC0) == 0x80) ++end;  // whole characters
      texts.push_back(doc.substr(at, end - at));
      at = end;
    }
  }
  return texts;
}

struct Case {
  json config;
  int section_index = 0;
};

// Runs every case through the reference: per case, per text, its output.
json reference_outputs(const char* key, const std::vector<Case>& cases, const std::vector<std::string>& texts) {
  std::vector<std::string> hex;
  for (const std::string& t : texts) hex.push_back(to_hex(t));
  json input = json::array();
  for (const Case& c : cases) input.push_back({{key, c.config}, {"texts", hex}, {"section_index", c.section_index}});
  test::ScratchDir scratch("pipeline_steps");
  const std::string in = scratch.path("cases.json"), out = scratch.path("out.json");
  test::write_bytes(in, input.dump());
  test::run_node_script("pipeline_steps.js", {package_dir(), in, out});
  return json::parse(test::read_bytes(out));
}

const char* kLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* kCl100k =
    R"('(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+)";
const char* kQwen2 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* kO200k =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* kGpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

json split_regex(const char* pattern, const char* behavior = "Isolated", bool invert = false) {
  return {{"type", "Split"}, {"pattern", {{"Regex", pattern}}}, {"behavior", behavior}, {"invert", invert}};
}
json byte_level(bool add_prefix_space, bool use_regex) {
  return {{"type", "ByteLevel"}, {"add_prefix_space", add_prefix_space}, {"trim_offsets", true}, {"use_regex", use_regex}};
}
json sequence(const char* list_key, std::vector<json> items) {
  return {{"type", "Sequence"}, {list_key, items}};
}

std::vector<std::string> our_pieces(const PreTokenizerChain& chain, const std::string& text, bool at_input_start) {
  std::vector<std::string> pieces;
  chain.split(text, at_input_start, [&](std::string_view p) { pieces.emplace_back(p); });
  return pieces;
}

}  // namespace

TEST_CASE("normalizer steps give tokenizers.js's text", "[tokenizer]") {
  const std::vector<std::string> texts = test_texts();
  const std::vector<Case> cases = {
      {json::parse(R"({"type":"NFC"})")},
      {json::parse(R"({"type":"NFD"})")},
      {json::parse(R"({"type":"NFKC"})")},
      {json::parse(R"({"type":"NFKD"})")},
      {json::parse(R"({"type":"Lowercase"})")},
      {json::parse(R"({"type":"Replace","pattern":{"String":" "},"content":"▁"})")},
      {json::parse(R"({"type":"Replace","pattern":{"String":"ab"},"content":""})")},
      {json::parse(R"({"type":"Replace","pattern":{"Regex":" {2,}"},"content":" "})")},
      {json::parse(R"({"type":"Replace","pattern":{"Regex":"\\s+"},"content":"_"})")},
      {json::parse(R"({"type":"Replace","pattern":{"Regex":"\\d"},"content":"#"})")},
      {json::parse(R"({"type":"Prepend","prepend":"▁"})")},
      {json::parse(R"({"type":"Strip","strip_left":true,"strip_right":false})")},
      {json::parse(R"({"type":"Strip","strip_left":false,"strip_right":true})")},
      {json::parse(R"({"type":"Strip","strip_left":true,"strip_right":true})")},
      // Llama-2 / Mistral (legacy): prefix then spaces to U+2581.
      {json::parse(R"({"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"▁"},
                       {"type":"Replace","pattern":{"String":" "},"content":"▁"}]})")},
      {json::parse(R"({"type":"Sequence","normalizers":[{"type":"NFKC"},{"type":"Lowercase"},
                       {"type":"Strip","strip_left":true,"strip_right":true}]})")},
  };
  const json expected = reference_outputs("normalizer", cases, texts);
  REQUIRE(expected.size() == cases.size());
  size_t compared = 0;
  for (size_t k = 0; k < cases.size(); ++k) {
    NormalizerChain chain(test::normalizer_steps_from_json(cases[k].config), Normalizer::None);
    size_t mismatches = 0;
    std::string ours;
    for (size_t i = 0; i < texts.size(); ++i) {
      chain.apply(texts[i], ours);
      const std::string reference = from_hex(expected[k][i].get<std::string>());
      ++compared;
      if (ours == reference) continue;
      if (++mismatches > 3) continue;
      FAIL_CHECK(cases[k].config.dump() << " on " << printable(texts[i]) << ": ours " << printable(ours) << ", reference "
                                        << printable(reference));
    }
  }
  std::printf("normalizer steps: %zu cases x %zu texts compared with tokenizers.js\n", cases.size(), texts.size());
  CHECK(compared == cases.size() * texts.size());
}

TEST_CASE("pre-tokenizer steps give tokenizers.js's pieces", "[tokenizer]") {
  const std::vector<std::string> texts = test_texts();
  const std::vector<Case> cases = {
      {byte_level(false, true)},
      {byte_level(true, true)},
      {byte_level(true, false)},
      // Llama-3, cl100k (possessive quantifiers), Qwen2, o200k, GPT-2 as a Split.
      {sequence("pretokenizers", {split_regex(kLlama3), byte_level(false, false)})},
      {sequence("pretokenizers", {split_regex(kCl100k), byte_level(false, false)})},
      {sequence("pretokenizers", {split_regex(kQwen2), byte_level(false, false)})},
      {sequence("pretokenizers", {split_regex(kO200k), byte_level(false, false)})},
      {split_regex(kGpt2)},
      // DeepSeek-style digit split, then the rest.
      {sequence("pretokenizers", {split_regex(R"(\p{N}{1,3})"), split_regex(R"([一-龥\u3040-ゟ゠-ヿ]+)"), byte_level(false, true)})},
      {split_regex(R"(\s+)", "Removed")},
      {split_regex(R"(\w+|[^\w\s]+)", "Removed", true)},
      {split_regex(R"([^(\s|[.,!?…。，、।۔،])]+)", "Isolated")},  // Bloom's class
      {json::parse(R"({"type":"Split","pattern":{"String":"\n"},"behavior":"Isolated","invert":false})")},
      {json::parse(R"({"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":false})")},
      {json::parse(R"({"type":"Metaspace","replacement":"▁","prepend_scheme":"never","split":false})")},
      {json::parse(R"({"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":false})"), 0},
      {json::parse(R"({"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":false})"), 1},
      {json::parse(R"({"type":"Digits","individual_digits":true})")},
      {json::parse(R"({"type":"Digits","individual_digits":false})")},
      {json::parse(R"({"type":"Punctuation","behavior":"Contiguous"})")},
      {json::parse(R"({"type":"Whitespace"})")},
      {json::parse(R"({"type":"WhitespaceSplit"})")},
      {sequence("pretokenizers", {json::parse(R"({"type":"WhitespaceSplit"})"),
                                  json::parse(R"({"type":"Digits","individual_digits":true})"),
                                  byte_level(true, false)})},
      // Steps after ByteLevel see the byte-level alphabet (Falcon: Punctuation, ByteLevel,
      // Digits).
      {sequence("pretokenizers", {json::parse(R"({"type":"Punctuation","behavior":"Contiguous"})"), byte_level(false, true),
                                  json::parse(R"({"type":"Digits","individual_digits":false})")})},
      {sequence("pretokenizers", {byte_level(false, false), json::parse(R"({"type":"Digits","individual_digits":true})")})},
      {sequence("pretokenizers", {byte_level(false, false), json::parse(R"({"type":"Whitespace"})")})},
      {sequence("pretokenizers", {byte_level(false, true), json::parse(R"({"type":"Punctuation","behavior":"Contiguous"})")})},
  };
  const json expected = reference_outputs("pre_tokenizer", cases, texts);
  REQUIRE(expected.size() == cases.size());
  size_t pieces = 0;
  for (size_t k = 0; k < cases.size(); ++k) {
    PreTokenizerChain chain(test::pre_tokenizer_steps_from_json(cases[k].config), PreTokenizer::None);
    size_t mismatches = 0;
    for (size_t i = 0; i < texts.size(); ++i) {
      const std::vector<std::string> ours = our_pieces(chain, texts[i], cases[k].section_index == 0);
      std::vector<std::string> reference;
      for (const json& p : expected[k][i]) reference.push_back(from_hex(p.get<std::string>()));
      pieces += reference.size();
      if (ours == reference) continue;
      if (++mismatches > 3) continue;
      size_t at = 0;
      while (at < ours.size() && at < reference.size() && ours[at] == reference[at]) ++at;
      FAIL_CHECK(cases[k].config.dump() << " on " << printable(texts[i]) << ": first difference at piece " << at << ": ours "
                                        << (at < ours.size() ? printable(ours[at]) : "(none)") << ", reference "
                                        << (at < reference.size() ? printable(reference[at]) : "(none)"));
    }
  }
  std::printf("pre-tokenizer steps: %zu cases x %zu texts, %zu pieces compared with tokenizers.js\n", cases.size(),
              texts.size(), pieces);
}

// Digits as in the Rust crate (char::is_numeric), checked by hand: Unicode numbers
// split before ByteLevel; after it, each byte is the byte-level alphabet's character,
// so the second byte of "²" (C2 B2) and of "в" (D0 B2) is the number '²'. ASCII digits
// would keep " ²" and " в" whole.
TEST_CASE("Digits splits at Unicode numbers, after ByteLevel at the byte-level alphabet's", "[tokenizer]") {
  using V = std::vector<std::string>;
  PreTokenizerStep digits;
  digits.kind = PreTokenizerKind::Digits;
  PreTokenizerChain runs({digits}, PreTokenizer::None);
  CHECK(our_pieces(runs, "x \xC2\xB2 y", true) == V{"x ", "\xC2\xB2", " y"});
  CHECK(our_pieces(runs, "a\xD9\xA3\xD9\xA4" "b", true) == V{"a", "\xD9\xA3\xD9\xA4", "b"});  // a٣٤b
  CHECK(our_pieces(runs, "\xE2\x85\xA0 \xC2\xBD", true) == V{"\xE2\x85\xA0", " ", "\xC2\xBD"});  // Ⅰ (Nl), ½ (No)
  digits.individual_digits = true;
  PreTokenizerChain single({digits}, PreTokenizer::None);
  CHECK(our_pieces(single, "a\xD9\xA3\xD9\xA4" "b", true) == V{"a", "\xD9\xA3", "\xD9\xA4", "b"});

  PreTokenizerStep byte_level;
  byte_level.kind = PreTokenizerKind::ByteLevel;
  byte_level.add_prefix_space = false;
  byte_level.use_regex = true;
  digits.individual_digits = false;
  PreTokenizerChain falcon({byte_level, digits}, PreTokenizer::None);
  CHECK(our_pieces(falcon, "x \xC2\xB2 y", true) == V{"x", " \xC2", "\xB2", " y"});
  CHECK(our_pieces(falcon, "x \xD0\xB2", true) == V{"x", " \xD0", "\xB2"});  // " в"
  CHECK(our_pieces(falcon, "a\xD9\xA3" "1", true) == V{"a", "\xD9\xA3", "1"});  // ٣ is D9 A3: no alphabet number
  CHECK(our_pieces(falcon, "\xD0\xB9\xD0\xBC", true) == V{"\xD0", "\xB9", "\xD0", "\xBC"});  // йм: ¹ and ¼
}

// Whitespace as in the Rust crate: its regex crate's Unicode \w and \s.
TEST_CASE("Whitespace keeps Unicode words and drops White_Space", "[tokenizer]") {
  using V = std::vector<std::string>;
  PreTokenizerStep whitespace;
  whitespace.kind = PreTokenizerKind::Whitespace;
  PreTokenizerChain chain({whitespace}, PreTokenizer::None);
  CHECK(our_pieces(chain, "na\xC3\xAFve caf\xC3\xA9, \xE6\x97\xA5\xE6\x9C\xAC!", true) ==
        V{"na\xC3\xAFve", "caf\xC3\xA9", ",", "\xE6\x97\xA5\xE6\x9C\xAC", "!"});  // naïve café, 日本!
  CHECK(our_pieces(chain, "a\xC2\x85" "b a\xEF\xBB\xBF" "b", true) ==
        V{"a", "b", "a", "\xEF\xBB\xBF", "b"});  // U+0085 is White_Space, U+FEFF neither \w nor \s
  CHECK(our_pieces(chain, "e\xCC\x81\xE2\x80\x8D_\xD9\xA3 \xE2\x92\xB6x \xC2\xB2", true) ==
        V{"e\xCC\x81\xE2\x80\x8D_\xD9\xA3", "\xE2\x92\xB6x", "\xC2\xB2"});  // mark, ZWJ, _, ٣; Ⓐ is Alphabetic; ² is not \w
}

TEST_CASE("Split behaviours cut as Hugging Face's tokenizers does", "[tokenizer]") {
  auto pieces = [](SplitBehavior behavior, bool invert, const std::string& text) {
    PreTokenizerStep s;
    s.kind = PreTokenizerKind::Split;
    s.pattern = "-";
    s.behavior = behavior;
    s.invert = invert;
    return our_pieces(PreTokenizerChain({s}, PreTokenizer::None), text, true);
  };
  using V = std::vector<std::string>;
  const std::string text = "the-final--countdown-";
  CHECK(pieces(SplitBehavior::Removed, false, text) == V{"the", "final", "countdown"});
  CHECK(pieces(SplitBehavior::Isolated, false, text) == V{"the", "-", "final", "-", "-", "countdown", "-"});
  CHECK(pieces(SplitBehavior::MergedWithPrevious, false, text) == V{"the-", "final-", "-", "countdown-"});
  CHECK(pieces(SplitBehavior::MergedWithNext, false, text) == V{"the", "-final", "-", "-countdown", "-"});
  CHECK(pieces(SplitBehavior::Contiguous, false, text) == V{"the", "-", "final", "--", "countdown", "-"});
  // invert: the pattern marks what to keep; the rest is the delimiter.
  CHECK(pieces(SplitBehavior::Removed, true, text) == V{"-", "-", "-", "-"});
  CHECK(pieces(SplitBehavior::Isolated, true, "-a") == V{"-", "a"});
}

TEST_CASE("Metaspace with split starts a piece at each replacement character", "[tokenizer]") {
  PreTokenizerStep s;
  s.kind = PreTokenizerKind::Metaspace;
  s.split = true;
  PreTokenizerChain chain({s}, PreTokenizer::None);
  using V = std::vector<std::string>;
  CHECK(our_pieces(chain, "Hey friend!", true) == V{"\xE2\x96\x81Hey", "\xE2\x96\x81" "friend!"});
  CHECK(our_pieces(chain, "a  b", true) == V{"\xE2\x96\x81" "a", "\xE2\x96\x81", "\xE2\x96\x81" "b"});
  s.prepend_scheme = PrependScheme::First;
  PreTokenizerChain first({s}, PreTokenizer::None);
  CHECK(our_pieces(first, "a b", false) == V{"a", "\xE2\x96\x81" "b"});
  CHECK(our_pieces(first, "a b", true) == V{"\xE2\x96\x81" "a", "\xE2\x96\x81" "b"});
}

TEST_CASE("pipeline steps fall back to the legacy single step and keep invalid UTF-8", "[tokenizer]") {
  using V = std::vector<std::string>;
  PreTokenizerChain none({}, PreTokenizer::None);
  CHECK(our_pieces(none, "Hello world", true) == V{"Hello world"});
  CHECK(our_pieces(none, "", true).empty());
  PreTokenizerChain gpt2({}, PreTokenizer::GPT2);
  CHECK(our_pieces(gpt2, "Hello world's 123", true) == V{"Hello", " world", "'s", " 123"});

  NormalizerChain plain({}, Normalizer::None);
  CHECK(plain.empty());
  NormalizerChain nfc({}, Normalizer::NFC);
  CHECK_FALSE(nfc.empty());
  std::string out;
  nfc.apply("e\xCC\x81\xFF", out);
  CHECK(out == "\xC3\xA9\xFF");

  // Every step over random bytes: nothing crashes, pieces cover the bytes where the
  // step only cuts.
  const std::string noise = test::random_bytes(1 << 14, 99);
  std::vector<PreTokenizerStep> steps(1);
  steps[0].kind = PreTokenizerKind::Split;
  steps[0].pattern = kLlama3;
  steps[0].pattern_is_regex = true;
  PreTokenizerChain llama3(steps, PreTokenizer::None);
  std::string joined;
  for (const std::string& p : our_pieces(llama3, noise, true)) joined += p;
  CHECK(joined == noise);
  for (PreTokenizerKind kind : {PreTokenizerKind::Digits, PreTokenizerKind::Punctuation}) {
    steps[0].kind = kind;
    joined.clear();
    for (const std::string& p : our_pieces(PreTokenizerChain(steps, PreTokenizer::None), noise, true)) joined += p;
    CHECK(joined == noise);
  }
  for (NormalizerKind kind : {NormalizerKind::NFKC, NormalizerKind::NFD, NormalizerKind::Lowercase}) {
    NormalizerStep n;
    n.kind = kind;
    NormalizerChain chain({n}, Normalizer::None);
    chain.apply(noise, out);
    CHECK(!out.empty());
  }
}
