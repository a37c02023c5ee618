// The tokenizer pipeline on hand-made SentencePiece-style (CharBPE) tokenizers:
// byte fallback, the unknown token and fuse_unk, added-token flags (lstrip, rstrip,
// normalized), the post-processor's ids, decoder steps, the streaming detokenizer
// against the whole-sequence decode, and the validation of the new fields. Expected
// ids and texts were worked out by hand and checked with tokenizers.js 0.2.0.
#include <catch2/catch.hpp>

#include "tokenizer/tokenizer.hpp"
#include "support/tokenizer_checks.hpp"
#include "tokenizer_json.hpp"

#include <string>

using namespace mmb;
using mmb::test::decode;
using mmb::test::require_format_error;
using mmb::test::stream;
using Ids = std::vector<int32_t>;

namespace {

// Llama-2's shape: Prepend + Replace normalizers, no pre-tokenizer, byte fallback,
// [Replace, ByteFallback, Fuse, Strip] decoders and a <s> template. Two extra added
// tokens: <|im_end|> (lstrip, rstrip) and "▁wor" (normalized, not special).
const char* const kLlamaJson = R"({
  "version": "1.0",
  "added_tokens": [
    {"id": 0, "content": "<unk>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
    {"id": 1, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
    {"id": 2, "content": "</s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
    {"id": 24, "content": "<|im_end|>", "single_word": false, "lstrip": true, "rstrip": true, "normalized": false, "special": true},
    {"id": 25, "content": "▁wor", "single_word": false, "lstrip": false, "rstrip": false, "normalized": true, "special": false}
  ],
  "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
                 {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
  "pre_tokenizer": null,
  "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}}], "pair": [], "special_tokens": {}},
  "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
              {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
  "model": {"type": "BPE", "dropout": null, "unk_token": "<unk>", "continuing_subword_prefix": null, "end_of_word_suffix": null,
    "fuse_unk": true, "byte_fallback": true, "ignore_merges": false,
    "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "<0x0A>": 3, "<0xC3>": 4, "<0xA9>": 5, "▁": 6, "h": 7, "e": 8, "l": 9,
      "o": 10, "w": 11, "r": 12, "d": 13, "▁h": 14, "ll": 15, "▁he": 16, "llo": 17, "▁hello": 18, "▁w": 19, "or": 20,
      "▁wor": 21, "ld": 22, "▁world": 23},
    "merges": ["▁ h", "l l", "▁h e", "ll o", "▁he llo", "▁ w", "o r", "▁w or", "l d", "▁wor ld"]}
})";

// Mistral v3's shape: the same vocabulary, a Metaspace pre-tokenizer (prepend_scheme
// first, no split) and [Metaspace, ByteFallback, Fuse] decoders.
std::string mistral_json() {
  std::string s = kLlamaJson;
  auto replace = [&](const std::string& from, const std::string& to) {
    const size_t at = s.find(from);
    REQUIRE(at != std::string::npos);
    s.replace(at, from.size(), to);
  };
  replace(R"("normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
                 {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
  "pre_tokenizer": null,)",
          R"("normalizer": null,
  "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false},)");
  replace(R"("decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
              {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},)",
          R"("decoder": {"type": "Sequence", "decoders": [{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first"},
              {"type": "ByteFallback"}, {"type": "Fuse"}]},)");
  return s;
}

// Most texts here hold special tokens' texts: they are parsed unless a test says not.
Ids encode(const Tokenizer& t, std::string_view text, bool parse_special = true) {
  return test::encode(t, text, parse_special);
}

// A CharBPE tokenizer built by hand: a, b, ab, <0x0A>, <0xC3>, <0xA9> after <unk>.
TokenizerData tiny_char_bpe() {
  TokenizerData d;
  d.kind = TokenizerKind::CharBPE;
  d.pre_tokenizer = PreTokenizer::None;
  d.pieces = {"<unk>", "a", "b", "ab", "<0x0A>", "<0xC3>", "<0xA9>"};
  d.merges = {{1, 2}};
  d.specials = {{0, "<unk>"}};
  d.unk_id = 0;
  return d;
}

}  // namespace

