// Unicode Normalization Form C (canonical composition) through utf8proc, for
// tokenizers trained on NFC text (GPT-NeoX's).
#pragma once

#include <string>
#include <string_view>

namespace mmb {

// Writes the NFC form of `text` into `out` (replacing its content). Invalid UTF-8
// bytes are copied through unchanged; the valid stretches between them are
// normalized on their own.
void nfc_normalize(std::string_view text, std::string& out);

}  // namespace mmb
