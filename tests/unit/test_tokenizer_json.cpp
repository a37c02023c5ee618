// Conversion of Hugging Face tokenizer.json (and GPT-2's encoder.json + vocab.bpe)
// into TokenizerData: a small hand-written file converts and encodes as worked out
// by hand; malformed files give MMB_ERR_FORMAT with a message naming the problem.
#include <catch2/catch.hpp>

#include "base/error.hpp"
#include "support/tokenizer_checks.hpp"
#include "tokenizer/tokenizer.hpp"
#include "tokenizer_json.hpp"

#include <nlohmann/json.hpp>
#include <utf8proc.h>

#include <functional>

using namespace mmb;
using mmb::test::encode;
using nlohmann::json;
using Ids = std::vector<int32_t>;

namespace {

// GPT-2's published byte-to-character table: the printable bytes ! to ~, ¡ to ¬
// and ® to ÿ stand for themselves; the other 68 bytes, in order, for U+0100 onwards.
std::string byte_char(int b) {
  int cp = b;
  if (!((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))) {
    cp = 0x100;
    for (int o = 0; o < b; ++o)
      if (!((o >= 0x21 && o <= 0x7E) || (o >= 0xA1 && o <= 0xAC) || (o >= 0xAE && o <= 0xFF))) ++cp;
  }
  utf8proc_uint8_t buf[4];
  return std::string(reinterpret_cast<const char*>(buf), size_t(utf8proc_encode_char(cp, buf)));
}

// The 256 byte pieces with id = byte value (GPT-2 orders them otherwise: the
// conversion must go by character, not by position).
json byte_vocab() {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_char(b)] = b;
  return vocab;
}

const char* const kTokenizerJson = R"({
  "version": "1.0",
  "truncation": null,
  "padding": null,
  "added_tokens": [
    {"id": 262, "content": "<|endoftext|>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
    {"id": 263, "content": "  ", "single_word": false, "lstrip": false, "rstrip": false, "normalized": true, "special": false}
  ],
  "normalizer": {"type": "NFC"},
  "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
  "post_processor": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
  "decoder": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
  "model": {
    "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
    "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
    "vocab": {"Ġh": 256, "ll": 257, "Ġhe": 258, "llo": 259, "Ġhello": 260, "Ã©": 261, "<|endoftext|>": 262},
    "merges": ["Ġ h", "l l", "Ġh e", "ll o", "Ġhe llo", "Ã ©"]
  }
})";

json base_document() {
  json doc = json::parse(kTokenizerJson);
  doc["model"]["vocab"].update(byte_vocab());
  return doc;
}

TokenizerData convert(const json& doc) { return tokenizer_from_hf_json(doc.dump()); }

Ids bytes_of(std::string_view s) {
  Ids ids;
  for (char c : s) ids.push_back(uint8_t(c));
  return ids;
}

void require_format_error(const std::function<void()>& convert_it, const std::string& prefix, const std::string& phrase) {
  try {
    convert_it();
  } catch (const Error& e) {
    CHECK(e.status() == MMB_ERR_FORMAT);
    CHECK_THAT(e.what(), Catch::StartsWith(prefix));
    CHECK_THAT(e.what(), Catch::Contains(phrase));
    return;
  }
  FAIL("accepted; expected an error containing \"" << phrase << "\"");
}

void require_json_error(const std::string& text, const std::string& phrase) {
  require_format_error([&] { tokenizer_from_hf_json(text); }, "tokenizer.json: ", phrase);
}

void require_json_error(const std::function<void(json&)>& edit, const std::string& phrase) {
  json doc = base_document();
  edit(doc);
  require_json_error(doc.dump(), phrase);
}

}  // namespace

TEST_CASE("the byte table used by these tests is GPT-2's", "[tokenizer]") {
  CHECK(byte_char(' ') == "\u0120");   // Ġ
  CHECK(byte_char('\n') == "\u010a");  // Ċ
  CHECK(byte_char(0) == "\u0100");
  CHECK(byte_char(0x7F) == "\u0121");
  CHECK(byte_char(0xAD) == "\u0143");
  CHECK(byte_char('A') == "A");
  CHECK(byte_char(0xE9) == "\u00e9");
}

