// The independent check on constrained generation: an Earley recognizer that reads a
// GrammarAst directly (none of the byte-level program the matcher runs), so a test can
// ask whether a text is a sentence of the grammar, or a prefix of one, and draw random
// sentences to feed the matcher.
#pragma once

#include "grammar/grammar_ast.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mmb::testing {

// Whether the whole of `text` derives from the root rule. Invalid UTF-8 is never a
// sentence.
bool grammar_recognizes(const grammar::GrammarAst& ast, std::string_view text);

// Whether some sentence starts with `text` (the empty text: whether any sentence exists).
bool grammar_accepts_prefix(const grammar::GrammarAst& ast, std::string_view text);

// A random sentence, the same for the same seed. Choices are uniform until the text
// (with what it still must hold) reaches about `max_len_hint` characters, then the
// quickest way to finish is taken. Throws std::invalid_argument when the grammar has no
// sentence.
std::string grammar_random_sentence(const grammar::GrammarAst& ast, uint64_t seed, size_t max_len_hint);

}  // namespace mmb::testing
