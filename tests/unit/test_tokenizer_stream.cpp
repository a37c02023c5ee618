// The streaming detokenizer: whole characters only, U+FFFD for bytes that can never
// be a character, the same text as a one-shot decode (checked against node's WHATWG
// decoder), and size-then-copy without side effects.
#include <catch2/catch.hpp>

#include "base/error.hpp"
#include "tokenizer/detokenizer.hpp"
#include "support/text_corpus.hpp"
#include "support/tokenizer_reference.hpp"

#include <nlohmann/json.hpp>
#include <utf8proc.h>

#include <random>

using namespace mmb;
using Ids = std::vector<int32_t>;

namespace {

const std::string kFffd = "\xef\xbf\xbd";

bool valid_utf8(std::string_view s) {
  for (size_t at = 0; at < s.size();) {
    utf8proc_int32_t cp = 0;
    utf8proc_ssize_t n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + at), utf8proc_ssize_t(s.size() - at), &cp);
    if (n <= 0) return false;
    at += size_t(n);
  }
  return true;
}

Ids byte_ids(std::string_view bytes) {
  Ids ids;
  for (char c : bytes) ids.push_back(uint8_t(c));
  return ids;
}

// Each push's output, then the flush's.
std::vector<std::string> stream(const Tokenizer& t, const Ids& ids) {
  Detokenizer d(t);
  std::vector<std::string> outputs;
  for (int32_t id : ids) {
    std::string out;
    d.push(id, out);
    CHECK(d.waiting() <= Detokenizer::kMaxWaiting);
    CHECK(out.size() <= Detokenizer::max_push_size(t.piece(id).size()));
    outputs.push_back(std::move(out));
  }
  std::string tail;
  d.flush(tail);
  CHECK(d.waiting() == 0);
  outputs.push_back(std::move(tail));
  return outputs;
}

std::string joined(const std::vector<std::string>& parts) {
  std::string s;
  for (const std::string& p : parts) s += p;
  return s;
}

std::string to_hex(const std::string& bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string hex;
  for (char c : bytes) {
    hex += digits[uint8_t(c) >> 4];
    hex += digits[uint8_t(c) & 15];
  }
  return hex;
}

std::string from_hex(const std::string& hex) {
  std::string bytes;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) bytes += char(std::stoi(hex.substr(i, 2), nullptr, 16));
  return bytes;
}

}  // namespace

TEST_CASE("a character split across tokens comes out once, complete", "[tokenizer]") {
  const Tokenizer bytes(TokenizerData::bytes());
  const std::vector<std::string> out = stream(bytes, byte_ids("a\u20ac\U0001F600z"));
  CHECK(out == std::vector<std::string>{"a", "", "", "\u20ac", "", "", "", "\U0001F600", "z", ""});

  // GPT-2 splits many emoji and CJK characters between tokens.
  const Tokenizer& gpt2 = test::gpt2_tokenizer();
  const std::string text = "Hugging \U0001F917 face, \u9f8d\u306e\u5375 and \U0001F468\u200d\U0001F469\u200d\U0001F467!";
  Ids ids;
  gpt2.encode(text, false, ids);
  size_t partial = 0;
  for (int32_t id : ids) partial += !valid_utf8(gpt2.piece(id));
  REQUIRE(partial > 0);  // the case this test is about does occur
  const std::vector<std::string> parts = stream(gpt2, ids);
  for (const std::string& p : parts) CHECK(valid_utf8(p));
  CHECK(joined(parts) == text);
}

TEST_CASE("bytes that can never be a character become U+FFFD, one per maximal subpart", "[tokenizer]") {
  const Tokenizer bytes(TokenizerData::bytes());
  auto sanitize = [&](std::string_view in) { return joined(stream(bytes, byte_ids(in))); };
  // The Unicode standard's example of maximal subparts (chapter 3, U+FFFD substitution).
  CHECK(sanitize("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64") ==
        "a" + kFffd + kFffd + kFffd + "b" + kFffd + "c" + kFffd + kFffd + "d");
  CHECK(sanitize("\xC0\xAF") == kFffd + kFffd);                  // overlong
  CHECK(sanitize("\xE0\x80\x80") == kFffd + kFffd + kFffd);      // overlong
  CHECK(sanitize("\xED\xA0\x80") == kFffd + kFffd + kFffd);      // surrogate
  CHECK(sanitize("\xF4\x90\x80\x80") == kFffd + kFffd + kFffd + kFffd);  // above U+10FFFF
  CHECK(sanitize("\xF5\xFF") == kFffd + kFffd);
  CHECK(sanitize("\xE2\x82x") == kFffd + "x");                   // cut short, then ASCII
  CHECK(sanitize("\xF0\x9F\x98") == kFffd);                      // cut short at the end: flush
  CHECK(sanitize("\xEF\xBB\xBF\xC3\xA9") == "\ufeff\u00e9");     // a BOM is text like any other

  // Where the stream decides: an invalid byte resolves what waited at once.
  const std::vector<std::string> out = stream(bytes, byte_ids("\xE2\x82\xFF"));
  CHECK(out == std::vector<std::string>{"", "", kFffd + kFffd, ""});
}

