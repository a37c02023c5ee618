#include "grammar/gbnf_parser.hpp"

#include "base/error.hpp"
#include "tokenizer/unicode_text.hpp"

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace mmb::grammar {
namespace {

constexpr uint32_t kMaxRepeatCount = 100000;
// Deeper nesting is refused rather than risked on the stack, here and in every later
// walk over the expressions.
constexpr uint32_t kMaxNesting = 256;
constexpr uint32_t kMaxScalar = 0x10FFFF;
constexpr uint32_t kSurrogateFirst = 0xD800;
constexpr uint32_t kSurrogateLast = 0xDFFF;
constexpr size_t kNone = SIZE_MAX;

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' || c == '-';
}

std::string code_point_name(uint32_t cp) {
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "U+%04X", unsigned(cp));
  return buffer;
}

// An expression and how deeply it nests (a literal, class or reference is 1).
struct Node {
  Expr expr;
  uint32_t depth = 1;
};

class GbnfParser {
 public:
  explicit GbnfParser(std::string_view text) : text_(text) {}

  GrammarAst parse(std::string_view root_name) {
    check_utf8();
    skip_space(true);
    if (at_end()) fail_at(0, "the grammar is empty: no rule");
    while (!at_end()) parse_rule();
    return finish(root_name);
  }

 private:
  // A rule name, from its first mention (a reference may come before the definition).
  struct Symbol {
    std::string name;
    size_t first_reference = kNone;
    size_t definition = kNone;
    Expr body;
  };

  std::string_view text_;
  size_t pos_ = 0;
  std::vector<Symbol> symbols_;
  std::unordered_map<std::string, uint32_t> by_name_;

  // Line and column of a byte offset. Rules are located in text order, so the count goes
  // on from the last offset asked for rather than from the start each time.
  mutable size_t counted_to_ = 0;
  mutable size_t line_ = 1;
  mutable size_t column_ = 1;

  std::string where(size_t offset) const {
    if (offset < counted_to_) counted_to_ = 0, line_ = 1, column_ = 1;
    for (; counted_to_ < offset && counted_to_ < text_.size(); ++counted_to_) {
      const size_t i = counted_to_;
      const char c = text_[i];
      if (c == '\n' || (c == '\r' && (i + 1 == text_.size() || text_[i + 1] != '\n'))) {
        ++line_;
        column_ = 1;
      } else if (c != '\r' && (uint8_t(c) & 0xC0) != 0x80) {
        ++column_;  // a character's first byte
      }
    }
    return cat("line ", line_, ", column ", column_);
  }

  template <typename... Parts>
  [[noreturn]] void fail_at(size_t offset, const Parts&... parts) const {
    fail(MMB_ERR_GRAMMAR, where(offset), ": ", parts...);
  }

  // What stands at the current position, for "expected ..., found ..." messages.
  std::string found() const {
    if (at_end()) return "the end of the text";
    const char c = text_[pos_];
    if (c == '\n' || c == '\r') return "the end of the line";
    if (uint8_t(c) > 0x20 && uint8_t(c) < 0x7F) return cat("'", c, "'");
    const Utf8Char ch = decode_utf8(text_, pos_);
    if (ch.cp < 0x20 || ch.cp == 0x7F) return code_point_name(uint32_t(ch.cp));
    return cat("'", text_.substr(pos_, ch.length), "'");
  }

  bool at_end() const { return pos_ >= text_.size(); }
  bool at(char c) const { return !at_end() && text_[pos_] == c; }

  void check_utf8() const {
    for (size_t i = 0; i < text_.size();) {
      const Utf8Char ch = decode_utf8(text_, i);
      if (ch.cp < 0) fail_at(i, "invalid UTF-8");
      i += ch.length;
    }
  }

