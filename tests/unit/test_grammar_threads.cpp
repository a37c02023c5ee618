// One grammar shared by eight threads (moemamba.h section 9: "shared by any number of
// sessions and threads"): its mask cache, kept small here so that it is cleared again
// and again, and its pool of walkers are used from every thread at once. Each thread
// walks its own states through random allowed tokens (masks, accepts, clones, saved
// and loaded states, resets) and checks every mask against the one a grammar of its
// own, compiled from the same schema without a cache and used by that thread alone,
// gives for the same tokens. Built and run under ThreadSanitizer too (tag [threads]).
#include "support/grammar_fixtures.hpp"
#include "support/model_harness.hpp"
#include "support/splitmix_rng.hpp"

#include <catch2/catch.hpp>

#include <moemamba/moemamba.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace mmb;
using namespace mmb::testing;

namespace {

constexpr int kThreads = 8;
constexpr int kSteps = 250;

GrammarPtr schema_grammar(const mmb_model* model, const std::string& schema, size_t cache_bytes) {
  mmb_grammar_options options;
  REQUIRE(mmb_grammar_options_init(&options, sizeof options) == MMB_OK);
  options.json_whitespace = 1;
  options.mask_cache_bytes = cache_bytes;
  mmb_grammar* g = nullptr;
  INFO(mmb_last_error());
  REQUIRE(mmb_grammar_create(model, MMB_GRAMMAR_JSON_SCHEMA, schema.data(), schema.size(), &options, &g) == MMB_OK);
  return GrammarPtr(g);
}

// Catch's assertions are for the main thread: the workers collect what went wrong.
struct Failures {
  std::mutex mutex;
  std::vector<std::string> messages;
  void add(int thread, int step, const std::string& what) {
    std::lock_guard<std::mutex> lock(mutex);
    if (messages.size() < 20)
      messages.push_back("thread " + std::to_string(thread) + ", step " + std::to_string(step) + ": " + what);
  }
};

bool mask_of(mmb_grammar_state* s, size_t words, std::vector<uint32_t>& out) {
  out.assign(words, 0);
  return mmb_grammar_state_get_mask(s, out.data(), out.size()) == MMB_OK;
}

bool save_of(const mmb_grammar_state* s, std::vector<uint8_t>& out) {
  size_t size = 0, len = 0;
  if (mmb_grammar_state_size(s, &size) != MMB_OK) return false;
  out.assign(size, 0);
  return mmb_grammar_state_save(s, out.data(), out.size(), &len) == MMB_OK && len == size;
}

GrammarStatePtr new_state(mmb_grammar* g) {
  mmb_grammar_state* s = nullptr;
  return mmb_grammar_state_create(g, &s) == MMB_OK ? GrammarStatePtr(s) : GrammarStatePtr();
}

}  // namespace

