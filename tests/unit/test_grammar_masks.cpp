// Token masks of real vocabularies against a brute force: at random states of random
// walks through JSON Schemas, GBNF grammars and a choice list, the mask the grammar
// computes (trie walk, cache) must equal trying every token's bytes with a fresh
// matcher, bit for bit; a sample of tokens is also judged by the Earley recognizer
// (tests/support/grammar_recognizer), which never sees the matcher's program, and so is
// whether the text so far may end.
#include "grammar/choice_grammar.hpp"
#include "grammar/grammar_matcher.hpp"
#include "grammar/grammar_program.hpp"
#include "grammar/token_grammar.hpp"
#include "support/grammar_fixtures.hpp"
#include "support/grammar_recognizer.hpp"
#include "support/model_harness.hpp"
#include "support/splitmix_rng.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

using namespace mmb;
using namespace mmb::grammar;
using namespace mmb::testing;

namespace {

struct MaskCase {
  std::string name;
  GrammarAst ast;
};

std::vector<MaskCase> mask_cases() {
  std::vector<MaskCase> cases;
  for (const char* s : {"npc_action", "tool_call", "inventory", "numbers", "unicode", "defs_recursive", "free"})
    cases.push_back({std::string("schema ") + s, schema_ast(s, s == std::string("free") ? 2 : 1)});
  for (const char* g : {"json", "arithmetic", "chess", "unicode"}) cases.push_back({std::string("gbnf ") + g, gbnf_ast(g)});
  const std::vector<std::string_view> items = {"attack", "attack the wolf", "flee", "talk to the merchant", " trade",
                                               "日本語", "émigré", "a", "ab", "\"quoted\""};
  cases.push_back({"choice", choice_grammar(items)});
  return cases;
}

struct Totals {
  size_t states = 0, tokens_compared = 0, recognizer_checks = 0, undecided = 0, ends_checked = 0, walks = 0;
};

// Walks from the start choosing random allowed tokens; at each of `n_states` states
// compares the grammar's mask with the brute force over the whole vocabulary.
void check_masks(const Vocabulary& vocab, const MaskCase& c, size_t cache_bytes, uint64_t seed, size_t n_states,
                 size_t recognizer_samples, Totals& totals) {
  auto g = std::make_shared<const TokenGrammar>(GrammarProgram(c.ast), vocab, cache_bytes);
  const GrammarProgram& program = g->program();
  Matcher brute(program);
  SplitMixRng rng(seed);
  const int32_t n = int32_t(vocab.vocab_size);
  std::vector<int32_t> allowed, near_misses;
  auto cursor = std::make_unique<GrammarCursor>(g);
  std::string text;  // the bytes of the walk so far
  size_t walk_length = 0;
  ++totals.walks;
  for (size_t state_index = 0; state_index < n_states; ++state_index) {
    INFO(c.name << ", seed " << seed << ", state " << state_index << ", text so far: '" << text << "'");
    const TokenMask& mask = cursor->mask();
    const MatcherState here = cursor->state();
    // Which first bytes the grammar takes here, to find tokens refused after their first byte.
    bool first_ok[256];
    for (int b = 0; b < 256; ++b) {
      MatcherState s = here;
      first_ok[b] = brute.advance(s, std::string(1, char(b)));
    }
    allowed.clear();
    near_misses.clear();
    for (int32_t t = 0; t < n; ++t) {
      const std::string& bytes = vocab.token_bytes[size_t(t)];
      bool expect = false;
      if (!bytes.empty() && first_ok[uint8_t(bytes[0])]) {
        MatcherState s = here;
        expect = bytes.size() == 1 || brute.advance(s, bytes);
        if (!expect) near_misses.push_back(t);
      }
      if (mask.allows(t) != expect) {
        INFO("token " << t << " '" << bytes << "': mask " << mask.allows(t) << ", brute force " << expect);
        REQUIRE(mask.allows(t) == expect);
      }
      if (expect) allowed.push_back(t);
    }
    REQUIRE(mask.any_token == !allowed.empty());
    totals.tokens_compared += size_t(n);
    ++totals.states;
    for (int32_t stop : vocab.stop_tokens) REQUIRE(cursor->allows(stop) == cursor->can_end());

    // The recognizer's view: may the text end here, and do sampled tokens continue it?
    REQUIRE(cursor->can_end() == grammar_recognizes(c.ast, text));
    ++totals.ends_checked;
    for (size_t k = 0; k < recognizer_samples; ++k) {
      for (const std::vector<int32_t>* from : {&allowed, &near_misses}) {
        if (from->empty()) continue;
        const int32_t t = (*from)[rng.below(uint32_t(from->size()))];
        const std::string candidate = text + vocab.token_bytes[size_t(t)];
        bool decided = true;
        const bool prefix = text_is_prefix(c.ast, program, candidate, &decided);
        INFO("token " << t << " '" << vocab.token_bytes[size_t(t)] << "', mask says " << mask.allows(t));
        if (mask.allows(t)) {
          REQUIRE(prefix);
        } else if (decided) {
          REQUIRE_FALSE(prefix);
        } else {
          ++totals.undecided;
        }
        ++totals.recognizer_checks;
      }
    }

    // Next state: a random allowed token, or a new walk when the output must end or
    // the walk is long.
    if (allowed.empty() || walk_length >= 64) {
      REQUIRE((!allowed.empty() || cursor->can_end()));
      cursor = std::make_unique<GrammarCursor>(g);
      text.clear();
      walk_length = 0;
      ++totals.walks;
      continue;
    }
    const int32_t t = allowed[rng.below(uint32_t(allowed.size()))];
    REQUIRE(cursor->accept(t));
    text += vocab.token_bytes[size_t(t)];
    ++walk_length;
  }
}

void run_vocabulary(const char* label, const Vocabulary& vocab, size_t cache_bytes, size_t states_per_case,
                    size_t recognizer_samples) {
  const auto begin = std::chrono::steady_clock::now();
  Totals totals;
  uint64_t seed = 1;
  for (const MaskCase& c : mask_cases()) check_masks(vocab, c, cache_bytes, seed++, states_per_case, recognizer_samples, totals);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  std::printf("grammar masks, %s (%u tokens): %zu states in %zu walks, %zu token verdicts compared, %zu recognizer "
              "checks (%zu undecided), %.1f s\n",
              label, vocab.vocab_size, totals.states, totals.walks, totals.tokens_compared, totals.recognizer_checks,
              totals.undecided, seconds);
  CHECK(totals.states == states_per_case * mask_cases().size());
  CHECK(totals.walks > mask_cases().size());
  CHECK(totals.undecided * 10 <= totals.recognizer_checks);
}

}  // namespace

TEST_CASE("Masks equal a brute force over the demo model's 4k vocabulary", "[grammar]") {
  RuntimePtr rt = make_runtime();
  mmb_model* raw = nullptr;
  REQUIRE(mmb_model_load_file(rt.get(), demo_model_path().c_str(), nullptr, &raw) == MMB_OK);
  ModelPtr model(raw);
  const Vocabulary vocab = vocabulary_of(model.get());
  REQUIRE(vocab.vocab_size == 4096);
  REQUIRE(vocab.stop_tokens == std::vector<int32_t>{4095});
  run_vocabulary("demo 4k", vocab, size_t(1) << 20, 120, 3);
}

TEST_CASE("Masks equal a brute force over GPT-2's 50k vocabulary", "[grammar]") {
  const Vocabulary vocab = gpt2_vocabulary();
  REQUIRE(vocab.vocab_size == 50257);
  // A cache of a few masks only, so entries are dropped and computed again.
  run_vocabulary("GPT-2 50k", vocab, size_t(64) << 10, 100, 3);
}