TEST_CASE("CharBPE starts from characters: byte fallback, unknown token, fuse_unk", "[tokenizer]") {
  TokenizerData d = tiny_char_bpe();
  {
    const Tokenizer t(d);
    CHECK(t.kind() == TokenizerKind::CharBPE);
    CHECK(encode(t, "abab") == Ids{3, 3});
    CHECK(encode(t, "aba") == Ids{3, 1});
    CHECK(encode(t, "a\n") == Ids{1, 0});        // no byte fallback: the unknown token
    CHECK(encode(t, "xyb") == Ids{0, 0, 2});     // one per character without fuse_unk
  }
  d.fuse_unk = true;
  {
    const Tokenizer t(d);
    CHECK(encode(t, "xyb") == Ids{0, 2});
    CHECK(encode(t, "xy\xffz") == Ids{0});        // an invalid byte is a character of its own
  }
  d.byte_fallback = true;
  {
    const Tokenizer t(d);
    CHECK(encode(t, "a\n") == Ids{1, 4});
    CHECK(encode(t, "\xc3\xa9" "b") == Ids{5, 6, 2});  // é has both its byte tokens
    CHECK(encode(t, "\xc3\xbc" "b") == Ids{0, 2});     // ü lacks <0xBC>: unknown
  }
  d.unk_id = -1;
  d.specials.clear();
  d.pieces[0] = "zz";
  {
    const Tokenizer t(d);
    CHECK(encode(t, "\xc3\xbc" "b") == Ids{2});  // nothing to say it with: dropped, as tokenizers.js does
  }
}

TEST_CASE("ignore_merges keeps a word that is a token whole", "[tokenizer]") {
  TokenizerData d = tiny_char_bpe();
  d.pieces.push_back("ba");  // 7: a token no merge makes
  {
    const Tokenizer t(d);
    CHECK(encode(t, "ba") == Ids{2, 1});
  }
  d.ignore_merges = true;
  const Tokenizer t(d);
  CHECK(encode(t, "ba") == Ids{7});
  CHECK(encode(t, "bab") == Ids{2, 3});
}

TEST_CASE("end_of_word_suffix marks a word's last character", "[tokenizer]") {
  TokenizerData d = tiny_char_bpe();
  d.pieces.push_back("b</w>");   // 7
  d.pieces.push_back("ab</w>");  // 8
  d.merges.push_back({1, 7});
  d.end_of_word_suffix = "</w>";
  const Tokenizer t(d);
  CHECK(encode(t, "abab") == Ids{3, 8});
  CHECK(encode(t, "ba") == Ids{2, 0});  // "a</w>" is no token
}

TEST_CASE("a Llama-2 shaped tokenizer.json encodes as tokenizers.js does", "[tokenizer]") {
  const TokenizerData d = tokenizer_from_hf_json(kLlamaJson);
  CHECK(d.kind == TokenizerKind::CharBPE);
  CHECK(d.normalizers.size() == 2);
  CHECK(d.decoders.size() == 4);
  CHECK(d.post_prefix == Ids{1});
  CHECK(d.bos_id == 1);
  CHECK(d.eos_id == 2);
  CHECK(d.unk_id == 0);
  CHECK(d.pieces[6] == "\xE2\x96\x81");
  const Tokenizer t(d);
  CHECK(encode(t, "hello world") == Ids{18, 23});
  CHECK(encode(t, "hello\n") == Ids{18, 3});
  CHECK(encode(t, "\xc3\xa9") == Ids{6, 4, 5});
  CHECK(encode(t, "\xc3\xbc") == Ids{6, 0});
  CHECK(encode(t, "\xc3\xbc\xc3\xbc") == Ids{6, 0});
  CHECK(encode(t, "<s>hello") == Ids{1, 18});
  CHECK(encode(t, "<s>hello", false) == Ids{6, 0, 7, 8, 17});  // "<", "s", ">" unknown, fused into one
  CHECK(encode(t, "hello <|im_end|>  world") == Ids{18, 24, 23});  // lstrip and rstrip take the spaces
  CHECK(encode(t, "a world") == Ids{6, 0, 23});
  CHECK(encode(t, "wor ld") == Ids{25, 6, 22});  // a normalized added token, found after Prepend/Replace
  CHECK(encode(t, "\xc3\xbc world \xc3\xbc") == Ids{6, 0, 23, 6, 0});
  CHECK(std::vector<int32_t>(t.prefix_ids().begin(), t.prefix_ids().end()) == Ids{1});
  CHECK(t.suffix_ids().empty());
}

