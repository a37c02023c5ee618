#include "tokenizer/llama3_pretokenizer.hpp"

#include <utf8proc.h>

#include <array>
#include <cstdint>

namespace mmb {
namespace {

// Newline is \r or \n (also white space); Invalid is a byte that is not UTF-8.
enum class Cls : uint8_t { Letter, Number, Space, Newline, Other, Invalid };

bool is_white_space(int32_t cp) {
  if (cp < 0x80) return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20;
  return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

Cls classify(int32_t cp) {
  if (cp == '\r' || cp == '\n') return Cls::Newline;
  if (is_white_space(cp)) return Cls::Space;
  switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
      return Cls::Letter;
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
      return Cls::Number;
    default:
      return Cls::Other;
  }
}

const std::array<Cls, 128>& ascii_classes() {
  static const std::array<Cls, 128> table = [] {
    std::array<Cls, 128> t{};
    for (int32_t c = 0; c < 128; ++c) t[size_t(c)] = classify(c);
    return t;
  }();
  return table;
}

struct Char {
  Cls cls;
  size_t length;
};

class Scanner {
 public:
  explicit Scanner(std::string_view text) : text_(text), ascii_(ascii_classes()) {}
  size_t size() const { return text_.size(); }

  // The character at `at` (< size()).
  Char at(size_t at) const {
    uint8_t b = uint8_t(text_[at]);
    if (b < 0x80) return {ascii_[b], 1};
    utf8proc_int32_t cp = 0;
    utf8proc_ssize_t n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text_.data() + at),
                                          utf8proc_ssize_t(text_.size() - at), &cp);
    if (n <= 0) return {Cls::Invalid, 1};
    return {classify(cp), size_t(n)};
  }
  bool is(size_t at, Cls cls) const { return at < size() && this->at(at).cls == cls; }

  template <typename Pred>
  size_t run_end(size_t from, Pred&& pred) const {
    while (from < size()) {
      Char c = at(from);
      if (!pred(c.cls)) break;
      from += c.length;
    }
    return from;
  }

  // Length of the contraction at `at` ('s 't 're 've 'm 'll 'd, ASCII letters in
  // either case), or 0.
  size_t contraction(size_t at) const {
    if (text_[at] != '\'' || at + 1 >= size()) return 0;
    char c1 = char(text_[at + 1] | 0x20);
    if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return 2;
    if (at + 2 >= size()) return 0;
    char c2 = char(text_[at + 2] | 0x20);
    if ((c1 == 'r' || c1 == 'v') && c2 == 'e') return 3;
    if (c1 == 'l' && c2 == 'l') return 3;
    return 0;
  }

 private:
  std::string_view text_;
  const std::array<Cls, 128>& ascii_;
};

bool is_white(Cls c) { return c == Cls::Space || c == Cls::Newline; }
// [^\s\p{L}\p{N}]: a valid character that is none of those.
bool is_other(Cls c) { return c == Cls::Other; }

}  // namespace

std::optional<Llama3Pattern> recognize_llama3_pattern(std::string_view pattern) {
  static constexpr std::string_view kLlama3 =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  // cl100k's possessive quantifiers run greedy (as in the reference) and its \s*[\r\n]
  // ends where \s*[\r\n]+ does: after the last newline of the run.
  static constexpr std::string_view kCl100k =
      R"('(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+)";
  static constexpr std::string_view kQwen2 =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  if (pattern == kLlama3 || pattern == kCl100k) return Llama3Pattern{3};
  if (pattern == kQwen2) return Llama3Pattern{1};
  return std::nullopt;
}

void for_each_llama3_match(std::string_view text, const Llama3Pattern& pattern, FunctionRef<void(size_t, size_t)> match) {
  Scanner s(text);
  size_t at = 0;
  while (at < s.size()) {
    const Char c = s.at(at);
    if (c.cls == Cls::Invalid) {  // matches nothing: the search moves past it
      ++at;
      continue;
    }
    size_t end = 0;
    const size_t next = at + c.length;
    if (size_t n = s.contraction(at)) {
      end = at + n;
    } else if (c.cls == Cls::Letter) {
      end = s.run_end(next, [](Cls k) { return k == Cls::Letter; });
    } else if (c.cls != Cls::Newline && c.cls != Cls::Number && s.is(next, Cls::Letter)) {
      // [^\r\n\p{L}\p{N}]\p{L}+: a space, tab or punctuation before a word joins it
      end = s.run_end(next, [](Cls k) { return k == Cls::Letter; });
    } else if (c.cls == Cls::Number) {
      end = next;
      for (size_t digits = 1; digits < pattern.max_digits && s.is(end, Cls::Number); ++digits) end += s.at(end).length;
    } else if (is_other(c.cls) || (text[at] == ' ' && next < s.size() && is_other(s.at(next).cls))) {
      //  ?[^\s\p{L}\p{N}]+[\r\n]*
      end = s.run_end(is_other(c.cls) ? next : next + s.at(next).length, is_other);
      end = s.run_end(end, [](Cls k) { return k == Cls::Newline; });
    } else {
      // White space: up to its last newline (\s*[\r\n]+); else all of it when
      // nothing or an invalid byte follows, or all but its last character when a
      // non-space follows (\s+(?!\S)); else the one character (\s+).
      size_t run = next, last_newline_end = c.cls == Cls::Newline ? next : 0, last_start = at;
      while (run < s.size()) {
        Char k = s.at(run);
        if (!is_white(k.cls)) break;
        last_start = run;
        run += k.length;
        if (k.cls == Cls::Newline) last_newline_end = run;
      }
      if (last_newline_end) end = last_newline_end;
      else if (run == s.size() || s.at(run).cls == Cls::Invalid) end = run;
      else end = last_start > at ? last_start : run;
    }
    match(at, end);
    at = end;
  }
}

}  // namespace mmb
