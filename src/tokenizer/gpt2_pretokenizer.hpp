// GPT-2's pre-tokenizer (also GPT-NeoX's): the text is cut into words before BPE
// merges, by the pattern
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// matched here by a hand-written scanner over code points (no regex library).
#pragma once

#include "base/function_ref.hpp"

#include <string_view>

namespace mmb {

// Calls `word` for each piece of `text`, in order; the pieces cover the text exactly.
// Letters and numbers are Unicode's L* and N* categories (utf8proc). Whitespace is
// what \s means in the JavaScript and GPT-2 reference encoders: U+0009..U+000D,
// U+FEFF and the Zs, Zl, Zp categories. Each byte of invalid UTF-8 counts as one
// code point of the "other" class, so no byte is ever lost.
void split_gpt2(std::string_view text, FunctionRef<void(std::string_view)> word);

}  // namespace mmb
