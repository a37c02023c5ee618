// The string rules of the reference chat-template engine (JavaScript, @huggingface/jinja)
// applied to our UTF-8 strings: which characters count as whitespace when trimming,
// how a number prints, how a string is quoted as JSON, and how code points are found.
// Templates are rendered byte-identically to that engine, so these follow JavaScript,
// not Python.
#pragma once

#include "tokenizer/unicode_text.hpp"  // append_utf8, is_js_whitespace: JavaScript's \s, as here

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mmb::jinja {

// The code point that starts at text[at] and its length in bytes; a byte that does
// not start valid UTF-8 reads as U+FFFD of length 1.
char32_t decode_utf8(std::string_view text, size_t at, size_t& length);
// Byte offsets where each code point starts (for slicing by character).
std::vector<size_t> code_point_starts(std::string_view text);
// Length as JavaScript counts it (UTF-16 code units).
size_t utf16_length(std::string_view text);

// Length of the is_js_whitespace() run that starts at `at` / ends at `end`.
size_t whitespace_after(std::string_view text, size_t at);
size_t whitespace_before(std::string_view text, size_t end);
std::string_view trim_start(std::string_view text);
std::string_view trim_end(std::string_view text);
std::string_view trim(std::string_view text);

// Case mapping as JavaScript's toUpperCase/toLowerCase for ASCII, Latin-1, Latin
// Extended-A, Greek and Cyrillic (the rest of Unicode keeps its case).
std::string to_upper(std::string_view text);
std::string to_lower(std::string_view text);
bool is_word_byte(unsigned char c);  // [A-Za-z0-9_]

// Number.prototype.toString: "3", "0.1", "1e+21", "1.5e-7", "NaN", "-Infinity".
std::string js_number(double value);
// JSON.stringify of a string: quotes, escapes of '"', '\\' and control characters;
// everything else (non-ASCII included) is kept as is.
void append_json_string(std::string& out, std::string_view text);
// Number(text) for a string operand of ==: decimal, surrounding whitespace allowed,
// "" is 0; anything else is NaN.
double js_string_to_number(std::string_view text);
// parseInt(text, 10) and parseFloat(text): a leading number, NaN when there is none.
double js_parse_int(std::string_view text);
double js_parse_float(std::string_view text);

}  // namespace mmb::jinja
