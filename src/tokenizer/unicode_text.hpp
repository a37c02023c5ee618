// Small Unicode facts the tokenizer's pipeline steps share: stepping through UTF-8
// that may be invalid, GPT-2's byte-level alphabet, the character classes of Hugging
// Face's Rust tokenizers (char::is_numeric, its regex's Unicode \w and \s) and those of
// the JavaScript reference encoder (its \s, its toLowerCase) that tokenizer.json
// pipelines are compared against.
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

// The character of GPT-2's byte-level alphabet that byte `b` stands for: printable
// Latin-1 bytes (! to ~, ¡ to ¬, ® to ÿ) stand for themselves, the other 68 bytes for
// U+0100 onwards in byte order (space is U+0120 'Ġ').
int32_t byte_level_char(uint8_t b);

// Rust's char::is_numeric: the general categories Nd, Nl and No ('7', 'Ⅻ', '²', '½',
// Arabic-Indic '٣').
bool is_numeric(int32_t cp);

// Unicode's White_Space property (Rust's char::is_whitespace, its regex's \s): TAB..CR,
// U+0085 and the Z* separators; not U+FEFF.
bool is_white_space(int32_t cp);

// The Rust regex crate's Unicode \w: Alphabetic, the M* marks, Nd, Pc and Join_Control.
bool is_unicode_word(int32_t cp);

// JavaScript's \s (and String.prototype.trim's whitespace): TAB..CR, U+FEFF, the
// Zs spaces and the line/paragraph separators. Not U+0085, which Unicode's
// White_Space has.
bool is_js_whitespace(int32_t cp);

// JavaScript's String.prototype.toLowerCase: Unicode's full lowercase mapping
// (U+0130 becomes "i" + U+0307; a capital sigma at a word's end becomes final ς).
// Invalid bytes pass through unchanged.
void lowercase_full(std::string_view text, std::string& out);

}  // namespace mmb