  // Spaces, tabs and comments; line ends too where a rule may go on to the next line.
  void skip_space(bool newline_ok) {
    while (!at_end()) {
      const char c = text_[pos_];
      if (c == ' ' || c == '\t' || (newline_ok && (c == '\n' || c == '\r'))) {
        ++pos_;
      } else if (c == '#') {
        while (!at_end() && text_[pos_] != '\n' && text_[pos_] != '\r') ++pos_;
      } else {
        break;
      }
    }
  }

  std::string_view parse_name() {
    const size_t start = pos_;
    while (!at_end() && is_name_char(text_[pos_])) ++pos_;
    return text_.substr(start, pos_ - start);
  }

  uint32_t symbol(std::string_view name) {
    auto [it, added] = by_name_.try_emplace(std::string(name), uint32_t(symbols_.size()));
    if (added) symbols_.push_back(Symbol{std::string(name), kNone, kNone, {}});
    return it->second;
  }

  void parse_rule() {
    const size_t start = pos_;
    if (!is_name_char(text_[pos_])) fail_at(pos_, "expected a rule name, found ", found());
    const std::string_view name = parse_name();
    const uint32_t index = symbol(name);
    if (symbols_[index].definition != kNone) {
      fail_at(start, "rule '", name, "' is defined twice (first at ", where(symbols_[index].definition), ")");
    }
    symbols_[index].definition = start;
    skip_space(false);
    if (text_.substr(pos_, 3) != "::=") fail_at(pos_, "expected '::=' after the rule name '", name, "', found ", found());
    pos_ += 3;
    skip_space(true);
    Node body = parse_alternates(false, 0);
    if (!at_end()) {
      if (!at('\n') && !at('\r')) fail_at(pos_, "expected an item, '|' or the end of the line, found ", found());
      pos_ += text_.substr(pos_, 2) == "\r\n" ? 2 : 1;
    }
    skip_space(true);
    symbols_[index].body = std::move(body.expr);
  }

  // Several parts become one Sequence or Choice; a single part stands for itself.
  Node combine(std::vector<Node> parts, bool is_choice, size_t start) const {
    if (parts.size() == 1) return std::move(parts[0]);
    uint32_t depth = 0;
    std::vector<Expr> exprs;
    exprs.reserve(parts.size());
    for (Node& part : parts) {
      depth = std::max(depth, part.depth);
      exprs.push_back(std::move(part.expr));
    }
    if (depth + 1 > kMaxNesting) fail_at(start, "expressions nested deeper than ", kMaxNesting, " levels");
    return {is_choice ? Expr::choice(std::move(exprs)) : Expr::sequence(std::move(exprs)), depth + 1};
  }

  Node parse_alternates(bool nested, uint32_t parens) {
    const size_t start = pos_;
    std::vector<Node> alternatives;
    alternatives.push_back(parse_sequence(nested, parens));
    while (at('|')) {
      ++pos_;
      skip_space(true);
      alternatives.push_back(parse_sequence(nested, parens));
    }
    return combine(std::move(alternatives), true, start);
  }

  // Items up to something that is none (a `|`, a `)`, a line end outside parentheses).
  Node parse_sequence(bool nested, uint32_t parens) {
    const size_t start = pos_;
    std::vector<Node> items;
    while (!at_end()) {
      const size_t item_at = pos_;
      const char c = text_[pos_];
      if (c == '"') {
        items.push_back(parse_literal());
      } else if (c == '[') {
        items.push_back(parse_class());
      } else if (c == '.') {
        ++pos_;
        items.push_back({Expr::char_class({}, true), 1});
      } else if (is_name_char(c)) {
        const uint32_t index = symbol(parse_name());
        if (symbols_[index].first_reference == kNone) symbols_[index].first_reference = item_at;
        items.push_back({Expr::ref(index), 1});
      } else if (c == '(') {
        if (parens + 1 > kMaxNesting) fail_at(item_at, "parentheses nested deeper than ", kMaxNesting, " levels");
        ++pos_;
        skip_space(true);
        items.push_back(parse_alternates(true, parens + 1));
        if (!at(')')) {
          fail_at(pos_, "expected an item, '|' or ')' closing the group at ", where(item_at), ", found ", found());
        }
        ++pos_;
      } else if (c == '*' || c == '+' || c == '?') {
        ++pos_;
        repeat_last(items, item_at, c == '+' ? 1 : 0, c == '?' ? 1 : kUnbounded);
      } else if (c == '{') {
        parse_bounds(items, nested);
      } else {
        break;
      }
      skip_space(nested);
    }
    if (items.empty()) return {Expr::sequence({}), 1};
    return combine(std::move(items), false, start);
  }

