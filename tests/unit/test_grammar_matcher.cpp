// The byte-level core of structured output: UTF-8 class patterns, lowering checks, the
// matcher, and token masks found by the trie walk against trying every token alone.
#include "base/error.hpp"
#include "grammar/grammar_matcher.hpp"
#include "grammar/grammar_program.hpp"
#include "grammar/token_grammar.hpp"
#include "grammar/utf8_ranges.hpp"
#include "support/splitmix_rng.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace mmb::grammar;
using mmb::testing::SplitMixRng;

namespace {

std::string utf8(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += char(cp);
  } else if (cp < 0x800) {
    s += char(0xC0 | (cp >> 6));
    s += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += char(0xE0 | (cp >> 12));
    s += char(0x80 | ((cp >> 6) & 0x3F));
    s += char(0x80 | (cp & 0x3F));
  } else {
    s += char(0xF0 | (cp >> 18));
    s += char(0x80 | ((cp >> 12) & 0x3F));
    s += char(0x80 | ((cp >> 6) & 0x3F));
    s += char(0x80 | (cp & 0x3F));
  }
  return s;
}

bool pattern_matches(const std::vector<Utf8Pattern>& patterns, const std::string& bytes) {
  for (const Utf8Pattern& p : patterns) {
    if (p.size() != bytes.size()) continue;
    bool ok = true;
    for (size_t i = 0; i < p.size() && ok; ++i)
      ok = uint8_t(bytes[i]) >= p[i].first && uint8_t(bytes[i]) <= p[i].last;
    if (ok) return true;
  }
  return false;
}

GrammarAst one_rule(Expr body) {
  GrammarAst ast;
  ast.rules.push_back({"root", std::move(body), "line 1, column 1"});
  return ast;
}

bool matches(const GrammarProgram& p, const std::string& text) {
  Matcher m(p);
  MatcherState s = m.start();
  return m.advance(s, text) && s.complete;
}

// {"n": <integer 0..99>, "tags": [<word>{0,3}]} with a JSON-ish free string word.
GrammarAst object_grammar() {
  GrammarAst ast;
  const Expr digit = Expr::char_class({{'0', '9'}});
  const Expr word_char = Expr::char_class({{'"', '"'}, {'\\', '\\'}, {0, 0x1F}}, true);
  const Expr word = Expr::sequence({Expr::literal("\""), Expr::repeat(word_char, 0, 8), Expr::literal("\"")});
  const Expr ws = Expr::repeat(Expr::char_class({{' ', ' '}}), 0, 1);
  Expr words = Expr::choice({Expr::literal(""), Expr::sequence({Expr::ref(1), Expr::repeat(Expr::sequence({Expr::literal(","), ws, Expr::ref(1)}), 0, 2)})});
  ast.rules.push_back({"root",
                       Expr::sequence({Expr::literal("{\"n\":"), ws, Expr::choice({digit, Expr::sequence({Expr::char_class({{'1', '9'}}), digit})}),
                                       Expr::literal(","), ws, Expr::literal("\"tags\":"), ws, Expr::literal("["), words,
                                       Expr::literal("]}")}),
                       "root"});
  ast.rules.push_back({"word", word, "word"});
  return ast;
}

}  // namespace

TEST_CASE("UTF-8 patterns of a class match exactly its code points", "[grammar]") {
  const std::vector<std::vector<CodepointRange>> classes = {
      {{'a', 'z'}}, {{0x80, 0x7FF}}, {{0x7F, 0x10000}}, {{0xE9, 0xE9}, {0x4E00, 0x9FA5}}, {{0x1F600, 0x1F64F}}, {{'"', '"'}, {'\\', '\\'}}};
  for (const auto& ranges : classes)
    for (bool negated : {false, true}) {
      const std::vector<Utf8Pattern> patterns = utf8_patterns(ranges, negated);
      for (uint32_t cp = 0; cp <= 0x10FFFF; cp += (cp < 0x20000 ? 1 : 97)) {
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        bool in = false;
        for (CodepointRange r : ranges) in = in || (cp >= r.first && cp <= r.last);
        INFO("code point " << cp << " negated " << negated);
        REQUIRE(pattern_matches(patterns, utf8(cp)) == (in != negated));
      }
    }
}

TEST_CASE("The matcher follows literals, classes, choices and bounded repeats", "[grammar]") {
  const GrammarProgram p(object_grammar());
  CHECK(matches(p, R"({"n":7,"tags":[]})"));
  CHECK(matches(p, R"({"n": 42, "tags":["a","bé"]})"));
  CHECK(matches(p, R"({"n":0,"tags":["x", "y","日本"]})"));
  CHECK_FALSE(matches(p, R"({"n":07,"tags":[]})"));
  CHECK_FALSE(matches(p, R"({"n":100,"tags":[]})"));
  CHECK_FALSE(matches(p, R"({"n":1,"tags":["a","b","c","d"]})"));
  CHECK_FALSE(matches(p, R"({"n":1,"tags":["123456789"]})"));
  CHECK_FALSE(matches(p, R"({"n":1,"tags":[]} )"));
  Matcher m(p);
  MatcherState s = m.start();
  CHECK(m.advance(s, R"({"n":1)"));
  CHECK_FALSE(s.complete);
  const MatcherState before = s;
  CHECK_FALSE(m.advance(s, "x"));
  CHECK(s == before);
}

