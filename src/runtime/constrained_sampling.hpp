// Sampling under a grammar (moemamba.h section 9), shared by mmb_generate, chats, jobs
// and mmb_sampler_sample_grammar: the refused tokens' logits become -inf, the sampler
// chooses among the rest, and the grammar state moves past the choice.
#pragma once

#include "grammar/token_grammar.hpp"
#include "runtime/sampler.hpp"

#include <cstddef>
#include <cstdint>

namespace mmb {

// The next token under `cursor`, or -1 when the output is complete and nothing may
// follow (the generation ends without a token). `logits` (n = vocabulary size) are
// changed in place. Throws MMB_ERR_GRAMMAR when no token can continue the grammar.
// A stop token returned ends the output: the caller does not emit it.
int32_t sample_constrained(Sampler& sampler, grammar::GrammarCursor& cursor, float* logits, size_t n);

}  // namespace mmb