// (The tags stay on the TEST_CASE line: tests/CMakeLists.txt picks a ThreadSanitizer
// build's sources by that line.)
TEST_CASE("grammar: 8 threads share one grammar with a small mask cache", "[grammar][threads]") {
  RuntimePtr rt = make_runtime();
  ModelPtr model = random_model(rt.get(), demo_tokenizer(), 4096, 5);
  mmb_model_info info{};
  info.struct_size = sizeof info;
  REQUIRE(mmb_model_get_info(model.get(), &info) == MMB_OK);
  const int32_t vocab = info.vocab_size;
  const int32_t eos = info.eos_id;
  const size_t words = (size_t(vocab) + 31) / 32;
  const std::string schema = grammar_sample("schemas/npc_action.json");
  // Room for four masks: most lookups miss and the cache is cleared all the time.
  const size_t cache_bytes = 4 * size_t(vocab) / 8;
  GrammarPtr shared = schema_grammar(model.get(), schema, cache_bytes);
  // Each thread's private grammar, compiled here (compiling is not what is tested),
  // without a cache: every one of its masks is computed afresh.
  std::vector<GrammarPtr> own;
  for (int t = 0; t < kThreads; ++t) own.push_back(schema_grammar(model.get(), schema, 0));

  Failures failures;
  std::atomic<int> masks_compared{0}, outputs_finished{0};
  auto worker = [&](int t) {
    SplitMixRng rng(1000 + uint64_t(t));
    mmb_grammar* mine = own[size_t(t)].get();
    GrammarStatePtr s = new_state(shared.get()), r = new_state(mine);
    if (!s || !r) return failures.add(t, -1, "state_create failed");
    std::vector<uint32_t> ms, mr;
    std::vector<uint8_t> blob;
    std::vector<int32_t> allowed;
    for (int step = 0; step < kSteps; ++step) {
      if (!mask_of(s.get(), words, ms) || !mask_of(r.get(), words, mr)) return failures.add(t, step, "get_mask failed");
      if (ms != mr) return failures.add(t, step, "the shared grammar's mask differs from the private one's");
      masks_compared.fetch_add(1, std::memory_order_relaxed);
      allowed.clear();
      for (int32_t tok = 0; tok < vocab; ++tok)
        if ((ms[size_t(tok) / 32] >> (tok % 32)) & 1) allowed.push_back(tok);
      if (allowed.empty()) return failures.add(t, step, "no token allowed");
      const int32_t token = allowed[rng.next() % allowed.size()];
      if (token == eos) {
        // A finished output: start another.
        outputs_finished.fetch_add(1, std::memory_order_relaxed);
        if (mmb_grammar_state_reset(s.get()) != MMB_OK || mmb_grammar_state_reset(r.get()) != MMB_OK)
          return failures.add(t, step, "reset failed");
        continue;
      }
      if (mmb_grammar_state_accept(s.get(), token) != MMB_OK || mmb_grammar_state_accept(r.get(), token) != MMB_OK)
        return failures.add(t, step, "an allowed token was refused: " + std::string(mmb_last_error()));
      switch (rng.next() % 8) {
        case 0: {  // continue on a clone
          mmb_grammar_state* c = nullptr;
          if (mmb_grammar_state_clone(s.get(), &c) != MMB_OK) return failures.add(t, step, "clone failed");
          s.reset(c);
          break;
        }
        case 1: {  // save the shared grammar's state and load it into a new state of it
          GrammarStatePtr loaded = new_state(shared.get());
          if (!loaded || !save_of(s.get(), blob) || mmb_grammar_state_load(loaded.get(), blob.data(), blob.size()) != MMB_OK)
            return failures.add(t, step, "save and load on the shared grammar failed");
          s = std::move(loaded);
          break;
        }
        case 2: {  // the shared grammar's saved state loads into the private grammar's state
          GrammarStatePtr loaded = new_state(mine);
          if (!loaded || !save_of(s.get(), blob) || mmb_grammar_state_load(loaded.get(), blob.data(), blob.size()) != MMB_OK)
            return failures.add(t, step, "a state saved from the shared grammar did not load into the private one: " +
                                             std::string(mmb_last_error()));
          r = std::move(loaded);
          break;
        }
        case 3: {  // and the other way
          GrammarStatePtr loaded = new_state(shared.get());
          if (!loaded || !save_of(r.get(), blob) || mmb_grammar_state_load(loaded.get(), blob.data(), blob.size()) != MMB_OK)
            return failures.add(t, step, "a state saved from the private grammar did not load into the shared one");
          s = std::move(loaded);
          break;
        }
        default:
          break;
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(worker, t);
  for (std::thread& th : threads) th.join();
  for (const std::string& m : failures.messages) UNSCOPED_INFO(m);
  CHECK(failures.messages.empty());
  CHECK(masks_compared.load() == kThreads * kSteps);
  INFO("outputs finished: " << outputs_finished.load());
  SUCCEED();
}
