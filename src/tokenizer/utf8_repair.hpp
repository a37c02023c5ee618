// Bytes to valid UTF-8: each maximal invalid subpart (Unicode's recommended
// practice, also WHATWG's TextDecoder, which the reference tokenizers use) becomes one
// U+FFFD. Used where a decoder joins byte tokens into text.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace mmb {

// The longest well-formed sequence, in bytes.
constexpr size_t kMaxUtf8Sequence = 4;

// The length of the well-formed UTF-8 sequence at the start of `bytes` (table 3-7 of
// the Unicode standard: no overlongs, no surrogates, nothing above U+10FFFF), or 0
// when it is not one; then *invalid gets the length of the maximal invalid subpart
// there (at least 1), and *truncated whether that subpart is a valid beginning cut
// off by the end of `bytes`.
size_t utf8_sequence_length(std::string_view bytes, size_t* invalid, bool* truncated);

// Appends `bytes` with every maximal invalid subpart replaced by U+FFFD.
void append_repaired_utf8(std::string_view bytes, std::string& out);

}  // namespace mmb
