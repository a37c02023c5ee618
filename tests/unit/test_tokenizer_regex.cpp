// The tokenizer's regex engine (PCRE2 behind mmb::Regex): tokenizer.json patterns
// match as the reference encoder (tokenizers.js) runs them, invalid UTF-8 is matched
// around rather than rejected, bad patterns are format errors, and many threads can
// share one compiled pattern. Also the Llama-3 split speed, printed.
#include <catch2/catch.hpp>

#include "base/error.hpp"
#include "support/text_corpus.hpp"
#include "tokenizer/gpt2_pretokenizer.hpp"
#include "tokenizer/regex.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

using namespace mmb;

namespace {

std::vector<std::string> matches(const Regex& regex, std::string_view text) {
  std::vector<std::string> out;
  regex.for_each_match(text, [&](size_t begin, size_t end) { out.emplace_back(text.substr(begin, end - begin)); });
  return out;
}
std::vector<std::string> matches(std::string_view pattern, std::string_view text) { return matches(Regex(pattern), text); }

using V = std::vector<std::string>;

const char* kLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

}  // namespace

TEST_CASE("regex splits text as the Llama-3 pattern does in the reference", "[tokenizer]") {
  Regex llama3(kLlama3);
  CHECK(matches(llama3, "Hello WORLD'S 12345  x\n\n y") ==
        V{"Hello", " WORLD", "'S", " ", "123", "45", " ", " x", "\n\n", " y"});
  CHECK(matches(llama3, "I'm here, it's 2024!\n") == V{"I", "'m", " here", ",", " it", "'s", " ", "202", "4", "!\n"});
  CHECK(matches(llama3, "\xC3\xA9t\xC3\xA9 \xE4\xBD\xA0\xE5\xA5\xBD") == V{"\xC3\xA9t\xC3\xA9", " \xE4\xBD\xA0\xE5\xA5\xBD"});
  CHECK(llama3.pattern() == kLlama3);
}

TEST_CASE("regex escapes mean what the reference's rewrite makes them", "[tokenizer]") {
  // \s is Unicode's White_Space: U+0085 yes, U+FEFF no.
  CHECK(matches(R"(\s+)", "a\xC2\x85\xEF\xBB\xBF" "b\xE3\x80\x80") == V{"\xC2\x85", "\xE3\x80\x80"});
  // \d is any decimal digit (Arabic-Indic too), \w the Unicode word class.
  CHECK(matches(R"(\d+)", "x12\xD9\xA3y") == V{"12\xD9\xA3"});
  CHECK(matches(R"(\w+)", "na\xC3\xAFve_1 \xCE\xB1\xCE\xB2") == V{"na\xC3\xAFve_1", "\xCE\xB1\xCE\xB2"});
  // (?i:...) folds ASCII letters only: long s (U+017F) is not an s.
  CHECK(matches(R"((?i:'s|'ll))", "'S 'Ll '\xC5\xBF 's") == V{"'S", "'Ll", "'s"});
  CHECK(matches(R"('(?i:[sdmt]|ll))", "'S 'D '\xC5\xBF 'm 'LL") == V{"'S", "'D", "'m", "'LL"});
  CHECK(matches(R"((?i:[^a-c]+))", "xAyBz") == V{"x", "y", "z"});
  // A possessive ?+ runs greedy (so `a?+a` matches "a"), and {1,3}+ repeats the group.
  CHECK(matches(R"(a?+a)", "a") == V{"a"});
  CHECK(matches(R"(\p{N}{1,3}+)", "12345 6") == V{"12345", "6"});
  CHECK(matches(R"([^\r\n\p{L}\p{N}]?+\p{L}+)", " hello") == V{" hello"});
  // . is anything but \n; ^ and $ are per line.
  CHECK(matches(R"(^.+$)", "ab\ncd\r\n") == V{"ab", "cd\r"});
  // Bloom's class with alternation inside is flattened (its brackets and bar become
  // members, as in Rust's reading of it).
  CHECK(matches(R"([^(\s|[.,!?…。，、।۔،])]+)", "Hi, there(x)|y!") == V{"Hi", "there", "x", "y"});
  CHECK(matches(R"(\p{Han}+)", "ab\xE4\xBD\xA0\xE5\xA5\xBD") == V{"\xE4\xBD\xA0\xE5\xA5\xBD"});
}

TEST_CASE("regex empty matches advance one character", "[tokenizer]") {
  std::vector<std::pair<size_t, size_t>> spans;
  Regex("x*").for_each_match("a\xC3\xA9x", [&](size_t b, size_t e) { spans.emplace_back(b, e); });
  CHECK(spans == std::vector<std::pair<size_t, size_t>>{{0, 0}, {1, 1}, {3, 4}, {4, 4}});
}