  void repeat_last(std::vector<Node>& items, size_t op_at, uint32_t lo, uint32_t hi) const {
    if (items.empty()) fail_at(op_at, "expected an item before '", text_[op_at], "'");
    Node& last = items.back();
    if (last.depth + 1 > kMaxNesting) fail_at(op_at, "expressions nested deeper than ", kMaxNesting, " levels");
    last.expr = Expr::repeat(std::move(last.expr), lo, hi);
    ++last.depth;
  }

  // {m}, {m,}, {m,n} or {,n} after an item.
  void parse_bounds(std::vector<Node>& items, bool nested) {
    const size_t open = pos_;
    if (items.empty()) fail_at(open, "expected an item before '{'");
    ++pos_;
    skip_space(nested);
    const bool has_min = !at_end() && is_digit(text_[pos_]);
    if (!has_min && !at(',')) fail_at(pos_, "expected a number or ',' after '{', found ", found());
    const uint32_t lo = has_min ? parse_count() : 0;
    skip_space(nested);
    uint32_t hi = lo;
    if (has_min && at('}')) {
      ++pos_;
    } else if (at(',')) {
      ++pos_;
      skip_space(nested);
      hi = kUnbounded;
      if (!at_end() && is_digit(text_[pos_])) {
        hi = parse_count();
        skip_space(nested);
      }
      if (!at('}')) fail_at(pos_, "expected a number or '}' in the repetition, found ", found());
      ++pos_;
    } else {
      fail_at(pos_, "expected ',' or '}' in the repetition, found ", found());
    }
    if (hi != kUnbounded && lo > hi) {
      fail_at(open, "repetition {", lo, ",", hi, "} has its minimum above its maximum");
    }
    repeat_last(items, open, lo, hi);
  }

  uint32_t parse_count() {
    const size_t start = pos_;
    uint32_t value = 0;
    while (!at_end() && is_digit(text_[pos_])) {
      value = value * 10 + uint32_t(text_[pos_] - '0');
      if (value > kMaxRepeatCount) fail_at(start, "repetition count above ", kMaxRepeatCount);
      ++pos_;
    }
    return value;
  }

  Node parse_literal() {
    const size_t open = pos_++;
    std::string bytes;
    while (!at('"')) {
      if (at_end()) fail_at(open, "unterminated string literal");
      append_utf8(int32_t(parse_char()), bytes);
    }
    ++pos_;
    return {Expr::literal(std::move(bytes)), 1};
  }

  Node parse_class() {
    const size_t open = pos_++;
    const bool negated = at('^');
    if (negated) ++pos_;
    std::vector<CodepointRange> ranges;
    while (!at(']')) {
      if (at_end()) fail_at(open, "unterminated character class");
      const size_t range_at = pos_;
      const uint32_t first = parse_char();
      uint32_t last = first;
      // As in llama.cpp a '-' before the closing ']' is a character of its own.
      if (at('-') && pos_ + 1 < text_.size() && text_[pos_ + 1] != ']') {
        ++pos_;
        last = parse_char();
        if (last < first) {
          fail_at(range_at, "character range ", code_point_name(first), "-", code_point_name(last), " is reversed");
        }
      }
      add_range(ranges, first, last);
    }
    ++pos_;
    return {Expr::char_class(std::move(ranges), negated), 1};
  }

