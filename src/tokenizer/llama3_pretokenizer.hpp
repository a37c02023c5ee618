// A hand-written scanner for the split pattern of Llama-3 and its relatives (OpenAI's
// cl100k_base, Qwen2), which is
//   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}
//   | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// (Qwen2: \p{N} alone). It finds the same matches as tokenizer/regex.hpp finds for
// these patterns, several times faster (the tokenizer tests compare both on varied
// text and print the speeds); the pre-tokenizer uses it when a Split step's pattern
// is one of these exactly.
#pragma once

#include "base/function_ref.hpp"

#include <cstddef>
#include <optional>
#include <string_view>

namespace mmb {

struct Llama3Pattern {
  size_t max_digits = 3;  // \p{N}{1,3}, or 1 for \p{N}
};

// The scanner's settings when `pattern` is one it runs, exactly as tokenizer.json
// writes it.
std::optional<Llama3Pattern> recognize_llama3_pattern(std::string_view pattern);

// Calls `match(begin, end)` for each match of the pattern in `text`, left to right, as
// Regex::for_each_match would: \s is Unicode's White_Space, letters and numbers are
// the L* and N* categories, and an invalid UTF-8 byte matches nothing.
void for_each_llama3_match(std::string_view text, const Llama3Pattern& pattern,
                           FunctionRef<void(size_t begin, size_t end)> match);

}  // namespace mmb