TEST_CASE("streamed text equals the WHATWG decoder's one-shot decode of the bytes", "[tokenizer][node]") {
  const Tokenizer& gpt2 = test::gpt2_tokenizer();
  std::vector<std::string> inputs;
  for (uint64_t seed = 0; seed < 60; ++seed) inputs.push_back(test::random_bytes(1 + seed * 53 % 2000, 100 + seed));
  std::mt19937_64 rng(11);
  for (std::string doc : test::varied_corpus(128 << 10, 12)) {
    for (int k = 0; k < 6; ++k) doc.insert(size_t(rng() % (doc.size() + 1)), 1, char(0x80 | (rng() & 0x7F)));
    for (int k = 0; k < 3; ++k) doc.erase(size_t(rng() % doc.size()), 1);  // may cut a character
    inputs.push_back(std::move(doc));
  }

  test::ScratchDir scratch("detokenizer_reference");
  nlohmann::json hex = nlohmann::json::array();
  for (const std::string& in : inputs) hex.push_back(to_hex(in));
  test::write_bytes(scratch.path("in.json"), hex.dump());
  test::run_node_script("utf8_replace.js", {scratch.path("in.json"), scratch.path("out.json")});
  const auto expected = nlohmann::json::parse(test::read_bytes(scratch.path("out.json"))).get<std::vector<std::string>>();
  REQUIRE(expected.size() == inputs.size());

  size_t mismatches = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Ids ids;
    gpt2.encode(inputs[i], false, ids);
    const std::vector<std::string> parts = stream(gpt2, ids);
    for (const std::string& p : parts) CHECK(valid_utf8(p));
    mismatches += joined(parts) != from_hex(expected[i]);
  }
  CHECK(mismatches == 0);
}

TEST_CASE("a short buffer consumes nothing", "[tokenizer]") {
  const Tokenizer bytes(TokenizerData::bytes());
  Detokenizer d(bytes);
  char buf[16];
  CHECK(d.push(0xE2, buf, 0) == 0);
  CHECK(d.push(0x82, buf, 0) == 0);
  CHECK(d.waiting() == 2);
  CHECK(d.push(0xAC, buf, 2) == 3);  // needs 3: nothing written, nothing consumed
  CHECK(d.waiting() == 2);
  CHECK(d.push(0xAC, buf, 3) == 3);
  CHECK(std::string(buf, 3) == "\u20ac");
  CHECK(d.waiting() == 0);

  CHECK(d.push(0xF0, buf, 0) == 0);
  CHECK(d.flush(buf, 2) == 3);
  CHECK(d.waiting() == 1);
  CHECK(d.flush(buf, 3) == 3);
  CHECK(std::string(buf, 3) == kFffd);
  CHECK(d.waiting() == 0);
  CHECK(d.flush(buf, 0) == 0);

  // A copy streams on its own.
  CHECK(d.push(0xC3, buf, 0) == 0);
  Detokenizer copy = d;
  std::string a, b;
  copy.push(0xA9, a);
  CHECK(a == "\u00e9");
  CHECK(d.waiting() == 1);
  d.push('x', b);
  CHECK(b == kFffd + "x");
}

TEST_CASE("an id out of range changes nothing", "[tokenizer]") {
  const Tokenizer bytes(TokenizerData::bytes());
  Detokenizer d(bytes);
  std::string out;
  d.push(0xC3, out);
  try {
    d.push(256, out);
    FAIL("id 256 was accepted");
  } catch (const Error& e) {
    CHECK(e.status() == MMB_ERR_INVALID_ARGUMENT);
  }
  CHECK(d.waiting() == 1);
  d.push(0xA9, out);
  CHECK(out == "\u00e9");
}