TEST_CASE("a hand-written tokenizer.json converts and encodes as worked out by hand", "[tokenizer]") {
  const TokenizerData d = convert(base_document());
  CHECK(d.kind == TokenizerKind::ByteBPE);
  CHECK(d.pre_tokenizer == PreTokenizer::GPT2);
  CHECK(d.normalizer == Normalizer::NFC);
  REQUIRE(d.pieces.size() == 264);
  CHECK(d.pieces[' '] == " ");
  CHECK(d.pieces[0] == std::string(1, '\0'));
  CHECK(d.pieces[256] == " h");
  CHECK(d.pieces[260] == " hello");
  CHECK(d.pieces[261] == "\u00e9");
  CHECK(d.pieces[262] == "<|endoftext|>");
  CHECK(d.pieces[263] == "  ");
  CHECK(d.merges == std::vector<std::pair<int32_t, int32_t>>{{' ', 'h'}, {'l', 'l'}, {256, 'e'}, {257, 'o'}, {258, 259}, {0xC3, 0xA9}});
  REQUIRE(d.specials.size() == 1);
  CHECK(d.specials[0].id == 262);
  REQUIRE(d.added.size() == 1);
  CHECK(d.added[0].id == 263);
  CHECK(d.eos_id == 262);
  CHECK(d.bos_id == 262);  // <|endoftext|> is both, as in GPT-2 and GPT-NeoX
  CHECK(d.pad_id == -1);
  CHECK_FALSE(d.add_bos);

  const Tokenizer t(d);
  CHECK(encode(t, " hello") == Ids{260});
  CHECK(encode(t, "hello") == Ids{'h', 'e', 259});
  CHECK(encode(t, "Say hello  world") == Ids{'S', 'a', 'y', 260, 263, 'w', 'o', 'r', 'l', 'd'});
  CHECK(encode(t, "caf\u00e9") == Ids{'c', 'a', 'f', 261});
  CHECK(encode(t, "cafe\u0301") == Ids{'c', 'a', 'f', 261});  // NFC first
  CHECK(encode(t, "<|endoftext|>", true) == Ids{262});
  CHECK(encode(t, "<|endoftext|>", false) == bytes_of("<|endoftext|>"));
  CHECK(t.is_special(262));
  CHECK_FALSE(t.is_special(263));
}

TEST_CASE("tokenizer.json variants: merge pairs, Sequence, no regex, BOS template", "[tokenizer]") {
  const TokenizerData plain = convert(base_document());
  {
    json doc = base_document();
    json pairs = json::array();
    for (const json& m : doc["model"]["merges"]) {
      const std::string s = m.get<std::string>();
      pairs.push_back({s.substr(0, s.find(' ')), s.substr(s.find(' ') + 1)});
    }
    doc["model"]["merges"] = pairs;
    doc["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", json::array({doc["pre_tokenizer"]})}};
    const TokenizerData d = convert(doc);
    CHECK(d.merges == plain.merges);
    CHECK(d.pieces == plain.pieces);
    CHECK(d.pre_tokenizer == PreTokenizer::GPT2);
  }
  {
    json doc = base_document();
    doc["pre_tokenizer"]["use_regex"] = false;
    doc["normalizer"] = nullptr;
    const TokenizerData d = convert(doc);
    CHECK(d.pre_tokenizer == PreTokenizer::None);
    CHECK(d.normalizer == Normalizer::None);
    const Tokenizer t(d);
    CHECK(encode(t, "o hello") == Ids{'o', 260});  // one word: " hello" merges without a split
    CHECK(encode(t, "e\u0301") == bytes_of("e\u0301"));
  }
  {
    json doc = base_document();
    doc["post_processor"] = json::parse(R"({"type": "TemplateProcessing",
      "single": [{"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
      "pair": [], "special_tokens": {}})");
    const TokenizerData d = convert(doc);
    CHECK(d.bos_id == 262);
    CHECK(d.add_bos);
  }
  // A component "type" that is no string is an error naming its path, never a crash.
  const std::pair<const char*, const char*> bad_processors[] = {
      {R"({"type": 7, "single": []})", "post_processor.type: expected a string"},
      {R"({"type": "Sequence", "processors": [{"type": null}]})", "post_processor.processors[0].type is missing"},
      {R"({"type": ["TemplateProcessing"]})", "post_processor.type: expected a string"},
      {R"({"type": "RobertaProcessing"})", "post_processor.type \"RobertaProcessing\" is not supported"}};
  for (const auto& [processor, message] : bad_processors)
    require_json_error([&](json& d) { d["post_processor"] = json::parse(processor); }, message);
}

