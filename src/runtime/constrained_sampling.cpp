#include "runtime/constrained_sampling.hpp"

#include "base/error.hpp"

namespace mmb {

int32_t sample_constrained(Sampler& sampler, grammar::GrammarCursor& cursor, float* logits, size_t n) {
  if (n != cursor.grammar().vocab_size())
    fail(MMB_ERR_INVALID_ARGUMENT, n, " logits for a grammar made for a vocabulary of ", cursor.grammar().vocab_size());
  if (cursor.must_end()) return -1;
  const bool text_allowed = cursor.mask().any_token;
  if (!text_allowed && !cursor.can_end())
    fail(MMB_ERR_GRAMMAR, "no token of the vocabulary can continue the grammar here");
  // A model without stop tokens cannot say where to end: the output ends at the first
  // place the grammar may end.
  if (cursor.can_end() && cursor.grammar().stop_tokens().empty()) return -1;
  cursor.apply(logits, n);
  const int32_t token = sampler.sample(logits, n);
  if (!cursor.accept(token)) fail(MMB_ERR_INTERNAL, "the sampler chose token ", token, ", which the grammar's mask refused");
  return token;
}

}  // namespace mmb
