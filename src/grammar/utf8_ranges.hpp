// Code point ranges as UTF-8 byte patterns: a character class such as [a-zé-ú一-龥]
// becomes a few sequences of byte ranges ([E4-E9][80-BF][80-BF] ...) that a byte-level
// matcher can follow, so a token that ends inside a multi-byte character is judged by
// its bytes alone.
#pragma once

#include "grammar/grammar_ast.hpp"

#include <cstdint>
#include <vector>

namespace mmb::grammar {

struct ByteRange {
  uint8_t first = 0;
  uint8_t last = 0;
};

// A sequence of 1 to 4 byte ranges; a string matches it when each byte lies in its range.
using Utf8Pattern = std::vector<ByteRange>;

// The code points `ranges` covers (or, when `negated`, every scalar value it does not
// cover), as disjoint UTF-8 patterns. Surrogates are never included.
std::vector<Utf8Pattern> utf8_patterns(const std::vector<CodepointRange>& ranges, bool negated);

// The sorted, merged scalar values of a class (surrogates removed).
std::vector<CodepointRange> normalize_class(const std::vector<CodepointRange>& ranges, bool negated);

}  // namespace mmb::grammar