TEST_CASE("tokenizer_config.json names BOS, EOS, PAD and asks for BOS", "[tokenizer]") {
  TokenizerData d = convert(base_document());
  apply_hf_tokenizer_config(d, R"({"bos_token": {"content": "<|endoftext|>", "lstrip": false},
    "eos_token": "<|endoftext|>", "pad_token": " hello", "unk_token": null, "add_bos_token": true})");
  CHECK(d.bos_id == 262);
  CHECK(d.eos_id == 262);
  CHECK(d.pad_id == 260);
  CHECK(d.unk_id == -1);
  CHECK(d.add_bos);
  require_format_error([&] { apply_hf_tokenizer_config(d, R"({"bos_token": "<nope>"})"); }, "tokenizer_config.json: ",
                       "bos_token \"<nope>\" is no token");
  require_format_error([&] { apply_hf_tokenizer_config(d, R"({"add_bos_token": "yes"})"); }, "tokenizer_config.json: ",
                       "add_bos_token: expected true or false");
  require_format_error([&] { apply_hf_tokenizer_config(d, "{\"bos_token\": "); }, "tokenizer_config.json: ", "not valid JSON");
}

TEST_CASE("tokenizer_config.json: chat templates, add_bos_token and add_eos_token", "[tokenizer]") {
  TokenizerData d = convert(base_document());
  CHECK(d.post_prefix.empty());
  apply_hf_tokenizer_config(d, R"({"chat_template": "{% for m in messages %}{{ m.content }}{% endfor %}"})");
  REQUIRE(d.chat_templates.size() == 1);
  CHECK(d.chat_templates[0].name == "default");
  CHECK(d.chat_templates[0].text == "{% for m in messages %}{{ m.content }}{% endfor %}");
  apply_hf_tokenizer_config(d, R"({"chat_template": [{"name": "default", "template": "A"}, {"name": "tool_use", "template": "B"}]})");
  REQUIRE(d.chat_templates.size() == 2);
  CHECK(d.chat_templates[1].name == "tool_use");
  CHECK(d.chat_templates[1].text == "B");

  apply_hf_tokenizer_config(d, R"({"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "add_bos_token": true, "add_eos_token": true})");
  CHECK(d.post_prefix == Ids{262});
  CHECK(d.post_suffix == Ids{262});
  CHECK(d.add_bos);
  apply_hf_tokenizer_config(d, R"({"add_bos_token": false})");
  CHECK(d.post_prefix.empty());
  CHECK_FALSE(d.add_bos);
  CHECK(d.post_suffix == Ids{262});
  {
    const Tokenizer t(d);
    CHECK(t.prefix_ids().empty());
    CHECK(Ids(t.suffix_ids().begin(), t.suffix_ids().end()) == Ids{262});
  }

  require_format_error([&] { apply_hf_tokenizer_config(d, R"({"chat_template": 5})"); }, "tokenizer_config.json: ",
                       "chat_template: expected a string or a list");
  require_format_error([&] { apply_hf_tokenizer_config(d, R"({"chat_template": [{"name": "x"}]})"); }, "tokenizer_config.json: ",
                       "chat_template[0]: expected an object with \"name\" and \"template\"");
  require_format_error([&] { apply_hf_tokenizer_config(d, R"({"chat_template": [{"name": "x", "template": ""}, {"name": "x", "template": ""}]})"); },
                       "tokenizer_config.json: ", "chat_template[1]: the name \"x\" appears twice");
  require_format_error([&] { apply_hf_tokenizer_config(d, R"({"eos_token": null, "add_eos_token": true})"); }, "tokenizer_config.json: ",
                       "add_eos_token is true but there is no EOS token");
}

