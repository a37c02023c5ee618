#include "tokenizer/gpt2_pretokenizer.hpp"

#include <utf8proc.h>

#include <array>
#include <cstdint>

namespace mmb {
namespace {

enum class CharClass : uint8_t { Letter, Number, Space, Other };

CharClass classify(int32_t cp) {
  // \s of the reference encoders: the ASCII controls TAB..CR, the byte order mark,
  // and every space, line and paragraph separator.
  if ((cp >= 0x09 && cp <= 0x0D) || cp == 0xFEFF) return CharClass::Space;
  switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
      return CharClass::Letter;
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
      return CharClass::Number;
    case UTF8PROC_CATEGORY_ZS: case UTF8PROC_CATEGORY_ZL: case UTF8PROC_CATEGORY_ZP:
      return CharClass::Space;
    default:
      return CharClass::Other;
  }
}

// ASCII dominates most text: its classes are looked up, computed once from classify().
const std::array<CharClass, 128>& ascii_classes() {
  static const std::array<CharClass, 128> table = [] {
    std::array<CharClass, 128> t{};
    for (int32_t c = 0; c < 128; ++c) t[size_t(c)] = classify(c);
    return t;
  }();
  return table;
}

struct CodePoint {
  CharClass cls;
  size_t length;  // bytes
};

class Scanner {
 public:
  explicit Scanner(std::string_view text) : text_(text), ascii_(ascii_classes()) {}

  size_t size() const { return text_.size(); }
  uint8_t byte(size_t at) const { return uint8_t(text_[at]); }

  // The code point starting at byte `at` (< size()); an invalid byte is one "other".
  CodePoint at(size_t at) const {
    uint8_t b = byte(at);
    if (b < 0x80) return {ascii_[b], 1};
    utf8proc_int32_t cp = 0;
    utf8proc_ssize_t n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text_.data() + at),
                                          utf8proc_ssize_t(text_.size() - at), &cp);
    if (n <= 0) return {CharClass::Other, 1};
    return {classify(cp), size_t(n)};
  }

  // End of the run of `cls` code points starting at byte `from`.
  size_t run_end(size_t from, CharClass cls) const {
    size_t end = from;
    while (end < size()) {
      CodePoint c = at(end);
      if (c.cls != cls) break;
      end += c.length;
    }
    return end;
  }

  // Length of the contraction ('s 't 're 've 'm 'll 'd, lower case only) at `at`, or 0.
  size_t contraction(size_t at) const {
    if (byte(at) != '\'' || at + 1 >= size()) return 0;
    char c1 = char(byte(at + 1));
    if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return 2;
    if (at + 2 >= size()) return 0;
    char c2 = char(byte(at + 2));
    if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) return 3;
    return 0;
  }

  // End of the word that starts at `start`: the first alternative of the pattern
  // that matches there, as a backtracking regex engine would choose it.
  size_t word_end(size_t start) const {
    if (size_t n = contraction(start)) return start + n;
    CodePoint first = at(start);
    // " ?X+" for X in letters, numbers, others: an optional ASCII space, then a run.
    if (byte(start) == ' ' && start + 1 < size()) {
      CodePoint next = at(start + 1);
      if (next.cls != CharClass::Space) return run_end(start + 1 + next.length, next.cls);
    }
    if (first.cls != CharClass::Space) return run_end(start + first.length, first.cls);
    // "\s+(?!\S)|\s+": a whitespace run, less its last code point when a non-space
    // follows (that one then leads the next word, e.g. " word").
    size_t end = start, last = start;
    while (end < size()) {
      CodePoint c = at(end);
      if (c.cls != CharClass::Space) break;
      last = end;
      end += c.length;
    }
    if (end < size() && last > start) return last;
    return end;
  }

 private:
  std::string_view text_;
  const std::array<CharClass, 128>& ascii_;
};

}  // namespace

void split_gpt2(std::string_view text, FunctionRef<void(std::string_view)> word) {
  Scanner scanner(text);
  size_t start = 0;
  while (start < text.size()) {
    size_t end = scanner.word_end(start);
    word(text.substr(start, end - start));
    start = end;
  }
}

}  // namespace mmb
