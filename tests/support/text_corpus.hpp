// Deterministic test text for the tokenizer: many kinds of writing mixed together,
// made from a seed so that every run (and every reference encoder) sees the same.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace mmb::test {

// Documents of a few KB each, together at least `min_bytes` of valid UTF-8: English
// prose, code, accented Latin, Greek and Cyrillic, CJK, Indic and right-to-left
// scripts, emoji sequences, combining marks, digits of many scripts, contractions,
// runs of every kind of whitespace, control characters, and random code points of
// assigned characters (no NUL, no invalid UTF-8).
std::vector<std::string> varied_corpus(size_t min_bytes, uint64_t seed);

// English prose only (the sentences of the varied corpus), for speed figures.
std::string english_corpus(size_t min_bytes, uint64_t seed);

// `n` uniformly random bytes (mostly invalid UTF-8).
std::string random_bytes(size_t n, uint64_t seed);

}  // namespace mmb::test