TEST_CASE("generation_config.json: eos_token_id as an id or a list gives the stop ids", "[tokenizer]") {
  TokenizerData d = convert(base_document());
  REQUIRE(d.eos_id == 262);
  apply_hf_generation_config(d, R"({"eos_token_id": 262, "max_length": 20})");
  CHECK(d.stop_ids.empty());
  apply_hf_generation_config(d, R"({"eos_token_id": [262, 263, 256, 263]})");
  CHECK(d.stop_ids == Ids{263, 256});
  apply_hf_generation_config(d, R"({"temperature": 0.7})");
  CHECK(d.stop_ids == Ids{263, 256});
  d.eos_id = -1;
  d.stop_ids.clear();
  apply_hf_generation_config(d, R"({"eos_token_id": [263, 262]})");
  CHECK(d.eos_id == 263);
  CHECK(d.stop_ids == Ids{262});
  CHECK(Tokenizer(d).stop_ids().size() == 1);
  require_format_error([&] { apply_hf_generation_config(d, R"({"eos_token_id": 5000})"); }, "generation_config.json: ",
                       "eos_token_id 5000 is outside the tokenizer's 264 tokens");
  require_format_error([&] { apply_hf_generation_config(d, R"({"eos_token_id": ["</s>"]})"); }, "generation_config.json: ",
                       "eos_token_id[0]: expected a token id, got string");
  require_format_error([&] { apply_hf_generation_config(d, "[1]"); }, "generation_config.json: ", "expected an object at the top");
}

TEST_CASE("tokenizer.json: a Falcon-style Split + ByteLevel Sequence and a CharBPE vocabulary convert to steps", "[tokenizer]") {
  {
    json doc = base_document();
    doc["pre_tokenizer"] = json::parse(R"({"type": "Sequence", "pretokenizers": [
        {"type": "Punctuation", "behavior": "Contiguous"},
        {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
        {"type": "Digits", "individual_digits": false},
        {"type": "Split", "pattern": {"Regex": "[0-9][0-9][0-9]"}, "behavior": "Isolated", "invert": false}]})");
    doc["normalizer"] = nullptr;
    const TokenizerData d = convert(doc);
    CHECK(d.kind == TokenizerKind::ByteBPE);
    CHECK(d.pre_tokenizer == PreTokenizer::None);
    REQUIRE(d.pre_tokenizers.size() == 4);
    CHECK(d.pre_tokenizers[0].kind == PreTokenizerKind::Punctuation);
    CHECK(d.pre_tokenizers[0].behavior == SplitBehavior::Contiguous);
    CHECK(d.pre_tokenizers[1].kind == PreTokenizerKind::ByteLevel);
    CHECK(d.pre_tokenizers[2].kind == PreTokenizerKind::Digits);
    CHECK(d.pre_tokenizers[3].kind == PreTokenizerKind::Split);
    CHECK(d.pre_tokenizers[3].pattern == "[0-9][0-9][0-9]");
    CHECK(d.pre_tokenizers[3].pattern_is_regex);
    REQUIRE(d.decoders.size() == 1);
    CHECK(d.decoders[0].kind == DecoderKind::ByteLevel);
    REQUIRE(d.added.size() == 1);
    CHECK(d.added[0].normalized);  // as the file says
    CHECK_FALSE(d.specials[0].normalized);
  }
  {
    // Without ByteLevel anywhere the vocabulary's strings are the pieces themselves.
    json doc = json::parse(R"({"added_tokens": [{"id": 0, "content": "<unk>", "special": true}],
      "normalizer": null, "pre_tokenizer": {"type": "WhitespaceSplit"},
      "decoder": {"type": "Sequence", "decoders": [{"type": "ByteFallback"}, {"type": "Fuse"}]},
      "model": {"type": "BPE", "unk_token": "<unk>", "byte_fallback": true, "fuse_unk": true,
        "vocab": {"<unk>": 0, "Ġ": 1, "a": 2, "Ġa": 3}, "merges": ["Ġ a"]}})");
    const TokenizerData d = convert(doc);
    CHECK(d.kind == TokenizerKind::CharBPE);
    CHECK(d.pieces[1] == "Ġ");  // not mapped back to a space byte
    CHECK(d.byte_fallback);
    CHECK(d.fuse_unk);
    CHECK(d.unk_id == 0);
    const Tokenizer t(d);
    CHECK(encode(t, "Ġa a zz") == Ids{3, 2, 0});
  }
}