TEST_CASE("Unbounded repeats keep the stack flat", "[grammar]") {
  const GrammarProgram p(one_rule(Expr::sequence({Expr::repeat(Expr::literal("ab"), 1, kUnbounded), Expr::literal("!")})));
  Matcher m(p);
  MatcherState s = m.start();
  for (int i = 0; i < 10000; ++i) REQUIRE(m.advance(s, "ab"));
  CHECK(s.stacks.size() < 16);
  CHECK(m.advance(s, "!"));
  CHECK(s.complete);
  CHECK_FALSE(s.has_stacks());
}

TEST_CASE("Lowering refuses left recursion and rules that can never finish", "[grammar]") {
  GrammarAst left;
  left.rules.push_back({"expr", Expr::choice({Expr::sequence({Expr::ref(1), Expr::literal("+1")}), Expr::literal("1")}), "line 1, column 1"});
  left.rules.push_back({"term", Expr::sequence({Expr::repeat(Expr::literal(" "), 0, 1), Expr::ref(0)}), "line 2, column 1"});
  CHECK_THROWS_WITH(GrammarProgram(left), Catch::Contains("left-recursive") && Catch::Contains("expr"));

  GrammarAst endless;
  endless.rules.push_back({"root", Expr::choice({Expr::literal("a"), Expr::sequence({Expr::literal("b"), Expr::ref(1)})}), "line 1, column 1"});
  endless.rules.push_back({"loop", Expr::sequence({Expr::literal("c"), Expr::ref(1)}), "line 2, column 1"});
  CHECK_THROWS_WITH(GrammarProgram(endless), Catch::Contains("'loop' (line 2, column 1) can never finish"));

  CHECK_THROWS_WITH(GrammarProgram(one_rule(Expr::char_class({}, false))), Catch::Contains("matches no character"));
}

TEST_CASE("Token masks from the trie walk equal trying every token alone", "[grammar]") {
  SplitMixRng rng(7);
  // A 4k vocabulary of random pieces over the bytes the grammar uses and some it does
  // not, 1 to 6 bytes long, plus every single byte (so a path can always go on).
  const std::string alphabet = "{}[]\":, 0123456789abcxyz\\\xC3\xA9\xE6\x97\xA5";
  Vocabulary v;
  for (int b = 0; b < 256; ++b) v.token_bytes.push_back(std::string(1, char(b)));
  while (v.token_bytes.size() < 4096) {
    std::string t;
    const uint32_t len = 1 + rng.below(6);
    for (uint32_t i = 0; i < len; ++i) t += alphabet[rng.below(uint32_t(alphabet.size()))];
    v.token_bytes.push_back(t);
  }
  v.token_bytes.push_back("");  // a token without text: never allowed
  v.stop_tokens.push_back(int32_t(v.token_bytes.size()));
  v.token_bytes.push_back("");
  v.vocab_size = uint32_t(v.token_bytes.size());
  auto g = std::make_shared<const TokenGrammar>(GrammarProgram(object_grammar()), v, 1 << 20);

  Matcher brute(g->program());
  size_t checked_states = 0, completed = 0;
  for (int walk = 0; walk < 40; ++walk) {
    GrammarCursor cursor(g);
    for (int step = 0; step < 60; ++step) {
      const TokenMask& mask = cursor.mask();
      std::vector<int32_t> allowed;
      for (int32_t t = 0; t < int32_t(v.vocab_size); ++t) {
        MatcherState s = cursor.state();
        const bool expect = !v.token_bytes[size_t(t)].empty() && brute.advance(s, v.token_bytes[size_t(t)]);
        INFO("walk " << walk << " step " << step << " token " << t << " '" << v.token_bytes[size_t(t)] << "'");
        REQUIRE(mask.allows(t) == expect);
        if (expect) allowed.push_back(t);
      }
      ++checked_states;
      CHECK(cursor.allows(v.stop_tokens[0]) == cursor.can_end());
      if (allowed.empty()) {
        REQUIRE(cursor.can_end());
        ++completed;
        break;
      }
      REQUIRE(cursor.accept(allowed[rng.below(uint32_t(allowed.size()))]));
    }
  }
  CHECK(checked_states > 200);
  CHECK(completed > 0);
  CHECK(g->cache_stats().hits > 0);
}

TEST_CASE("A saved grammar state loads into its own grammar only", "[grammar]") {
  Vocabulary v;
  for (int b = 0; b < 256; ++b) v.token_bytes.push_back(std::string(1, char(b)));
  v.vocab_size = 256;
  auto g = std::make_shared<const TokenGrammar>(GrammarProgram(object_grammar()), v, 1 << 20);
  GrammarCursor a(g);
  for (char c : std::string(R"({"n": 4,"tags":["a)")) REQUIRE(a.accept(uint8_t(c)));
  const std::string blob = a.save();
  GrammarCursor b(g);
  b.load(blob);
  CHECK(b.state() == a.state());
  std::string damaged = blob;
  damaged.back() ^= 0x55;
  GrammarCursor c(g);
  CHECK_THROWS(c.load(damaged));
  CHECK(c.state() == g->start());
  auto other = std::make_shared<const TokenGrammar>(GrammarProgram(one_rule(Expr::literal("x"))), v, 0);
  GrammarCursor d(other);
  CHECK_THROWS_AS(d.load(blob), mmb::Error);
}
