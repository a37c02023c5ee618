// GBNF grammar text comes from hosts, and through them from players, mods and
// downloads: any input is compiled through the C API for the small BPE model and, when
// it compiles, walked a few tokens (masks, accepted and refused tokens, clones, saved
// and loaded states: see fuzz_grammar_walk.hpp). MMB_ERR_GRAMMAR is the compiler's
// way to refuse a grammar; any other status, a broken promise of the walk, a hang or a
// sanitizer report is a finding.
#include "fuzz_grammar_walk.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mmb::fuzz;
  const GrammarFuzzModel& m = grammar_fuzz_model();
  mmb_grammar_options options;
  grammar_check(mmb_grammar_options_init(&options, sizeof options), "options");
  // A small cache, so that eviction runs too.
  options.mask_cache_bytes = size % 2 ? 256 : 0;
  mmb_grammar* raw = nullptr;
  const mmb_status status =
      mmb_grammar_create(m.model.get(), MMB_GRAMMAR_GBNF, reinterpret_cast<const char*>(data), size, &options, &raw);
  if (status == MMB_ERR_GRAMMAR) return 0;
  if (status != MMB_OK) grammar_finding("compiling failed with an unexpected status", status);
  GrammarPtr grammar(raw);
  // The choices: the input read backwards (its end is what mutations touch most).
  std::vector<uint8_t> choices(data, data + size);
  std::reverse(choices.begin(), choices.end());
  grammar_walk(grammar.get(), choices.data(), choices.size(), 48);
  return 0;
}
