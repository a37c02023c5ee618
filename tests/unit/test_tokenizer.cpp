// The tokenizer on data small enough to check by hand: byte tokens, merge order,
// GPT-2's pre-tokenizer pattern, special and added tokens, NFC, lossless round trips
// on arbitrary bytes, and the validation of malformed tokenizer data.
#include <catch2/catch.hpp>

#include "base/error.hpp"
#include "tokenizer/gpt2_pretokenizer.hpp"
#include "tokenizer/tokenizer.hpp"
#include "support/text_corpus.hpp"
#include "support/tokenizer_checks.hpp"
#include "support/tokenizer_reference.hpp"

#include <algorithm>
#include <random>

using namespace mmb;
using mmb::test::decode;
using mmb::test::encode;
using mmb::test::require_format_error;
using Ids = std::vector<int32_t>;

namespace {

// Byte b is id b; then ab = 256, abc = 257, bc = 258, aa = 259, merged by rank in
// this order: a+b, ab+c, b+c, a+a.
TokenizerData small_bpe(PreTokenizer pre = PreTokenizer::GPT2) {
  TokenizerData d = TokenizerData::bytes();
  d.kind = TokenizerKind::ByteBPE;
  d.pre_tokenizer = pre;
  for (const char* p : {"ab", "abc", "bc", "aa"}) d.pieces.emplace_back(p);
  d.merges = {{'a', 'b'}, {256, 'c'}, {'b', 'c'}, {'a', 'a'}};
  return d;
}

std::vector<std::string> split(std::string_view text) {
  std::vector<std::string> words;
  split_gpt2(text, [&](std::string_view w) { words.emplace_back(w); });
  return words;
}

}  // namespace

TEST_CASE("the byte tokenizer gives each byte its own id", "[tokenizer]") {
  const Tokenizer t(TokenizerData::bytes());
  CHECK(t.n_pieces() == 256);
  CHECK(t.kind() == TokenizerKind::Bytes);
  CHECK(t.bos_id() == -1);
  const std::string text = test::random_bytes(5000, 1) + "plain text, é, 😀";
  const Ids ids = encode(t, text);
  REQUIRE(ids.size() == text.size());
  for (size_t i = 0; i < text.size(); ++i) CHECK(ids[i] == int32_t(uint8_t(text[i])));
  CHECK(decode(t, ids) == text);
  CHECK(t.piece(0x41) == "A");
  CHECK(encode(t, "").empty());
}

TEST_CASE("BPE merges the lowest rank first, the leftmost among equals", "[tokenizer]") {
  const Tokenizer t(small_bpe(PreTokenizer::None));
  CHECK(encode(t, "abc") == Ids{257});             // a+b (rank 0) before b+c (rank 2), then ab+c
  CHECK(encode(t, "bcab") == Ids{258, 256});       // a+b first although b+c is further left
  CHECK(encode(t, "aaa") == Ids{259, 'a'});        // overlapping equal pairs: leftmost wins
  CHECK(encode(t, "aaaa") == Ids{259, 259});
  CHECK(encode(t, "xabcx") == Ids{'x', 257, 'x'});
  CHECK(encode(t, "ab ab") == Ids{256, ' ', 256});  // no pre-tokenizer: one word
  CHECK(encode(t, "a") == Ids{'a'});
}

TEST_CASE("GPT-2's pre-tokenizer splits text as its pattern does", "[tokenizer]") {
  using W = std::vector<std::string>;
  CHECK(split("Hello world") == W{"Hello", " world"});
  CHECK(split("I'm here, aren't you?") == W{"I", "'m", " here", ",", " aren", "'t", " you", "?"});
  CHECK(split("we'll they've she'd you're") == W{"we", "'ll", " they", "'ve", " she", "'d", " you", "'re"});
  CHECK(split("'S 's") == W{"'", "S", " '", "s"});  // contractions are lower case and start a match only
  CHECK(split("  x") == W{" ", " x"});
  CHECK(split("x\n\ny") == W{"x", "\n", "\n", "y"});
  CHECK(split("a   ") == W{"a", "   "});
  CHECK(split("\n \n") == W{"\n \n"});
  CHECK(split("123abc 45") == W{"123", "abc", " 45"});
  CHECK(split("$$$ x!!") == W{"$$$", " x", "!!"});
  CHECK(split("a\u00a0b") == W{"a", "\u00a0", "b"});              // no-break space: \s, but not " ?"
  CHECK(split("a\u00a0 b") == W{"a", "\u00a0", " b"});
  CHECK(split("a \u00a0b") == W{"a", " ", "\u00a0", "b"});
  CHECK(split("\ufeffx") == W{"\ufeff", "x"});                    // BOM: whitespace to JavaScript
  CHECK(split("\u0085x") == W{"\u0085", "x"});                    // NEL: not whitespace to JavaScript
  CHECK(split("e\u0301t\u00e9") == W{"e", "\u0301", "t\u00e9"});  // a combining mark is no letter
  CHECK(split("x\u00b2 \u2167") == W{"x", "\u00b2", " \u2167"});  // superscript two, Roman numeral eight
  CHECK(split("日本語 テスト") == W{"日本語", " テスト"});
  CHECK(split("a\xff\xfe b") == W{"a", "\xff\xfe", " b"});       // invalid bytes: "other", kept
  CHECK(split(" \xff") == W{" \xff"});
  CHECK(split("\xe2\x82") == W{"\xe2\x82"});                     // truncated character
  CHECK(split("").empty());
}

