#include "chat/jinja_lexer.hpp"

#include "chat/jinja_text.hpp"

#include <array>
#include <cstdint>
#include <utility>

namespace mmb::jinja {
namespace {

// Text with, for every byte, the offset in the original source it came from.
struct Mapped {
  std::string text;
  std::vector<size_t> origin;
  size_t end_origin = 0;

  void push(char c, size_t from) {
    text += c;
    origin.push_back(from);
  }
  size_t at(size_t i) const { return i < origin.size() ? origin[i] : end_origin; }
};

bool starts_line(std::string_view s, size_t i) {
  if (i == 0) return true;
  const char p = s[i - 1];
  if (p == '\n' || p == '\r') return true;
  // U+2028 and U+2029 (E2 80 A8 / E2 80 A9) also end a line in JavaScript's regexes.
  return i >= 3 && s.substr(i - 3, 2) == "\xE2\x80" && (s[i - 1] == '\xA8' || s[i - 1] == '\xA9');
}

// transformers' trim_blocks / lstrip_blocks and the one dropped final newline.
Mapped preprocess(std::string_view source) {
  Mapped in;
  in.end_origin = source.size();
  for (size_t i = 0; i < source.size(); ++i) in.push(source[i], i);
  if (!in.text.empty() && in.text.back() == '\n') {
    in.text.pop_back();
    in.origin.pop_back();
  }

  // lstrip_blocks: /^[ \t]*({[#%-])/gm -> "$1"
  Mapped lstripped;
  lstripped.end_origin = in.end_origin;
  const std::string& s = in.text;
  for (size_t i = 0; i < s.size();) {
    if (starts_line(s, i)) {
      size_t j = i;
      while (j < s.size() && (s[j] == ' ' || s[j] == '\t')) ++j;
      if (j + 1 < s.size() && s[j] == '{' && (s[j + 1] == '#' || s[j + 1] == '%' || s[j + 1] == '-')) {
        lstripped.push(s[j], in.at(j));
        lstripped.push(s[j + 1], in.at(j + 1));
        i = j + 2;
        continue;
      }
    }
    lstripped.push(s[i], in.at(i));
    ++i;
  }

  // trim_blocks: /([#%-]})\n/g -> "$1"
  Mapped trimmed;
  trimmed.end_origin = in.end_origin;
  const std::string& t = lstripped.text;
  for (size_t i = 0; i < t.size();) {
    if (i + 2 < t.size() && (t[i] == '#' || t[i] == '%' || t[i] == '-') && t[i + 1] == '}' && t[i + 2] == '\n') {
      trimmed.push(t[i], lstripped.at(i));
      trimmed.push(t[i + 1], lstripped.at(i + 1));
      i += 3;
      continue;
    }
    trimmed.push(t[i], lstripped.at(i));
    ++i;
  }

  // {% generation %} / {% endgeneration %} (transformers' marker of assistant text) are
  // dropped, with the whitespace their '-' asks to strip.
  Mapped out;
  out.end_origin = in.end_origin;
  const std::string& g = trimmed.text;
  size_t last = 0;  // first byte not yet copied
  for (size_t i = 0; i + 1 < g.size(); ++i) {
    if (g[i] != '{' || g[i + 1] != '%') continue;
    size_t j = i + 2;
    const bool lstrip = j < g.size() && g[j] == '-';
    if (lstrip) ++j;
    j += whitespace_after(g, j);
    if (g.compare(j, 3, "end") == 0 && g.compare(j + 3, 10, "generation") == 0) j += 3;
    if (g.compare(j, 10, "generation") != 0) continue;
    j += 10;
    j += whitespace_after(g, j);
    const bool rstrip = j < g.size() && g[j] == '-';
    if (rstrip) ++j;
    if (g.compare(j, 2, "%}") != 0) continue;
    j += 2;
    const size_t after = whitespace_after(g, j);
    size_t end = i;
    if (lstrip) end -= whitespace_before(std::string_view(g).substr(last, i - last), i - last);
    for (size_t k = last; k < end; ++k) out.push(g[k], trimmed.at(k));
    const size_t resume = j + after;
    if (!rstrip)
      for (size_t k = j; k < resume; ++k) out.push(g[k], trimmed.at(k));
    last = resume;
    i = resume - 1;
  }
  for (size_t k = last; k < g.size(); ++k) out.push(g[k], trimmed.at(k));
  return out;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

struct Rule {
  std::string_view text;
  TokenType type;
};

// In order: the first that matches wins ("**" before "*", "//" before "/").
constexpr std::array<Rule, 28> kRules{{
    {"{%", TokenType::OpenStatement}, {"%}", TokenType::CloseStatement},
    {"{{", TokenType::OpenExpression}, {"}}", TokenType::CloseExpression},
    {"(", TokenType::OpenParen}, {")", TokenType::CloseParen},
    {"{", TokenType::OpenCurly}, {"}", TokenType::CloseCurly},
    {"[", TokenType::OpenSquare}, {"]", TokenType::CloseSquare},
    {",", TokenType::Comma}, {".", TokenType::Dot}, {":", TokenType::Colon}, {"|", TokenType::Pipe},
    {"<=", TokenType::Comparison}, {">=", TokenType::Comparison}, {"==", TokenType::Comparison},
    {"!=", TokenType::Comparison}, {"<", TokenType::Comparison}, {">", TokenType::Comparison},
    {"+", TokenType::Additive}, {"-", TokenType::Additive}, {"~", TokenType::Additive},
    {"**", TokenType::Power}, {"*", TokenType::Multiplicative}, {"//", TokenType::Multiplicative},
    {"/", TokenType::Multiplicative}, {"%", TokenType::Multiplicative},
}};

class Lexer {
 public:
  explicit Lexer(std::string_view source) : m_(preprocess(source)), src_(m_.text) {}

  std::vector<Token> run() {
    while (pos_ < src_.size()) step();
    return std::move(tokens_);
  }

 private:
  Mapped m_;
  std::string_view src_;
  size_t pos_ = 0;
  int curly_depth_ = 0;
  std::vector<Token> tokens_;

  [[noreturn]] void fail(std::string message) const { throw SyntaxFailure{std::move(message), m_.at(pos_)}; }
  char at(size_t i) const { return i < src_.size() ? src_[i] : '\0'; }
  void push(TokenType type, std::string value, size_t start) {
    tokens_.push_back(Token{type, std::move(value), m_.at(start)});
  }
  bool last_is(TokenType t) const { return !tokens_.empty() && tokens_.back().type == t; }

  // Like the reference, a token that runs into the end of the input is an error.
  template <typename Predicate>
  std::string_view consume_while(Predicate p) {
    const size_t start = pos_;
    while (pos_ < src_.size() && p(src_[pos_]))
      if (++pos_ >= src_.size()) fail("unexpected end of template");
    return src_.substr(start, pos_ - start);
  }

  void strip_trailing_whitespace() {
    if (!last_is(TokenType::Text)) return;
    std::string& text = tokens_.back().value;
    text.resize(text.size() - whitespace_before(text, text.size()));
    if (text.empty()) tokens_.pop_back();
  }

  void step() {
    const bool after_text = tokens_.empty() || last_is(TokenType::CloseStatement) ||
                            last_is(TokenType::CloseExpression) || last_is(TokenType::Comment);
    if (after_text) {
      size_t end = pos_;
      while (true) {
        end = src_.find('{', end);
        if (end == std::string_view::npos) {
          end = src_.size();
          break;
        }
        const char next = at(end + 1);
        if (next == '%' || next == '{' || next == '#') break;
        ++end;
      }
      if (end > pos_) {
        push(TokenType::Text, std::string(src_.substr(pos_, end - pos_)), pos_);
        pos_ = end;
        return;
      }
    }
    if (at(pos_) == '{') {
      const char next = at(pos_ + 1);
      if (next == '#') {
        const size_t start = pos_;
        pos_ += 2;
        const bool strip_before = at(pos_) == '-';
        if (strip_before) ++pos_;
        const size_t end = src_.find("#}", pos_);
        if (end == std::string_view::npos) fail("missing end of comment tag");
        std::string comment(src_.substr(pos_, end - pos_));
        const bool strip_after = !comment.empty() && comment.back() == '-';
        if (strip_after) comment.pop_back();
        if (strip_before) strip_trailing_whitespace();
        push(TokenType::Comment, std::move(comment), start);
        pos_ = end + 2;
        if (strip_after) pos_ += whitespace_after(src_, pos_);
        return;
      }
      if (at(pos_ + 2) == '-' && (next == '%' || next == '{')) {
        strip_trailing_whitespace();
        push(next == '%' ? TokenType::OpenStatement : TokenType::OpenExpression, next == '%' ? "{%" : "{{", pos_);
        if (next == '{') curly_depth_ = 0;
        pos_ += 3;
        return;
      }
    }
    // Whitespace inside a tag separates tokens.
    pos_ += whitespace_after(src_, pos_);
    if (pos_ >= src_.size()) fail("unexpected end of template");
    const char c = src_[pos_];
    if (c == '-' && at(pos_ + 2) == '}' && (at(pos_ + 1) == '%' || at(pos_ + 1) == '}')) {
      const bool statement = at(pos_ + 1) == '%';
      push(statement ? TokenType::CloseStatement : TokenType::CloseExpression, statement ? "%}" : "}}", pos_);
      pos_ += 3;
      pos_ += whitespace_after(src_, pos_);
      return;
    }
    if (c == '-' || c == '+') {
      if (tokens_.empty() || last_is(TokenType::Text)) fail(std::string("unexpected character '") + c + "'");
      const TokenType last = tokens_.back().type;
      const bool binary = last == TokenType::Identifier || last == TokenType::Number || last == TokenType::String ||
                          last == TokenType::CloseParen || last == TokenType::CloseSquare;
      if (!binary) {
        const size_t start = pos_++;
        std::string number(consume_while(is_digit));
        if (!number.empty() && at(pos_) == '.' && is_digit(at(pos_ + 1))) {
          ++pos_;
          number += '.';
          number += consume_while(is_digit);
        }
        push(number.empty() ? TokenType::Unary : TokenType::Number, std::string(1, c) + number, start);
        return;
      }
    }
    for (const Rule& rule : kRules) {
      if (rule.text == "}}" && curly_depth_ > 0) continue;
      if (src_.compare(pos_, rule.text.size(), rule.text) != 0) continue;
      push(rule.type, std::string(rule.text), pos_);
      if (rule.type == TokenType::OpenExpression) curly_depth_ = 0;
      if (rule.type == TokenType::OpenCurly) ++curly_depth_;
      if (rule.type == TokenType::CloseCurly) --curly_depth_;
      pos_ += rule.text.size();
      return;
    }
    if (c == '=') {
      push(TokenType::Equals, "=", pos_++);
      return;
    }
    if (c == '\'' || c == '"') {
      const size_t start = pos_++;
      push(TokenType::String, read_string(c), start);
      ++pos_;
      return;
    }
    if (is_digit(c)) {
      const size_t start = pos_;
      std::string number(consume_while(is_digit));
      if (!last_is(TokenType::Dot) && at(pos_) == '.' && is_digit(at(pos_ + 1))) {
        ++pos_;
        number += '.';
        number += consume_while(is_digit);
      }
      push(TokenType::Number, std::move(number), start);
      return;
    }
    if (is_word_byte(static_cast<unsigned char>(c))) {
      const size_t start = pos_;
      push(TokenType::Identifier, std::string(consume_while([](char ch) { return is_word_byte(static_cast<unsigned char>(ch)); })),
           start);
      return;
    }
    fail(std::string("unexpected character '") + c + "'");
  }

  std::string read_string(char quote) {
    std::string out;
    while (true) {
      if (pos_ >= src_.size()) fail("unterminated string");
      const char c = src_[pos_];
      if (c == quote) return out;
      ++pos_;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= src_.size()) fail("unterminated string");
      const char e = src_[pos_++];
      if (e == 'x' || e == 'u') {
        const size_t digits = e == 'x' ? 2 : 4;
        char32_t code = 0;
        for (size_t i = 0; i < digits; ++i) {
          const char h = at(pos_ + i);
          int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
          if (d < 0 || pos_ + i >= src_.size()) fail(std::string("invalid hexadecimal escape \\") + e);
          code = code * 16 + char32_t(d);
        }
        pos_ += digits;
        // A lone surrogate has no UTF-8 form; it becomes U+FFFD, as it would on output.
        append_utf8(code >= 0xD800 && code <= 0xDFFF ? 0xFFFD : int32_t(code), out);
        continue;
      }
      switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'v': out += '\v'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        default: --pos_; fail(std::string("unexpected escaped character '") + e + "'");
      }
    }
  }
};

}  // namespace

std::vector<Token> tokenize(std::string_view source) { return Lexer(source).run(); }

}  // namespace mmb::jinja