TEST_CASE("decoder steps and the streaming detokenizer on the Llama-2 shape", "[tokenizer]") {
  const Tokenizer t(tokenizer_from_hf_json(kLlamaJson));
  CHECK(decode(t, {1, 18, 23}) == "<s> hello world");
  CHECK(decode(t, {1, 18, 23}, true) == "hello world");
  CHECK(decode(t, {18, 3, 4, 5}) == "hello\n\xc3\xa9");
  CHECK(decode(t, {4}) == "\xef\xbf\xbd");  // a lone byte token that is no character
  CHECK(decode(t, {6, 0}) == "<unk>");
  CHECK(decode(t, {6, 0}, true).empty());
  CHECK(decode(t, {24, 23}, true) == "world");

  CHECK(t.token_bytes(18) == " hello");
  CHECK(t.token_bytes(3) == "\n");
  CHECK(t.token_bytes(4) == "\xc3");
  CHECK(t.piece(4) == "<0xC3>");

  // Right after BOS the leading space goes, as in the whole decode; a continuation
  // keeps it.
  CHECK(stream(t, {1, 18, 23}) == "<s>" + decode(t, {18, 23}));
  CHECK(stream(t, {18, 23}, true) == decode(t, {18, 23}));
  CHECK(stream(t, {23, 18}) == " world hello");
  CHECK(stream(t, {18, 3, 4, 5}, true) == decode(t, {18, 3, 4, 5}));
  CHECK(stream(t, {4}) == decode(t, {4}));
  CHECK(stream(t, {4, 18}, true) == decode(t, {4, 18}));
}

TEST_CASE("a Mistral v3 shaped tokenizer.json: Metaspace prepend_scheme first", "[tokenizer]") {
  const TokenizerData d = tokenizer_from_hf_json(mistral_json());
  REQUIRE(d.pre_tokenizers.size() == 1);
  CHECK(d.pre_tokenizers[0].kind == PreTokenizerKind::Metaspace);
  CHECK(d.pre_tokenizers[0].prepend_scheme == PrependScheme::First);
  const Tokenizer t(d);
  CHECK(encode(t, "hello world") == Ids{18, 23});
  CHECK(encode(t, "hello <s>world") == Ids{18, 6, 1, 11, 20, 22});  // no prefix after an added token
  CHECK(encode(t, " hello") == Ids{18});
  CHECK(encode(t, "hello <|im_end|> world") == Ids{18, 24, 11, 20, 22});
  CHECK(decode(t, {1, 18, 23}) == "<s> hello world");
  CHECK(decode(t, {1, 18, 23}, true) == "hello world");
  CHECK(decode(t, {23, 18}) == "world hello");
  CHECK(decode(t, {6, 6, 18}) == "  hello");
  CHECK(stream(t, {1, 18, 23}) == "<s>hello world");
  CHECK(stream(t, {6, 6, 18}, true) == decode(t, {6, 6, 18}));
  CHECK(stream(t, {23, 18}) == " world hello");
}

TEST_CASE("byte-level decoding replaces invalid UTF-8 per run, added tokens pass through", "[tokenizer]") {
  TokenizerData d = TokenizerData::bytes();
  d.kind = TokenizerKind::ByteBPE;
  d.pieces.push_back("<x>");  // 256, an added token
  d.added = {{256, "<x>"}};
  d.decoders = {DecoderStep{}};  // ByteLevel
  const Tokenizer t(d);
  CHECK(decode(t, {'a', 0xE4, 0xB8, 256, 0xAD, 'b'}) == "a\xef\xbf\xbd<x>\xef\xbf\xbd" "b");
  CHECK(decode(t, {0xE4, 0xB8, 0xAD}) == "\xe4\xb8\xad");
  CHECK(stream(t, {'a', 0xE4, 0xB8, 256, 0xAD, 'b'}) == decode(t, {'a', 0xE4, 0xB8, 256, 0xAD, 'b'}));
  // Without decoder steps (bundles from before them) the bytes come back as they are.
  d.decoders.clear();
  const Tokenizer raw(d);
  CHECK(decode(raw, {0xE4, 0xB8}) == "\xe4\xb8");
}

