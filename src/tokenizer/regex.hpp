// Regular expressions for tokenizer.json's Split pre-tokenizers and Replace
// normalizers (Llama-3's and cl100k's patterns with \p{L}, \p{N}, (?i:...)
// contractions, digit groups), through PCRE2 with UTF and Unicode properties, JIT
// compiled where the platform has it. Compiled once, then matched from many threads.
#pragma once

#include "base/function_ref.hpp"

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace mmb {

class Regex {
 public:
  // Compiles `pattern` (UTF-8). Throws mmb::Error(MMB_ERR_FORMAT, "regex ...: <what>
  // at offset N") for a pattern PCRE2 rejects.
  explicit Regex(std::string_view pattern);
  ~Regex();
  Regex(Regex&&) noexcept;
  Regex& operator=(Regex&&) noexcept;

  // Calls `match(begin, end)` for each non-overlapping match in `text`, left to right
  // (an empty match advances by one character). Text that is not valid UTF-8 is
  // matched too: each invalid byte stands for itself and never matches a character
  // class that needs a valid character. Safe from many threads at once.
  void for_each_match(std::string_view text, FunctionRef<void(size_t begin, size_t end)> match) const;

  const std::string& pattern() const;

 private:
  struct Compiled;
  std::unique_ptr<Compiled> compiled_;
};

}  // namespace mmb
