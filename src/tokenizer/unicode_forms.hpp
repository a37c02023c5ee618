// Unicode normalization forms (NFC, NFD, NFKC, NFKD) through utf8proc, for the
// tokenizer's normalizer steps. Invalid UTF-8 bytes pass through unchanged.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace mmb {

enum class UnicodeForm : uint8_t { NFC, NFD, NFKC, NFKD };

// Writes `text` in `form` into `out` (replacing its content); the valid stretches
// between invalid bytes are normalized on their own.
void normalize_unicode(std::string_view text, UnicodeForm form, std::string& out);

}  // namespace mmb