TEST_CASE("special tokens are matched only when asked, added tokens always", "[tokenizer]") {
  TokenizerData d = TokenizerData::bytes();
  for (const char* p : {"ab", "abc", "bc", "<s>"}) d.pieces.emplace_back(p);
  d.added = {{256, "ab"}, {257, "abc"}, {258, "bc"}};
  d.specials = {{259, "<s>"}};
  d.bos_id = 259;
  d.add_bos = true;
  const Tokenizer t(d);
  CHECK(t.add_bos());
  CHECK(t.bos_id() == 259);
  CHECK(t.is_special(259));
  CHECK_FALSE(t.is_special(256));
  CHECK(encode(t, "xabcab<s>", true) == Ids{'x', 257, 256, 259});
  CHECK(encode(t, "xabcab<s>", false) == Ids{'x', 257, 256, '<', 's', '>'});
  CHECK(encode(t, "abab") == Ids{256, 256});
  CHECK(encode(t, "abc") == Ids{257});      // leftmost, then longest
  CHECK(encode(t, "xbcab") == Ids{'x', 258, 256});
  CHECK(encode(t, "<s><s>", true) == Ids{259, 259});
  CHECK(t.piece(259) == "<s>");
}

TEST_CASE("GPT-2's <|endoftext|> is one token only when special tokens are parsed", "[tokenizer]") {
  const Tokenizer& gpt2 = test::gpt2_tokenizer();
  const int32_t eot = 50256;
  CHECK(gpt2.eos_id() == eot);
  CHECK(gpt2.bos_id() == eot);
  CHECK(gpt2.is_special(eot));
  CHECK(gpt2.n_pieces() == 50257);
  const std::string text = "one<|endoftext|>two";
  const Ids parsed = encode(gpt2, text, true);
  Ids expected = encode(gpt2, "one");
  expected.push_back(eot);
  for (int32_t id : encode(gpt2, "two")) expected.push_back(id);
  CHECK(parsed == expected);
  const Ids plain = encode(gpt2, text, false);
  CHECK(std::find(plain.begin(), plain.end(), eot) == plain.end());
  CHECK(decode(gpt2, plain) == text);
  CHECK(decode(gpt2, parsed) == text);
}

TEST_CASE("NFC normalization composes characters outside special tokens", "[tokenizer]") {
  TokenizerData d = TokenizerData::bytes();
  d.normalizer = Normalizer::NFC;
  d.pieces.emplace_back("e\xcc\x81");  // e + U+0301, never normalized inside a special token
  d.specials = {{256, "e\xcc\x81"}};
  const Tokenizer t(d);
  auto bytes_of = [](std::string_view s) {
    Ids ids;
    for (char c : s) ids.push_back(uint8_t(c));
    return ids;
  };
  CHECK(encode(t, "e\u0301") == bytes_of("\u00e9"));                // e + combining acute -> é
  CHECK(encode(t, "\u1100\u1161") == bytes_of("\uac00"));           // Hangul jamo -> syllable
  CHECK(encode(t, "\u212b") == bytes_of("\u00c5"));                 // Angstrom sign -> Å
  CHECK(encode(t, "plain ascii") == bytes_of("plain ascii"));
  CHECK(encode(t, "e\xff\u0301") == bytes_of("e\xff\u0301"));      // invalid byte between: nothing to compose
  CHECK(encode(t, std::string_view("a\0e\u0301", 5)) == bytes_of(std::string_view("a\0\u00e9", 4)));  // NUL is text
  CHECK(encode(t, "e\u0301", true) == Ids{256});
}

