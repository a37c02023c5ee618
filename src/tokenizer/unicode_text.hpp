// Small Unicode facts the tokenizer's pipeline steps share: stepping through UTF-8
// that may be invalid, and the character classes of the JavaScript reference encoder
// (its \s, its toLowerCase) that tokenizer.json pipelines are compared against.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mmb {

// The code point at byte `at` (< text.size()) and its length in bytes. An invalid
// byte is a character of its own: length 1, code point -1.
struct Utf8Char {
  int32_t cp;
  size_t length;
};
Utf8Char decode_utf8(std::string_view text, size_t at);
inline size_t utf8_char_length(std::string_view text, size_t at) { return decode_utf8(text, at).length; }

// Appends `cp` (a valid code point) as UTF-8.
void append_utf8(int32_t cp, std::string& out);

// JavaScript's \s (and String.prototype.trim's whitespace): TAB..CR, U+FEFF, the
// Zs spaces and the line/paragraph separators. Not U+0085, which Unicode's
// White_Space has.
bool is_js_whitespace(int32_t cp);

// JavaScript's String.prototype.toLowerCase: Unicode's full lowercase mapping
// (U+0130 becomes "i" + U+0307; a capital sigma at a word's end becomes final ς).
// Invalid bytes pass through unchanged.
void lowercase_full(std::string_view text, std::string& out);

}  // namespace mmb