TEST_CASE("regex matches around invalid UTF-8 bytes", "[tokenizer]") {
  CHECK(matches(R"(\p{L}+)", "ab\xFF" "cd\xC3") == V{"ab", "cd"});
  // An invalid byte matches no class, not even a negated one or the dot.
  CHECK(matches(R"([^a]+)", "b\xFF" "c") == V{"b", "c"});
  CHECK(matches(R"(.+)", "\x80x\xE2\x82") == V{"x"});
  // A truncated sequence does not swallow the valid character after it.
  CHECK(matches(R"(\p{L})", "\xE4\xBD" "a") == V{"a"});
  // Every byte is visited: the Llama-3 pattern over random bytes ends.
  const std::string noise = test::random_bytes(1 << 16, 5);
  size_t covered = 0;
  Regex(kLlama3).for_each_match(noise, [&](size_t b, size_t e) { covered += e - b; });
  CHECK(covered <= noise.size());
}

TEST_CASE("regex rejects bad patterns with a format error naming the offset", "[tokenizer]") {
  for (const char* bad : {"(ab", "[a-", "a{2,1}", "\\p{NoSuchProperty}"}) {
    try {
      Regex r(bad);
      FAIL("accepted " << bad);
    } catch (const Error& e) {
      CHECK(e.status() == MMB_ERR_FORMAT);
      CHECK(std::string(e.what()).find("offset") != std::string::npos);
    }
  }
}

TEST_CASE("regex compiles any pattern or refuses it with a format error", "[tokenizer]") {
  // Random patterns from regex syntax: the translation never crashes or throws
  // anything but mmb::Error, and what compiles can be run.
  const std::vector<std::string> parts = {"(", ")", "[", "]", "[^", "{", "}", "{2}", "{1,3}", "{,2}", "+", "*", "?", "|",
                                          "\\", "\\s", "\\S", "\\d", "\\w", "\\b", "\\p{L}", "\\p{Word}", "\\x{41}",
                                          "\\x{zz}", "\\x4", "\\u00e9", "(?i:", "(?>", "(?=", "(?<!", "[:alpha:]", "^", "$",
                                          ".", "a", "S", "\xC3\xA9", "-", "&&", "[^(\\s|[.,])]"};
  uint64_t state = 12345;
  auto next = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return size_t(state >> 33);
  };
  size_t compiled = 0;
  for (int n = 0; n < 3000; ++n) {
    std::string pattern;
    for (size_t k = next() % 8 + 1; k > 0; --k) pattern += parts[next() % parts.size()];
    try {
      Regex r(pattern);
      matches(r, "Hello, S\xC3\xA9 a-z 12 \xFF");
      ++compiled;
    } catch (const Error& e) {
      CHECK(e.status() == MMB_ERR_FORMAT);
    }
  }
  CHECK(compiled > 100);
}

TEST_CASE("regex survives deep backtracking and long subjects", "[tokenizer]") {
  // A pattern whose JIT stack use grows with the subject: long runs still match
  // (the interpreter takes over when the JIT stack is exhausted).
  std::string text(1 << 20, 'a');
  text += "b";
  CHECK(matches(R"((a|b)+b)", text).size() == 1);
  CHECK(matches(R"((?:a|ab)*b)", text) == V{text});
}

TEST_CASE("regex is safe from many threads at once", "[tokenizer][threads]") {
  const Regex llama3(kLlama3);
  std::string text;
  for (const std::string& d : test::varied_corpus(1 << 18, 77)) text += d;
  const std::vector<std::string> expected = matches(llama3, text);
  std::vector<int> same(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] { same[size_t(t)] = matches(llama3, text) == expected; });
  for (std::thread& th : threads) th.join();
  CHECK(same == std::vector<int>{1, 1, 1, 1});
}

TEST_CASE("regex split speed (Llama-3 pattern, one thread, printed, not asserted)", "[tokenizer]") {
  const Regex llama3(kLlama3);
  // GPT-2's pattern both ways, to see whether a hand-written scanner beats the JIT.
  const Regex gpt2(R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)");
  struct Case {
    const char* name;
    std::string text;
  };
  std::vector<Case> cases;
  cases.push_back({"English", test::english_corpus(4 << 20, 11)});
  std::string varied;
  for (const std::string& d : test::varied_corpus(4 << 20, 12)) varied += d;
  cases.push_back({"varied", std::move(varied)});
  auto report = [](const char* what, const Case& c, auto&& split) {
    size_t pieces = 0;
    double best = 1e9;
    for (int rep = 0; rep < 3; ++rep) {
      pieces = 0;
      auto start = std::chrono::steady_clock::now();
      split(c.text, pieces);
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    std::printf("%s, %s: %.1f MB in %.3f s = %.1f MB/s (%zu pieces)\n", what, c.name, double(c.text.size()) / 1e6, best,
                double(c.text.size()) / 1e6 / best, pieces);
    CHECK(pieces > 0);
  };
  for (const Case& c : cases) {
    report("regex split, Llama-3 pattern", c,
           [&](const std::string& t, size_t& n) { llama3.for_each_match(t, [&](size_t, size_t) { ++n; }); });
    report("regex split, GPT-2 pattern", c,
           [&](const std::string& t, size_t& n) { gpt2.for_each_match(t, [&](size_t, size_t) { ++n; }); });
    report("hand-written GPT-2 scanner", c, [&](const std::string& t, size_t& n) { split_gpt2(t, [&](std::string_view) { ++n; }); });
  }
}