TEST_CASE("malformed tokenizer.json gives MMB_ERR_FORMAT naming the problem", "[tokenizer]") {
  require_json_error("{", "not valid JSON");
  require_json_error("", "not valid JSON");
  require_json_error("{\"model\": \"\xff\"}", "not valid JSON");
  require_json_error("[]", "expected an object at the top, got array");
  require_json_error("{}", "model is missing");
  require_json_error([](json& d) { d["model"] = 3; }, "model: expected an object, got number");
  require_json_error([](json& d) { d["model"]["type"] = "WordPiece"; }, "model.type \"WordPiece\" is not supported");
  require_json_error([](json& d) { d["model"]["type"] = 1; }, "model.type: expected a string, got number");
  require_json_error([](json& d) { d["model"]["vocab"] = json::array(); }, "model.vocab: expected an object, got array");
  require_json_error([](json& d) { d["model"].erase("vocab"); }, "model.vocab is missing");
  require_json_error([](json& d) { d["model"]["vocab"]["ll"] = "7"; }, "model.vocab[\"ll\"]: expected a token id, got string");
  require_json_error([](json& d) { d["model"]["vocab"]["ll"] = -5; }, "token id -5 is out of range");
  require_json_error([](json& d) { d["model"]["vocab"]["ll"] = 1.5; }, "expected a token id, got number");
  require_json_error([](json& d) { d["model"]["vocab"]["xyz"] = 257; }, "two pieces have the id 257");
  require_json_error([](json& d) { d["model"]["vocab"]["\u4e2d"] = 300; }, "piece \"\u4e2d\" (id 300) is not in GPT-2's byte-level form");
  require_json_error([](json& d) { d["model"]["vocab"].erase("Z"); }, "no token for the byte \"Z\"");
  require_json_error([](json& d) { d["model"]["merges"] = 5; }, "model.merges: expected an array, got number");
  require_json_error([](json& d) { d["model"].erase("merges"); }, "model.merges is missing");
  require_json_error([](json& d) { d["model"]["merges"][1] = "ll"; }, "model.merges[1]: \"ll\" is not two pieces separated by one space");
  require_json_error([](json& d) { d["model"]["merges"][1] = "l  l"; }, "is not two pieces");
  require_json_error([](json& d) { d["model"]["merges"][2] = "Ġ zz"; }, "model.merges[2]: \"zz\" is not in the vocabulary");
  require_json_error([](json& d) { d["model"]["merges"][2] = json::array({"Ġ"}); }, "model.merges[2]: expected \"a b\" or");
  require_json_error([](json& d) { d["model"]["merges"][2] = json::array({"Ġ", 4}); }, "model.merges[2][1]: expected a string, got number");
  require_json_error([](json& d) { d["model"]["merges"].push_back("h e"); }, "makes \"he\", which is no token");
  require_json_error([](json& d) { d["model"]["dropout"] = 0.1; }, "model.dropout = 0.1 is not supported");
  require_json_error([](json& d) { d["model"]["continuing_subword_prefix"] = "##"; }, "model.continuing_subword_prefix = \"##\" is not supported");
  require_json_error([](json& d) { d["added_tokens"] = json::object(); }, "added_tokens: expected an array, got object");
  require_json_error([](json& d) { d["added_tokens"][0].erase("content"); }, "added_tokens[0]: needs \"id\" and \"content\"");
  require_json_error([](json& d) { d["added_tokens"][1]["content"] = 5; }, "added_tokens[1].content: expected a string, got number");
  require_json_error([](json& d) { d["added_tokens"][1]["special"] = "no"; }, "added_tokens[1].special: expected true or false");
  require_json_error([](json& d) { d["added_tokens"][1]["id"] = 262; }, "added_tokens: id 262 appears twice");
  require_json_error([](json& d) { d["model"]["type"] = "Unigram"; }, "WordPiece and Unigram models are used by none");
  require_json_error([](json& d) { d["pre_tokenizer"] = {{"type", "BertPreTokenizer"}}; }, "pre_tokenizer.type \"BertPreTokenizer\" is not supported");
  require_json_error([](json& d) { d["pre_tokenizer"]["add_prefix_space"] = 1; }, "pre_tokenizer.add_prefix_space: expected true or false");
  require_json_error([](json& d) { d["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", json::array({{{"type", "UnicodeScripts"}}})}}; },
                     "pre_tokenizer.pretokenizers[0].type \"UnicodeScripts\" is not supported");
  require_json_error([](json& d) { d["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Glob", "*"}}}}; },
                     "pre_tokenizer.pattern: expected {\"String\": ...} or {\"Regex\": ...}");
  require_json_error([](json& d) { d["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "("}}}}; }, "regex");
  require_json_error([](json& d) { d["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"String", "x"}}}, {"behavior", "Sideways"}}; },
                     "pre_tokenizer.behavior \"Sideways\" is unknown");
  require_json_error([](json& d) { d["decoder"] = {{"type", "Sequence"}, {"decoders", json::array({{{"type", "CTC"}}})}}; },
                     "decoder.decoders[0].type \"CTC\" is not supported");
  require_json_error([](json& d) { d["decoder"] = {{"type", "Replace"}, {"pattern", {{"Regex", " +"}}}, {"content", " "}}; },
                     "decoder.pattern: a Regex pattern is not supported in a decoder");
  require_json_error([](json& d) { d["decoder"] = {{"type", "Strip"}, {"content", " "}, {"start", -1}}; }, "decoder.start: expected a count");
  require_json_error([](json& d) { d["model"]["end_of_word_suffix"] = "</w>"; }, "model.end_of_word_suffix is not supported for byte-level BPE");
  require_json_error([](json& d) { d["normalizer"] = {{"type", "BertNormalizer"}}; }, "normalizer.type \"BertNormalizer\" is not supported");
  require_json_error([](json& d) { d["normalizer"] = {{"type", "Sequence"}, {"normalizers", 3}}; }, "normalizer.normalizers: expected an array");
}

TEST_CASE("GPT-2's encoder.json and vocab.bpe convert and malformed ones are refused", "[tokenizer]") {
  json encoder = byte_vocab();
  encoder["Ġh"] = 256;
  encoder["ll"] = 257;
  encoder["<|endoftext|>"] = 258;
  const std::string merges = "#version: 0.2\nĠ h\nl l\n";
  const TokenizerData d = tokenizer_from_gpt2_files(encoder.dump(), merges);
  CHECK(d.merges == std::vector<std::pair<int32_t, int32_t>>{{' ', 'h'}, {'l', 'l'}});
  CHECK(d.eos_id == 258);
  CHECK(d.bos_id == 258);
  const Tokenizer t(d);
  CHECK(encode(t, "hall hill") == Ids{'h', 'a', 257, 256, 'i', 257});

  require_format_error([&] { tokenizer_from_gpt2_files("[1, 2]", merges); }, "encoder.json: ", "expected an object");
  require_format_error([&] { tokenizer_from_gpt2_files("{", merges); }, "encoder.json: ", "not valid JSON");
  require_format_error([&] { tokenizer_from_gpt2_files(encoder.dump(), "#version: 0.2\nĠ h\nl l x\n"); }, "vocab.bpe: ",
                       "line 3: \"l l x\" is not two pieces separated by one space");
  require_format_error([&] { tokenizer_from_gpt2_files(encoder.dump(), "#version: 0.2\nĠ zz\n"); }, "vocab.bpe: ",
                       "line 2: \"zz\" is not in the vocabulary");
}

// Found by fuzz_tokenizer_json: an id near INT32_MAX made the converter size its piece
// table by the largest id (64 GiB of strings for a 200-byte file). Ids may leave holes,
// but the table must stay proportional to the file.
TEST_CASE("tokenizer.json ids far past the number of tokens are refused before any allocation", "[tokenizer]") {
  require_json_error([](json& d) { d["model"]["vocab"]["ll"] = 2147483646; }, "token ids reach 2147483646");
  require_json_error([](json& d) { d["added_tokens"][1]["id"] = 100000000; }, "token ids reach 100000000");
  require_format_error([&] { tokenizer_from_gpt2_files(R"({"a": 0, "b": 2000000000})", ""); }, "encoder.json: ",
                       "token ids reach 2000000000");

  // A few holes are fine: they become empty pieces, which nothing encodes to.
  json doc = base_document();
  doc["added_tokens"][1]["id"] = 300;
  const TokenizerData data = convert(doc);
  REQUIRE(data.pieces.size() == 301);
  CHECK(data.pieces[290].empty());
  CHECK(data.pieces[300] == "  ");
  const Tokenizer t(data);
  CHECK(encode(t, "a  b") == Ids{'a', 300, 'b'});
}
