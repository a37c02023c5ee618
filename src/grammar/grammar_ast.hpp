// What every grammar front-end produces: named rules whose bodies are expressions over
// Unicode text. GBNF text, JSON Schemas and choice lists are all parsed into this one
// form; grammar_program.hpp then lowers it to the byte-level program the matcher runs
// (UTF-8 character classes become byte sequences, bounded repeats are unrolled, and the
// checks that make a grammar usable: every rule defined, none left-recursive, every
// rule able to finish).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mmb::grammar {

// An inclusive range of Unicode scalar values (code points, surrogates excluded).
struct CodepointRange {
  uint32_t first = 0;
  uint32_t last = 0;
};

constexpr uint32_t kUnbounded = UINT32_MAX;  // Repeat::max with no upper bound

struct Expr {
  enum class Kind : uint8_t {
    Literal,    // `text`: exact UTF-8 bytes (may be empty: matches nothing, always succeeds)
    CharClass,  // one code point in `ranges` (or, when `negated`, in none of them)
    RuleRef,    // the rule with index `rule`
    Sequence,   // `items` one after another (empty: matches the empty string)
    Choice,     // any one of `items` (at least one)
    Repeat,     // `items[0]` between `min` and `max` times (max may be kUnbounded)
  };
  Kind kind = Kind::Sequence;
  std::string text;
  std::vector<CodepointRange> ranges;
  bool negated = false;
  uint32_t rule = 0;
  std::vector<Expr> items;
  uint32_t min = 0;
  uint32_t max = 0;

  static Expr literal(std::string bytes) {
    Expr e;
    e.kind = Kind::Literal;
    e.text = std::move(bytes);
    return e;
  }
  static Expr char_class(std::vector<CodepointRange> r, bool negate = false) {
    Expr e;
    e.kind = Kind::CharClass;
    e.ranges = std::move(r);
    e.negated = negate;
    return e;
  }
  static Expr ref(uint32_t rule_index) {
    Expr e;
    e.kind = Kind::RuleRef;
    e.rule = rule_index;
    return e;
  }
  static Expr sequence(std::vector<Expr> parts) {
    Expr e;
    e.kind = Kind::Sequence;
    e.items = std::move(parts);
    return e;
  }
  static Expr choice(std::vector<Expr> alternatives) {
    Expr e;
    e.kind = Kind::Choice;
    e.items = std::move(alternatives);
    return e;
  }
  static Expr repeat(Expr item, uint32_t lo, uint32_t hi) {
    Expr e;
    e.kind = Kind::Repeat;
    e.items.push_back(std::move(item));
    e.min = lo;
    e.max = hi;
    return e;
  }
};

struct Rule {
  std::string name;
  Expr body;
  // Where the rule came from, for errors found while lowering: "line 3, column 1" for
  // grammar text, a JSON pointer ("/properties/target") for a schema.
  std::string where;
};

struct GrammarAst {
  std::vector<Rule> rules;
  uint32_t root = 0;  // index into rules
};

}  // namespace mmb::grammar
