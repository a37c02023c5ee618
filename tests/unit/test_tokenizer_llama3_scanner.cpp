// The hand-written scanner for the Llama-3 / cl100k / Qwen2 split patterns must find
// exactly the matches the regex engine finds for the same pattern, on more than a
// megabyte of varied text, on text with invalid UTF-8 mixed in, and on hand-picked
// white-space and contraction cases. Its speed next to the regex's is printed.
#include <catch2/catch.hpp>

#include "support/text_corpus.hpp"
#include "tokenizer/llama3_pretokenizer.hpp"
#include "tokenizer/regex.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

using namespace mmb;

namespace {

using Spans = std::vector<std::pair<size_t, size_t>>;

const char* kLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* kCl100k =
    R"('(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+)";
const char* kQwen2 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

Spans by_regex(const Regex& regex, std::string_view text) {
  Spans out;
  regex.for_each_match(text, [&](size_t b, size_t e) { out.emplace_back(b, e); });
  return out;
}
Spans by_scanner(const Llama3Pattern& pattern, std::string_view text) {
  Spans out;
  for_each_llama3_match(text, pattern, [&](size_t b, size_t e) { out.emplace_back(b, e); });
  return out;
}

// The varied corpus with a few invalid bytes (lone continuation bytes, truncated
// sequences, 0xFF) dropped in at random places.
std::string with_invalid_bytes(std::string text, uint64_t seed) {
  const char* bad[] = {"\x80", "\xFF", "\xE4\xBD", "\xC3", "\xED\xA0\x80", "\xF0\x9F\x98"};
  for (size_t at = seed % 97; at < text.size(); at += 50 + (at * 7919 + seed) % 400) text.insert(at, bad[at % 6]);
  return text;
}

}  // namespace

TEST_CASE("the Llama-3 scanner knows exactly its patterns", "[tokenizer]") {
  CHECK(recognize_llama3_pattern(kLlama3)->max_digits == 3);
  CHECK(recognize_llama3_pattern(kCl100k)->max_digits == 3);
  CHECK(recognize_llama3_pattern(kQwen2)->max_digits == 1);
  CHECK_FALSE(recognize_llama3_pattern(std::string(kLlama3) + "|x"));
  CHECK_FALSE(recognize_llama3_pattern(R"(\p{N}{1,3})"));
}

TEST_CASE("the Llama-3 scanner finds the regex's matches", "[tokenizer]") {
  std::vector<std::string> texts = {
      "", "a", " ", "\n", "  \n  \n  x", "\r\n\r\n", " \t\n y", "x  ", "x \xC2\xA0" "y", "\xC2\x85" "a", "a\xEF\xBB\xBF" "b",
      "I'm here, it's 2024!\n", "IT'S 'LL 'Ve 're 'x '1 ''s", "1234567 \xD9\xA1\xD9\xA2\xD9\xA3\xD9\xA4", "((x)) ...\n\n\n",
      " !!\r\n\r\n  foo", "\t\tbar", "   \xE2\x80\x83" "baz", "a\xFF" "b \xFF  c\n\xFF\n", "\xFF\xFF  ", "  \xFF",
      "\xE4\xBD" "a", "x \x80!", "'\xC5\xBF '\xE2\x84\xAA",
  };
  std::string varied;
  for (const std::string& d : test::varied_corpus(1 << 20, 31337)) varied += d;
  REQUIRE(varied.size() >= (1u << 20));
  texts.push_back(varied);
  texts.push_back(with_invalid_bytes(varied.substr(0, 1 << 18), 3));
  texts.push_back(test::random_bytes(1 << 16, 17));

  for (const char* pattern : {kLlama3, kCl100k, kQwen2}) {
    const Regex regex(pattern);
    const Llama3Pattern settings = *recognize_llama3_pattern(pattern);
    for (const std::string& text : texts) {
      const Spans expected = by_regex(regex, text), ours = by_scanner(settings, text);
      if (ours == expected) continue;
      size_t at = 0;
      while (at < ours.size() && at < expected.size() && ours[at] == expected[at]) ++at;
      const size_t byte = at < expected.size() ? expected[at].first : at < ours.size() ? ours[at].first : text.size();
      const size_t from = byte > 20 ? byte - 20 : 0;
      FAIL_CHECK(pattern << ": first difference at match " << at << " (byte " << byte << "): regex "
                         << (at < expected.size() ? std::to_string(expected[at].second) : "none") << " end, scanner "
                         << (at < ours.size() ? std::to_string(ours[at].second) : "none") << " end; text near it (hex): "
                         << [&] {
                              std::string hex;
                              char buf[4];
                              for (size_t i = from; i < std::min(text.size(), byte + 20); ++i) {
                                std::snprintf(buf, sizeof buf, "%02x ", uint8_t(text[i]));
                                hex += buf;
                              }
                              return hex;
                            }());
    }
  }
}

TEST_CASE("Llama-3 split speed, scanner and regex (one thread, printed, not asserted)", "[tokenizer]") {
  const Regex regex(kLlama3);
  const Llama3Pattern settings = *recognize_llama3_pattern(kLlama3);
  std::string varied;
  for (const std::string& d : test::varied_corpus(4 << 20, 12)) varied += d;
  const std::pair<const char*, std::string> cases[] = {{"English", test::english_corpus(4 << 20, 11)}, {"varied", varied}};
  for (const auto& [name, text] : cases) {
    auto best_seconds = [&](auto&& split) {
      double best = 1e9;
      for (int rep = 0; rep < 3; ++rep) {
        auto start = std::chrono::steady_clock::now();
        split();
        best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      }
      return best;
    };
    size_t n = 0;
    const double scanner = best_seconds([&] { for_each_llama3_match(text, settings, [&](size_t, size_t) { ++n; }); });
    const double regex_s = best_seconds([&] { regex.for_each_match(text, [&](size_t, size_t) { ++n; }); });
    const double mb = double(text.size()) / 1e6;
    std::printf("Llama-3 split, %s, %.1f MB: scanner %.1f MB/s, regex (PCRE2) %.1f MB/s\n", name, mb, mb / scanner,
                mb / regex_s);
    CHECK(n > 0);
  }
}