TEST_CASE("the post-processor: template ids, or BOS for bundles that only say add_bos", "[tokenizer]") {
  TokenizerData d = tiny_char_bpe();
  d.pieces.push_back("<s>");   // 7
  d.pieces.push_back("</s>");  // 8
  d.specials.push_back({7, "<s>"});
  d.specials.push_back({8, "</s>"});
  d.bos_id = 7;
  d.eos_id = 8;
  {
    const Tokenizer t(d);
    CHECK(t.prefix_ids().empty());
    CHECK(t.suffix_ids().empty());
  }
  d.add_bos = true;
  {
    const Tokenizer t(d);
    CHECK(Ids(t.prefix_ids().begin(), t.prefix_ids().end()) == Ids{7});
  }
  d.post_prefix = {7, 7};
  d.post_suffix = {8};
  {
    const Tokenizer t(d);
    CHECK(Ids(t.prefix_ids().begin(), t.prefix_ids().end()) == Ids{7, 7});
    CHECK(Ids(t.suffix_ids().begin(), t.suffix_ids().end()) == Ids{8});
  }
}

TEST_CASE("lstrip, rstrip and normalized added tokens on a byte-level tokenizer", "[tokenizer]") {
  TokenizerData d = TokenizerData::bytes();
  d.kind = TokenizerKind::ByteBPE;
  d.pieces.push_back("<t>");  // 256
  d.pieces.push_back("AB");   // 257: lowercase normalizer makes it unmatchable raw... but normalized
  d.specials = {{256, "<t>", true, true}};
  d.added = {{257, "AB", false, false, false, true}};
  d.normalizers = {NormalizerStep{NormalizerKind::Lowercase}};
  const Tokenizer t(d);
  CHECK(encode(t, "a \t<t>\n b") == Ids{'a', 256, 'b'});
  CHECK(encode(t, " <t>") == Ids{256});
  CHECK(encode(t, "xABy") == Ids{'x', 257, 'y'});  // found as "ab" in the lowercased text
  CHECK(encode(t, "xaby") == Ids{'x', 257, 'y'});
  CHECK(encode(t, "a \t<t>\n b", false) == Ids{'a', ' ', '\t', '<', 't', '>', '\n', ' ', 'b'});
}

TEST_CASE("malformed pipeline data is refused with a message, never a crash", "[tokenizer]") {
  TokenizerData d = tiny_char_bpe();
  d.post_prefix = {99};
  require_format_error(d, "post_prefix holds 99");
  d = tiny_char_bpe();
  d.stop_ids = {-3};
  require_format_error(d, "stop_ids holds -3");
  d = tiny_char_bpe();
  d.normalizers = {NormalizerStep{NormalizerKind(40)}};
  require_format_error(d, "normalizers[0] has the unknown kind 40");
  d = tiny_char_bpe();
  d.pre_tokenizers = {PreTokenizerStep{}};
  d.pre_tokenizers[0].behavior = SplitBehavior(9);
  require_format_error(d, "pre_tokenizers[0] has the unknown split behavior 9");
  d = tiny_char_bpe();
  d.decoders = {DecoderStep{DecoderKind(17)}};
  require_format_error(d, "decoders[0] has the unknown kind 17");
  d = tiny_char_bpe();
  d.kind = TokenizerKind(3);
  require_format_error(d, "unknown kind 3");
  d = tiny_char_bpe();
  d.continuing_subword_prefix = "##";
  require_format_error(d, "continuing_subword_prefix");
  d = tiny_char_bpe();
  d.merges.push_back({2, 1});
  require_format_error(d, "makes \"ba\", which is no token");
  d = tiny_char_bpe();
  d.pieces.push_back("ab");
  require_format_error(d, "have the same bytes \"ab\"");
}

TEST_CASE("streaming after BOS equals the whole decode without special tokens (Llama-2 shape, random ids)", "[tokenizer]") {
  const Tokenizer t(tokenizer_from_hf_json(kLlamaJson));
  std::vector<int32_t> ordinary;
  for (int32_t id = 0; id < t.n_pieces(); ++id)
    if (!t.is_special(id)) ordinary.push_back(id);
  uint64_t state = 12345;
  for (int round = 0; round < 2000; ++round) {
    Ids ids(size_t(1 + round % 9));
    for (int32_t& id : ids) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      id = ordinary[size_t(state >> 33) % ordinary.size()];
    }
    INFO("ids " << ::Catch::Detail::stringify(ids));
    REQUIRE(stream(t, ids, true) == decode(t, ids, true));
    Ids with_bos = ids;
    with_bos.insert(with_bos.begin(), 1);
    REQUIRE(stream(t, with_bos) == "<s>" + decode(t, with_bos, true));
  }
}