  // Ranges hold scalar values only: one that spans the surrogates is cut in two.
  static void add_range(std::vector<CodepointRange>& ranges, uint32_t first, uint32_t last) {
    if (first <= kSurrogateLast && last >= kSurrogateFirst) {
      if (first < kSurrogateFirst) ranges.push_back({first, kSurrogateFirst - 1});
      if (last > kSurrogateLast) ranges.push_back({kSurrogateLast + 1, last});
      return;
    }
    ranges.push_back({first, last});
  }

  // One character of a literal or class, or an escape.
  uint32_t parse_char() {
    const size_t start = pos_;
    if (text_[pos_] != '\\') {
      const Utf8Char ch = decode_utf8(text_, pos_);  // valid: checked up front
      pos_ += ch.length;
      return uint32_t(ch.cp);
    }
    if (pos_ + 1 == text_.size()) fail_at(start, "bad escape: '\\' at the end of the text");
    const char e = text_[pos_ + 1];
    pos_ += 2;
    switch (e) {
      case 'n': return '\n';
      case 'r': return '\r';
      case 't': return '\t';
      case '\\': case '"': case '\'': case '[': case ']': return uint8_t(e);
      case 'x': return parse_hex(start, 2);
      case 'u': return parse_hex(start, 4);
      case 'U': return parse_hex(start, 8);
      default: {
        const size_t length = decode_utf8(text_, pos_ - 1).length;
        fail_at(start, "bad escape '\\", text_.substr(pos_ - 1, length), "'");
      }
    }
  }

  uint32_t parse_hex(size_t start, int digits) {
    uint32_t value = 0;
    for (int i = 0; i < digits; ++i, ++pos_) {
      const char c = at_end() ? '\0' : text_[pos_];
      uint32_t digit = 0;
      if (is_digit(c)) {
        digit = uint32_t(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        digit = uint32_t(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        digit = uint32_t(c - 'A' + 10);
      } else {
        fail_at(start, "bad escape: '\\", text_[start + 1], "' takes ", digits, " hex digits");
      }
      value = value * 16 + digit;
    }
    if (value > kMaxScalar || (value >= kSurrogateFirst && value <= kSurrogateLast)) {
      fail_at(start, "bad escape: ", code_point_name(value), " is not a Unicode scalar value");
    }
    return value;
  }

  // Every name defined and the root present; rules renumbered in definition order.
  GrammarAst finish(std::string_view root_name) {
    size_t undefined = kNone;
    for (size_t i = 0; i < symbols_.size(); ++i) {
      if (symbols_[i].definition != kNone) continue;
      if (undefined == kNone || symbols_[i].first_reference < symbols_[undefined].first_reference) undefined = i;
    }
    if (undefined != kNone) {
      fail_at(symbols_[undefined].first_reference, "undefined rule '", symbols_[undefined].name, "'");
    }
    const auto root = by_name_.find(std::string(root_name));
    if (root == by_name_.end()) fail_at(0, "no rule named '", root_name, "'");

    std::vector<uint32_t> order(symbols_.size());
    std::iota(order.begin(), order.end(), 0u);
    std::sort(order.begin(), order.end(),
              [&](uint32_t a, uint32_t b) { return symbols_[a].definition < symbols_[b].definition; });
    std::vector<uint32_t> renumbered(symbols_.size());
    for (uint32_t i = 0; i < order.size(); ++i) renumbered[order[i]] = i;

    GrammarAst ast;
    ast.root = renumbered[root->second];
    for (uint32_t old_index : order) {
      Symbol& s = symbols_[old_index];
      renumber(s.body, renumbered);
      ast.rules.push_back(Rule{std::move(s.name), std::move(s.body), where(s.definition)});
    }
    return ast;
  }

  static void renumber(Expr& e, const std::vector<uint32_t>& renumbered) {
    if (e.kind == Expr::Kind::RuleRef) e.rule = renumbered[e.rule];
    for (Expr& item : e.items) renumber(item, renumbered);
  }
};

}  // namespace

GrammarAst parse_gbnf(std::string_view text, std::string_view root_name) {
  return GbnfParser(text).parse(root_name);
}

}  // namespace mmb::grammar