TEST_CASE("decode(encode(x)) == x for arbitrary bytes", "[tokenizer]") {
  const Tokenizer& gpt2 = test::gpt2_tokenizer();
  const Tokenizer bytes(TokenizerData::bytes());
  const Tokenizer small(small_bpe());
  std::vector<std::string> inputs;
  for (uint64_t seed = 0; seed < 100; ++seed) inputs.push_back(test::random_bytes(seed * 37 % 3000, seed));
  // Text with invalid bytes spliced in at random places.
  std::mt19937_64 rng(5);
  for (std::string doc : test::varied_corpus(256 << 10, 6)) {
    for (int k = 0; k < 8; ++k) doc.insert(size_t(rng() % (doc.size() + 1)), 1, char(0x80 | (rng() & 0x7F)));
    inputs.push_back(std::move(doc));
  }
  inputs.push_back(std::string(3000, ' ') + std::string(3000, 'a') + std::string(100, '\xff'));
  for (const Tokenizer* t : {&gpt2, &bytes, &small}) {
    for (bool parse_special : {false, true}) {
      size_t failures = 0;
      for (const std::string& x : inputs) failures += decode(*t, encode(*t, x, parse_special)) != x;
      CHECK(failures == 0);
    }
  }
}

TEST_CASE("malformed tokenizer data is rejected with a message naming the problem", "[tokenizer]") {
  require_format_error(TokenizerData{}, "no pieces");
  {
    TokenizerData d = small_bpe();
    d.merges.push_back({-1, 'a'});
    require_format_error(d, "merge 4 uses id -1, outside [0, 260)");
  }
  {
    TokenizerData d = small_bpe();
    d.merges.push_back({'a', 260});
    require_format_error(d, "uses id 260");
  }
  {
    TokenizerData d = small_bpe();
    d.merges.push_back({'x', 'y'});
    require_format_error(d, "makes \"xy\", which is no token");
  }
  {
    TokenizerData d = small_bpe();
    d.pieces['A'] = "AAA";
    require_format_error(d, "no token for the byte \"A\"");
  }
  {
    TokenizerData d = small_bpe();
    d.pieces.emplace_back("ab");
    require_format_error(d, "tokens 256 and 260 have the same bytes \"ab\"");
  }
  {
    TokenizerData d = small_bpe();
    d.specials = {{999, "<x>"}};
    require_format_error(d, "special token \"<x>\" has id 999, outside [0, 260)");
  }
  {
    TokenizerData d = small_bpe();
    d.specials = {{256, "<x>"}};
    require_format_error(d, "has text \"<x>\" but its piece is \"ab\"");
  }
  {
    TokenizerData d = small_bpe();
    d.pieces.emplace_back("");
    d.added = {{260, ""}};
    require_format_error(d, "added token 260 has no text");
  }
  {
    TokenizerData d = small_bpe();
    d.specials = {{256, "ab"}};
    d.added = {{256, "ab"}};
    require_format_error(d, "listed twice");
  }
  {
    TokenizerData d = small_bpe();
    d.pieces.emplace_back("");
    d.merges.push_back({260, 'a'});
    require_format_error(d, "joins an empty piece");
  }
  {
    TokenizerData d = small_bpe();
    d.eos_id = 260;
    require_format_error(d, "eos_id 260 is outside [0, 260)");
  }
  {
    TokenizerData d = small_bpe();
    d.add_bos = true;
    require_format_error(d, "add_bos is set but there is no bos_id");
  }
  {
    TokenizerData d = TokenizerData::bytes();
    d.merges.push_back({'a', 'b'});
    require_format_error(d, "a byte tokenizer has no merges");
  }
  {
    TokenizerData d = small_bpe();
    d.kind = TokenizerKind(7);
    require_format_error(d, "unknown kind 7");
  }
  {
    TokenizerData d = small_bpe();
    d.pieces.resize(200);
    d.merges.clear();
    require_format_error(d, "no token for the byte \"\\xc8\"");
  }
}

TEST_CASE("ids out of range are refused", "[tokenizer]") {
  const Tokenizer t(small_bpe());
  for (int32_t bad : {-1, 260, 1 << 30}) {
    try {
      (void)t.piece(bad);
      FAIL("piece(" << bad << ") was accepted");
    } catch (const Error& e) {
      CHECK(e.status() == MMB_ERR_INVALID_ARGUMENT);
    }
    std::string out;
    CHECK_THROWS_AS(t.decode(Ids{'a', bad}, out), Error);
    CHECK_FALSE(t.is_special(bad));
  }
}
