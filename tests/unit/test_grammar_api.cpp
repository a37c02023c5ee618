// Structured output through the public C API (moemamba.h section 9): every function's
// statuses and messages, masks against accept, saved states, clones, grammars that
// outlive their handles, sampling, jobs in frame and background modes (several
// grammars in one batched step), chats, and the function table.
#include "support/grammar_fixtures.hpp"
#include "support/grammar_recognizer.hpp"
#include "support/job_helpers.hpp"
#include "support/model_harness.hpp"
#include "support/splitmix_rng.hpp"

#include "grammar/gbnf_parser.hpp"
#include "grammar/json_schema_grammar.hpp"

#include <catch2/catch.hpp>

#include <moemamba/moemamba.h>

#include <cmath>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

using namespace mmb;
using namespace mmb::testing;

namespace {

const char* const kYesNo = "root ::= \"yes\" | \"no\" | \"not sure\"";
const char* const kNpc =
    R"({"type":"object","properties":{"action":{"enum":["attack","flee","talk"]},"target":{"type":"string","maxLength":12}},"required":["action","target"],"additionalProperties":false})";

// A random model with the demo model's 4k byte-level BPE vocabulary (eos 4095).
struct ApiModel {
  RuntimePtr rt = make_runtime();
  ModelPtr model = random_model(rt.get(), demo_tokenizer(), 4096, 3);
  grammar::Vocabulary vocab = vocabulary_of(model.get());
};
ApiModel& api_model() {
  static ApiModel m;
  return m;
}

std::string last_error() { return mmb_last_error(); }

std::vector<uint32_t> mask_of(mmb_grammar_state* s, uint32_t vocab) {
  std::vector<uint32_t> words((vocab + 31) / 32);
  REQUIRE(mmb_grammar_state_get_mask(s, words.data(), words.size()) == MMB_OK);
  return words;
}
bool bit(const std::vector<uint32_t>& words, int32_t t) { return (words[size_t(t) / 32] >> (t % 32)) & 1; }

std::vector<uint8_t> saved(const mmb_grammar_state* s) {
  size_t size = 0;
  REQUIRE(mmb_grammar_state_size(s, &size) == MMB_OK);
  std::vector<uint8_t> blob(size);
  size_t len = 0;
  REQUIRE(mmb_grammar_state_save(s, blob.data(), blob.size(), &len) == MMB_OK);
  REQUIRE(len == size);
  return blob;
}

// The tokens whose bytes spell `text` one byte-level piece after another, found greedily
// (longest piece first) among the vocabulary.
std::vector<int32_t> spell(const grammar::Vocabulary& v, const std::string& text) {
  std::vector<int32_t> out;
  for (size_t i = 0; i < text.size();) {
    int32_t best = -1;
    size_t best_len = 0;
    for (int32_t t = 0; t < int32_t(v.vocab_size); ++t) {
      const std::string& b = v.token_bytes[size_t(t)];
      if (!b.empty() && b.size() > best_len && text.compare(i, b.size(), b) == 0) best = t, best_len = b.size();
    }
    REQUIRE(best >= 0);
    out.push_back(best);
    i += best_len;
  }
  return out;
}

std::string bytes_of(const grammar::Vocabulary& v, const std::vector<int32_t>& tokens) {
  std::string s;
  for (int32_t t : tokens) s += v.token_bytes[size_t(t)];
  return s;
}

}  // namespace

TEST_CASE("Grammar API: options and creation statuses", "[grammar]") {
  ApiModel& m = api_model();
  mmb_grammar_options o;
  CHECK(mmb_grammar_options_init(nullptr, sizeof o) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(mmb_grammar_options_init(&o, 3) == MMB_ERR_INVALID_ARGUMENT);
  REQUIRE(mmb_grammar_options_init(&o, sizeof o) == MMB_OK);
  CHECK(o.struct_size == sizeof o);
  CHECK(o.root == nullptr);
  CHECK(o.json_whitespace == 1);
  CHECK(o.mask_cache_bytes == size_t(16) << 20);

  const std::string yes_no = kYesNo;
  mmb_grammar* g = nullptr;
  CHECK(mmb_grammar_create(nullptr, MMB_GRAMMAR_GBNF, yes_no.data(), yes_no.size(), nullptr, &g) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(mmb_grammar_create(m.model.get(), MMB_GRAMMAR_GBNF, yes_no.data(), yes_no.size(), nullptr, nullptr) ==
        MMB_ERR_INVALID_ARGUMENT);
  CHECK(mmb_grammar_create(m.model.get(), MMB_GRAMMAR_GBNF, nullptr, 5, nullptr, &g) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(mmb_grammar_create(m.model.get(), 7, yes_no.data(), yes_no.size(), nullptr, &g) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(last_error().find("7") != std::string::npos);
  CHECK(mmb_grammar_create(m.model.get(), 0, yes_no.data(), yes_no.size(), nullptr, &g) == MMB_ERR_INVALID_ARGUMENT);
  mmb_grammar_options bad = o;
  bad.struct_size = 5;
  CHECK(mmb_grammar_create(m.model.get(), MMB_GRAMMAR_GBNF, yes_no.data(), yes_no.size(), &bad, &g) ==
        MMB_ERR_INVALID_ARGUMENT);
  for (int32_t ws : {-1, 65, 1000}) {
    bad = o;
    bad.json_whitespace = ws;
    INFO("json_whitespace " << ws);
    CHECK(mmb_grammar_create(m.model.get(), MMB_GRAMMAR_JSON_SCHEMA, kNpc, std::strlen(kNpc), &bad, &g) ==
          MMB_ERR_INVALID_ARGUMENT);
    CHECK(last_error().find("json_whitespace") != std::string::npos);
  }
  CHECK(g == nullptr);
  for (int32_t ws : {0, 64}) {
    bad = o;
    bad.json_whitespace = ws;
    REQUIRE(mmb_grammar_create(m.model.get(), MMB_GRAMMAR_JSON_SCHEMA, kNpc, std::strlen(kNpc), &bad, &g) == MMB_OK);
    mmb_grammar_destroy(g);
    g = nullptr;
  }
  // The text need not be NUL-terminated; another root by name.
  const std::string two = "first ::= \"a\"\nsecond ::= \"b\"XXXX";
  bad = o;
  bad.root = "second";
  REQUIRE(mmb_grammar_create(m.model.get(), MMB_GRAMMAR_GBNF, two.data(), two.size() - 4, &bad, &g) == MMB_OK);
  {
    GrammarStatePtr s = make_state(g);
    const std::vector<int32_t> b = spell(m.vocab, "b");
    CHECK(mmb_grammar_state_accept(s.get(), b[0]) == MMB_OK);
  }
  mmb_grammar_destroy(g);
  mmb_grammar_destroy(nullptr);
  mmb_grammar_state_destroy(nullptr);
  bad.root = "third";
  CHECK(mmb_grammar_create(m.model.get(), MMB_GRAMMAR_GBNF, two.data(), two.size() - 4, &bad, &g) == MMB_ERR_GRAMMAR);
}

TEST_CASE("Grammar API: malformed grammars, schemas and choices say where", "[grammar]") {
  ApiModel& m = api_model();
  mmb_grammar* g = nullptr;
  const std::string gbnf = "root ::= item+\nitem ::= \"a\" | ( \"b\"\n";
  CHECK(mmb_grammar_create(m.model.get(), MMB_GRAMMAR_GBNF, gbnf.data(), gbnf.size(), nullptr, &g) == MMB_ERR_GRAMMAR);
  CHECK_THAT(last_error(), Catch::Matches(".*line [23], column [0-9]+.*"));
  const std::string undefined = "root ::= \"a\" missing\n";
  CHECK(mmb_grammar_create(m.model.get(), MMB_GRAMMAR_GBNF, undefined.data(), undefined.size(), nullptr, &g) ==
        MMB_ERR_GRAMMAR);
  CHECK(last_error().find("missing") != std::string::npos);
  const std::string left = "root ::= root \"a\" | \"b\"\n";
  CHECK(mmb_grammar_create(m.model.get(), MMB_GRAMMAR_GBNF, left.data(), left.size(), nullptr, &g) == MMB_ERR_GRAMMAR);
  CHECK(mmb_grammar_create(m.model.get(), MMB_GRAMMAR_GBNF, "", 0, nullptr, &g) == MMB_ERR_GRAMMAR);

  const std::string schema = R"({"type":"object","properties":{"name":{"type":"string","pattern":"^a+$"}}})";
  CHECK(mmb_grammar_create(m.model.get(), MMB_GRAMMAR_JSON_SCHEMA, schema.data(), schema.size(), nullptr, &g) ==
        MMB_ERR_GRAMMAR);
  CHECK(last_error().find("/properties/name") != std::string::npos);
  CHECK(last_error().find("pattern") != std::string::npos);
  const std::string not_json = "{\"type\": \"object\",\n  \"properties\": [}";
  CHECK(mmb_grammar_create(m.model.get(), MMB_GRAMMAR_JSON_SCHEMA, not_json.data(), not_json.size(), nullptr, &g) ==
        MMB_ERR_GRAMMAR);
  CHECK(last_error().find("line 2") != std::string::npos);
  CHECK(g == nullptr);

  const char* items[] = {"attack", "", "flee"};
  CHECK(mmb_grammar_create_choice(m.model.get(), items, nullptr, 3, nullptr, &g) == MMB_ERR_GRAMMAR);
  CHECK(last_error().find("2") != std::string::npos);
  const char* with_null[] = {"attack", nullptr};
  CHECK(mmb_grammar_create_choice(m.model.get(), with_null, nullptr, 2, nullptr, &g) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(mmb_grammar_create_choice(m.model.get(), items, nullptr, 0, nullptr, &g) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(mmb_grammar_create_choice(m.model.get(), nullptr, nullptr, 2, nullptr, &g) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(mmb_grammar_create_choice(nullptr, items, nullptr, 1, nullptr, &g) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(mmb_grammar_create_choice(m.model.get(), items, nullptr, 1, nullptr, nullptr) == MMB_ERR_INVALID_ARGUMENT);
  // Lengths: "attackXX" cut to "att"; duplicates count once.
  const char* cut[] = {"attackXX", "att"};
  const size_t lens[] = {3, 3};
  REQUIRE(mmb_grammar_create_choice(m.model.get(), cut, lens, 2, nullptr, &g) == MMB_OK);
  mmb_grammar_destroy(g);
  CHECK(std::string(mmb_status_string(MMB_ERR_GRAMMAR)) == "MMB_ERR_GRAMMAR");
}

TEST_CASE("Grammar API: state functions, masks against accept, and misuse", "[grammar]") {
  ApiModel& m = api_model();
  const uint32_t vocab = m.vocab.vocab_size;
  GrammarPtr g = make_grammar(m.model.get(), MMB_GRAMMAR_JSON_SCHEMA, kNpc);
  mmb_grammar_state* raw = nullptr;
  CHECK(mmb_grammar_state_create(nullptr, &raw) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(mmb_grammar_state_create(g.get(), nullptr) == MMB_ERR_INVALID_ARGUMENT);
  GrammarStatePtr s = make_state(g.get());
  CHECK(mmb_grammar_state_clone(nullptr, &raw) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(mmb_grammar_state_clone(s.get(), nullptr) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(mmb_grammar_state_reset(nullptr) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(mmb_grammar_state_accept(nullptr, 0) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(mmb_grammar_state_accept(s.get(), -1) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(mmb_grammar_state_accept(s.get(), int32_t(vocab)) == MMB_ERR_INVALID_ARGUMENT);
  int32_t can_end = -1, must_end = -1;
  CHECK(mmb_grammar_state_can_end(nullptr, &can_end, &must_end) == MMB_ERR_INVALID_ARGUMENT);
  REQUIRE(mmb_grammar_state_can_end(s.get(), nullptr, nullptr) == MMB_OK);
  REQUIRE(mmb_grammar_state_can_end(s.get(), &can_end, &must_end) == MMB_OK);
  CHECK(can_end == 0);
  CHECK(must_end == 0);

  std::vector<uint32_t> words((vocab + 31) / 32, 0xDEADBEEFu);
  CHECK(mmb_grammar_state_get_mask(nullptr, words.data(), words.size()) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(mmb_grammar_state_get_mask(s.get(), nullptr, words.size()) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(mmb_grammar_state_get_mask(s.get(), words.data(), words.size() - 1) == MMB_ERR_BUFFER_TOO_SMALL);
  CHECK(words[0] == 0xDEADBEEFu);  // nothing written
  std::vector<float> logits(vocab, 0.5f);
  CHECK(mmb_grammar_state_apply(nullptr, logits.data(), vocab) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(mmb_grammar_state_apply(s.get(), nullptr, vocab) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(mmb_grammar_state_apply(s.get(), logits.data(), vocab - 1) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(mmb_grammar_state_apply(s.get(), logits.data(), vocab + 1) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(logits[0] == 0.5f);
  size_t size = 0, len = 0;
  CHECK(mmb_grammar_state_size(nullptr, &size) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(mmb_grammar_state_size(s.get(), nullptr) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(mmb_grammar_state_save(nullptr, nullptr, 0, &len) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(mmb_grammar_state_save(s.get(), nullptr, 0, nullptr) == MMB_ERR_INVALID_ARGUMENT);
  REQUIRE(mmb_grammar_state_size(s.get(), &size) == MMB_OK);
  CHECK(mmb_grammar_state_save(s.get(), nullptr, 0, &len) == MMB_ERR_BUFFER_TOO_SMALL);
  CHECK(len == size);
  std::vector<uint8_t> small(size - 1);
  CHECK(mmb_grammar_state_save(s.get(), small.data(), small.size(), &len) == MMB_ERR_BUFFER_TOO_SMALL);
  CHECK(mmb_grammar_state_load(nullptr, small.data(), small.size()) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(mmb_grammar_state_load(s.get(), nullptr, 4) == MMB_ERR_INVALID_ARGUMENT);

  // Along a walk of random allowed tokens: the mask is exactly what accept takes,
  // apply puts -inf exactly off the mask, and a refused token changes nothing.
  SplitMixRng rng(5);
  std::string text;
  const grammar::GrammarAst ast = [&] {
    grammar::JsonGrammarOptions jo;
    return grammar::json_schema_grammar(kNpc, jo);
  }();
  for (int step = 0; step < 200; ++step) {
    const std::vector<uint32_t> mask = mask_of(s.get(), vocab);
    REQUIRE(mmb_grammar_state_can_end(s.get(), &can_end, &must_end) == MMB_OK);
    REQUIRE(bit(mask, 4095) == (can_end == 1));
    std::vector<float> l(vocab, 1.0f);
    REQUIRE(mmb_grammar_state_apply(s.get(), l.data(), vocab) == MMB_OK);
    std::vector<int32_t> allowed, refused;
    for (int32_t t = 0; t < int32_t(vocab); ++t) {
      REQUIRE(std::isinf(l[size_t(t)]) == !bit(mask, t));
      if (!std::isinf(l[size_t(t)])) REQUIRE(l[size_t(t)] == 1.0f);
      (bit(mask, t) ? allowed : refused).push_back(t);
    }
    for (int k = 0; k < 4; ++k) {
      const int32_t t = allowed[rng.below(uint32_t(allowed.size()))];
      mmb_grammar_state* c = nullptr;
      REQUIRE(mmb_grammar_state_clone(s.get(), &c) == MMB_OK);
      GrammarStatePtr clone(c);
      CHECK(mmb_grammar_state_accept(clone.get(), t) == MMB_OK);
    }
    const std::vector<uint8_t> before = saved(s.get());
    for (int k = 0; k < 4; ++k) {
      const int32_t t = refused[rng.below(uint32_t(refused.size()))];
      CHECK(mmb_grammar_state_accept(s.get(), t) == MMB_ERR_GRAMMAR);
    }
    CHECK(saved(s.get()) == before);
    CHECK(mask_of(s.get(), vocab) == mask);
    if (must_end) {
      CHECK(can_end == 1);
      CHECK(grammar_recognizes(ast, text));
      // A stop token is accepted where the grammar may end, and changes nothing.
      CHECK(mmb_grammar_state_accept(s.get(), 4095) == MMB_OK);
      CHECK(saved(s.get()) == before);
      break;
    }
    // Prefer tokens that are not a string's inside, so the walk reaches its end.
    int32_t t = allowed[rng.below(uint32_t(allowed.size()))];
    if (rng.below(2) == 0)
      for (int32_t a : allowed)
        if (m.vocab.token_bytes[size_t(a)].find_first_of("\"}") != std::string::npos) t = a;
    if (t == 4095) continue;
    REQUIRE(mmb_grammar_state_accept(s.get(), t) == MMB_OK);
    text += m.vocab.token_bytes[size_t(t)];
    REQUIRE(grammar_accepts_prefix(ast, text));
  }
  CHECK(must_end == 1);
}

TEST_CASE("Grammar API: save and load, clone, reset, and states outliving their grammar", "[grammar]") {
  ApiModel& m = api_model();
  const uint32_t vocab = m.vocab.vocab_size;
  GrammarPtr g = make_grammar(m.model.get(), MMB_GRAMMAR_JSON_SCHEMA, kNpc);
  GrammarStatePtr s = make_state(g.get());
  const std::vector<uint32_t> start_mask = mask_of(s.get(), vocab);
  const std::vector<uint8_t> start_blob = saved(s.get());
  const std::vector<int32_t> head = spell(m.vocab, R"({"action": "talk", "target": "the )");
  for (int32_t t : head) REQUIRE(mmb_grammar_state_accept(s.get(), t) == MMB_OK);
  const std::vector<uint8_t> blob = saved(s.get());
  const std::vector<uint32_t> mid_mask = mask_of(s.get(), vocab);
  CHECK(mid_mask != start_mask);

  // Round trip into a fresh state of the same grammar, and of the same source compiled again.
  GrammarStatePtr fresh = make_state(g.get());
  REQUIRE(mmb_grammar_state_load(fresh.get(), blob.data(), blob.size()) == MMB_OK);
  CHECK(mask_of(fresh.get(), vocab) == mid_mask);
  GrammarPtr again = make_grammar(m.model.get(), MMB_GRAMMAR_JSON_SCHEMA, kNpc);
  GrammarStatePtr other_handle = make_state(again.get());
  REQUIRE(mmb_grammar_state_load(other_handle.get(), blob.data(), blob.size()) == MMB_OK);
  CHECK(mask_of(other_handle.get(), vocab) == mid_mask);

  // Another grammar's state, or the same schema with other whitespace: a mismatch.
  GrammarPtr yes_no = make_grammar(m.model.get(), MMB_GRAMMAR_GBNF, kYesNo);
  GrammarStatePtr foreign = make_state(yes_no.get());
  const std::vector<uint8_t> foreign_before = saved(foreign.get());
  CHECK(mmb_grammar_state_load(foreign.get(), blob.data(), blob.size()) == MMB_ERR_STATE_MISMATCH);
  CHECK(saved(foreign.get()) == foreign_before);
  GrammarPtr compact = make_grammar(m.model.get(), MMB_GRAMMAR_JSON_SCHEMA, kNpc, 0);
  GrammarStatePtr compact_state = make_state(compact.get());
  CHECK(mmb_grammar_state_load(compact_state.get(), blob.data(), blob.size()) == MMB_ERR_STATE_MISMATCH);

  // Damaged blobs: every truncation, and flipped bytes past the header; nothing changes.
  GrammarStatePtr victim = make_state(g.get());
  for (size_t cut = 0; cut < blob.size(); ++cut) {
    const mmb_status st = mmb_grammar_state_load(victim.get(), blob.data(), cut);
    INFO("truncated to " << cut);
    CHECK((st == MMB_ERR_FORMAT || st == MMB_ERR_STATE_MISMATCH || (cut == 0 && st == MMB_ERR_INVALID_ARGUMENT)));
    REQUIRE(saved(victim.get()) == start_blob);
  }
  for (size_t i : {size_t(0), size_t(3), size_t(4), size_t(16), size_t(17), size_t(20)}) {
    // Damage to the header: magic, version, complete flag, stack count.
    std::vector<uint8_t> damaged = blob;
    damaged[i] ^= 0x5A;
    INFO("header byte " << i << " flipped");
    CHECK(mmb_grammar_state_load(victim.get(), damaged.data(), damaged.size()) == MMB_ERR_FORMAT);
    REQUIRE(saved(victim.get()) == start_blob);
  }
  std::vector<uint8_t> longer = blob;
  longer.push_back(0);
  CHECK(mmb_grammar_state_load(victim.get(), longer.data(), longer.size()) == MMB_ERR_FORMAT);

  // A clone continues exactly as the original, independently of it.
  mmb_grammar_state* c = nullptr;
  REQUIRE(mmb_grammar_state_clone(s.get(), &c) == MMB_OK);
  GrammarStatePtr clone(c);
  CHECK(saved(clone.get()) == blob);
  const std::vector<int32_t> tail = spell(m.vocab, R"(wolf"})");
  for (int32_t t : tail) {
    REQUIRE(mmb_grammar_state_accept(s.get(), t) == MMB_OK);
    REQUIRE(mmb_grammar_state_accept(clone.get(), t) == MMB_OK);
    CHECK(mask_of(s.get(), vocab) == mask_of(clone.get(), vocab));
    CHECK(saved(s.get()) == saved(clone.get()));
  }
  int32_t can_end = 0, must_end = 0;
  REQUIRE(mmb_grammar_state_can_end(clone.get(), &can_end, &must_end) == MMB_OK);
  CHECK(can_end == 1);
  CHECK(must_end == 1);
  CHECK(mask_of(fresh.get(), vocab) == mid_mask);  // the loaded copy did not move

  // Reset: back to the start.
  REQUIRE(mmb_grammar_state_reset(s.get()) == MMB_OK);
  CHECK(saved(s.get()) == start_blob);
  CHECK(mask_of(s.get(), vocab) == start_mask);

  // States keep their grammar alive.
  GrammarStatePtr orphan = make_state(again.get());
  again.reset();
  CHECK(mask_of(orphan.get(), vocab) == start_mask);
  for (int32_t t : head) REQUIRE(mmb_grammar_state_accept(orphan.get(), t) == MMB_OK);
  mmb_grammar_state* oc = nullptr;
  REQUIRE(mmb_grammar_state_clone(orphan.get(), &oc) == MMB_OK);
  GrammarStatePtr orphan_clone(oc);
  orphan.reset();
  CHECK(mask_of(orphan_clone.get(), vocab) == mid_mask);
  for (int32_t t : tail) REQUIRE(mmb_grammar_state_accept(orphan_clone.get(), t) == MMB_OK);
}

TEST_CASE("Grammar API: a saved state with any byte damaged is refused", "[grammar]") {
  ApiModel& m = api_model();
  GrammarPtr g = make_grammar(m.model.get(), MMB_GRAMMAR_JSON_SCHEMA, kNpc);
  GrammarStatePtr s = make_state(g.get());
  for (int32_t t : spell(m.vocab, R"({"action": "talk", "target": "the )")) REQUIRE(mmb_grammar_state_accept(s.get(), t) == MMB_OK);
  const std::vector<uint8_t> blob = saved(s.get());
  GrammarStatePtr victim = make_state(g.get());
  const std::vector<uint8_t> start_blob = saved(victim.get());
  std::vector<size_t> accepted;
  for (size_t i = 0; i < blob.size(); ++i) {
    for (uint8_t flip : {uint8_t(0x01), uint8_t(0x5A), uint8_t(0x80)}) {
      std::vector<uint8_t> damaged = blob;
      damaged[i] ^= flip;
      const mmb_status st = mmb_grammar_state_load(victim.get(), damaged.data(), damaged.size());
      if (st == MMB_OK) {
        accepted.push_back(i);
        REQUIRE(mmb_grammar_state_reset(victim.get()) == MMB_OK);
      } else {
        CHECK((st == MMB_ERR_FORMAT || st == MMB_ERR_STATE_MISMATCH));
      }
      REQUIRE(saved(victim.get()) == start_blob);
    }
  }
  // A damaged blob that loads puts the generation at a place it never was.
  INFO("blob of " << blob.size() << " bytes; damage accepted at byte offsets " << ::Catch::Detail::stringify(accepted));
  CHECK(accepted.empty());
}

TEST_CASE("Grammar API: mmb_sampler_sample_grammar picks allowed tokens and advances", "[grammar]") {
  ApiModel& m = api_model();
  const uint32_t vocab = m.vocab.vocab_size;
  const grammar::GrammarAst ast = grammar::parse_gbnf(kYesNo);
  GrammarPtr g = make_grammar(m.model.get(), MMB_GRAMMAR_GBNF, kYesNo);
  SplitMixRng rng(9);
  size_t outputs = 0;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    SamplerPtr sampler = plain_sampler(seed);
    GrammarStatePtr s = make_state(g.get());
    std::vector<float> logits(vocab);
    int32_t token = -1;
    CHECK(mmb_sampler_sample_grammar(nullptr, s.get(), logits.data(), vocab, &token) == MMB_ERR_INVALID_ARGUMENT);
    CHECK(mmb_sampler_sample_grammar(sampler.get(), nullptr, logits.data(), vocab, &token) == MMB_ERR_INVALID_ARGUMENT);
    CHECK(mmb_sampler_sample_grammar(sampler.get(), s.get(), nullptr, vocab, &token) == MMB_ERR_INVALID_ARGUMENT);
    CHECK(mmb_sampler_sample_grammar(sampler.get(), s.get(), logits.data(), vocab, nullptr) == MMB_ERR_INVALID_ARGUMENT);
    CHECK(mmb_sampler_sample_grammar(sampler.get(), s.get(), logits.data(), vocab - 1, &token) == MMB_ERR_INVALID_ARGUMENT);
    std::string text;
    for (int step = 0; step < 32; ++step) {
      for (float& l : logits) l = float(rng.below(1000)) / 100.0f;
      const std::vector<float> copy = logits;
      const std::vector<uint32_t> mask = mask_of(s.get(), vocab);
      int32_t can_end = 0, must_end = 0;
      REQUIRE(mmb_grammar_state_can_end(s.get(), &can_end, &must_end) == MMB_OK);
      const mmb_status st = mmb_sampler_sample_grammar(sampler.get(), s.get(), logits.data(), vocab, &token);
      CHECK(logits == copy);  // not modified
      if (must_end) {
        // Complete: nothing may follow.
        CHECK(st == MMB_ERR_GRAMMAR);
        break;
      }
      REQUIRE(st == MMB_OK);
      REQUIRE(bit(mask, token));
      if (token == 4095) {
        CHECK(can_end == 1);
        break;
      }
      text += m.vocab.token_bytes[size_t(token)];
      REQUIRE(grammar_accepts_prefix(ast, text));
    }
    CHECK(grammar_recognizes(ast, text));
    ++outputs;
  }
  CHECK(outputs == 40);
  // No allowed token with a finite logit.
  GrammarStatePtr s = make_state(g.get());
  SamplerPtr sampler = plain_sampler(1);
  const std::vector<uint32_t> mask = mask_of(s.get(), vocab);
  std::vector<float> logits(vocab, 0.0f);
  for (int32_t t = 0; t < int32_t(vocab); ++t)
    if (bit(mask, t)) logits[size_t(t)] = -INFINITY;
  int32_t token = -1;
  CHECK(mmb_sampler_sample_grammar(sampler.get(), s.get(), logits.data(), vocab, &token) == MMB_ERR_INVALID_ARGUMENT);
}

TEST_CASE("Grammar API: mmb_generate stops where the grammar must end", "[grammar]") {
  ApiModel& m = api_model();
  GrammarPtr g = make_grammar(m.model.get(), MMB_GRAMMAR_GBNF, "root ::= \"yes\" | \"no\"");
  SessionPtr session = make_session(m.model.get());
  for (uint64_t seed = 0; seed < 20; ++seed) {
    REQUIRE(mmb_session_reset(session.get()) == MMB_OK);
    SamplerPtr sampler = plain_sampler(seed);
    GrammarStatePtr s = make_state(g.get());
    mmb_generate_options o;
    REQUIRE(mmb_generate_options_init(&o, sizeof o) == MMB_OK);
    CHECK(o.grammar == nullptr);
    o.grammar = s.get();
    o.max_tokens = 100;
    o.stop_at_eos = 0;  // taken as 1 under a grammar
    std::string text;
    size_t calls = 0;
    auto cb = [](void* user, int32_t, const char* t, size_t len) -> int32_t {
      static_cast<std::string*>(user)->append(t, len);
      return 1;
    };
    REQUIRE(mmb_generate(session.get(), sampler.get(), "Q: ", 3, &o, cb, &text) == MMB_OK);
    (void)calls;
    INFO(text);
    CHECK((text == "yes" || text == "no"));
    int32_t can_end = 0, must_end = 0;
    REQUIRE(mmb_grammar_state_can_end(s.get(), &can_end, &must_end) == MMB_OK);
    CHECK(must_end == 1);
  }
  // A grammar of another vocabulary.
  RuntimePtr rt = make_runtime();
  ModelPtr bytes = random_model(rt.get(), TokenizerData::bytes(), 256, 4);
  GrammarPtr byte_grammar = make_grammar(bytes.get(), MMB_GRAMMAR_GBNF, "root ::= \"yes\"");
  GrammarStatePtr bs = make_state(byte_grammar.get());
  mmb_generate_options o;
  REQUIRE(mmb_generate_options_init(&o, sizeof o) == MMB_OK);
  o.grammar = bs.get();
  SamplerPtr sampler = plain_sampler(1);
  CHECK(mmb_generate(session.get(), sampler.get(), "Q", 1, &o, nullptr, nullptr) == MMB_ERR_STATE_MISMATCH);
  // max_tokens reached first: MMB_OK with the grammar unfinished.
  GrammarPtr long_g = make_grammar(m.model.get(), MMB_GRAMMAR_GBNF, "root ::= \"a\"{40}");
  GrammarStatePtr ls = make_state(long_g.get());
  o.grammar = ls.get();
  o.max_tokens = 3;
  REQUIRE(mmb_session_reset(session.get()) == MMB_OK);
  CHECK(mmb_generate(session.get(), sampler.get(), "Q", 1, &o, nullptr, nullptr) == MMB_OK);
  int32_t can_end = 1;
  REQUIRE(mmb_grammar_state_can_end(ls.get(), &can_end, nullptr) == MMB_OK);
  CHECK(can_end == 0);
}

namespace {

// Several jobs on one model, each under its own grammar, in one runtime's job mode.
void run_grammar_jobs(int32_t mode) {
  RuntimePtr rt = make_runtime([&](mmb_runtime_options& o) { o.job_mode = mode; });
  ModelPtr model = random_model(rt.get(), demo_tokenizer(), 4096, 3);
  const grammar::Vocabulary vocab = vocabulary_of(model.get());
  const std::vector<std::string> schemas = {"npc_action", "tool_call", "numbers", "unicode", "inventory", "anyof"};
  const std::vector<std::string> gbnfs = {"arithmetic", "chess"};
  struct Line {
    std::string name;
    grammar::GrammarAst ast;
    GrammarPtr grammar;
    GrammarStatePtr state;
    std::vector<uint8_t> state_before;
    SessionPtr session;
    JobPtr job;
  };
  std::vector<Line> lines;
  for (int round = 0; round < 2; ++round) {
    for (const std::string& s : schemas)
      lines.push_back({"schema " + s, schema_ast(s), make_grammar(model.get(), MMB_GRAMMAR_JSON_SCHEMA,
                                                                  grammar_sample("schemas/" + s + ".json")), nullptr, {}, nullptr, nullptr});
    for (const std::string& s : gbnfs)
      lines.push_back({"gbnf " + s, gbnf_ast(s), make_grammar(model.get(), MMB_GRAMMAR_GBNF, grammar_sample("gbnf/" + s + ".gbnf")),
                       nullptr, {}, nullptr, nullptr});
  }
  uint64_t seed = 100;
  for (size_t i = 0; i < lines.size(); ++i) {
    Line& l = lines[i];
    l.state = make_state(l.grammar.get());
    // Half the lines start from a state the host advanced (a prompt the output continues).
    if (i % 2 == 1 && l.name.rfind("schema", 0) == 0) {
      REQUIRE(mmb_grammar_state_accept(l.state.get(), spell(vocab, "{")[0]) == MMB_OK);
    }
    l.state_before = saved(l.state.get());
    l.session = make_session(model.get());
    SamplerPtr sampler = plain_sampler(seed++);
    mmb_job_options o;
    REQUIRE(mmb_job_options_init(&o, sizeof o) == MMB_OK);
    CHECK(o.grammar == nullptr);
    o.max_tokens = 400;
    o.grammar = l.state.get();
    mmb_job* job = nullptr;
    const std::string prompt = "Output: ";
    REQUIRE(mmb_job_submit_text(l.session.get(), sampler.get(), prompt.data(), prompt.size(), &o, &job) == MMB_OK);
    l.job = JobPtr(job);
    CHECK(saved(l.state.get()) == l.state_before);
  }
  // The host may destroy a state at once: the job has its own copy.
  GrammarStatePtr kept_first = std::move(lines[0].state);
  kept_first.reset();
  if (mode == MMB_JOBS_FRAME) {
    mmb_frame_stats st;
    uint64_t steps = 0, tokens = 0;
    for (int frame = 0; frame < 100000; ++frame) {
      st.struct_size = sizeof st;
      REQUIRE(mmb_runtime_frame(rt.get(), 1000, &st) == MMB_OK);
      steps += st.steps;
      tokens += st.tokens_generated;
      if (st.jobs_active == 0) break;
    }
    // Lines under different grammars shared batched steps.
    CHECK(steps < tokens / 2);
  }
  size_t complete = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    Line& l = lines[i];
    INFO(l.name << ", line " << i);
    int32_t state = 0;
    REQUIRE(mmb_job_wait(l.job.get(), 60000, &state) == MMB_OK);
    REQUIRE(state == MMB_JOB_FINISHED);
    mmb_status result = MMB_ERR_INTERNAL;
    REQUIRE(mmb_job_poll(l.job.get(), nullptr, &result) == MMB_OK);
    CHECK(result == MMB_OK);
    size_t n = 0;
    REQUIRE(mmb_job_read_tokens(l.job.get(), nullptr, 0, &n) != MMB_ERR_INVALID_ARGUMENT);
    std::vector<int32_t> tokens(n);
    REQUIRE(mmb_job_read_tokens(l.job.get(), tokens.data(), n, &n) == MMB_OK);
    const std::string head = i % 2 == 1 && l.name.rfind("schema", 0) == 0 ? "{" : "";
    const std::string text = head + bytes_of(vocab, tokens);
    INFO(json_string_literal(text));
    for (int32_t t : tokens) REQUIRE_FALSE(vocab.token_bytes[size_t(t)].empty());
    if (n < 400) {
      CHECK(grammar_recognizes(l.ast, text));
      ++complete;
    } else {
      CHECK(grammar_accepts_prefix(l.ast, text));
    }
    if (l.state) CHECK(saved(l.state.get()) == l.state_before);
  }
  CHECK(complete * 10 >= lines.size() * 9);
}

}  // namespace

TEST_CASE("Grammar API: jobs under different grammars share frames, the host's state is untouched", "[grammar]") {
  run_grammar_jobs(MMB_JOBS_FRAME);
}

TEST_CASE("Grammar API: jobs under grammars in the background", "[grammar]") { run_grammar_jobs(MMB_JOBS_WORKER); }

TEST_CASE("Grammar API: mmb_chat_generate under a grammar", "[grammar]") {
  RuntimePtr rt = make_runtime();
  TokenizerData t = demo_tokenizer();
  t.chat_templates = {{"default",
                       "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
                       "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"}};
  ModelPtr model = random_model(rt.get(), t, 4096, 8);
  const grammar::Vocabulary vocab = vocabulary_of(model.get());
  GrammarPtr g = make_grammar(model.get(), MMB_GRAMMAR_JSON_SCHEMA, kNpc);
  grammar::JsonGrammarOptions jo;
  const grammar::GrammarAst ast = grammar::json_schema_grammar(kNpc, jo);
  mmb_chat* raw = nullptr;
  REQUIRE(mmb_chat_create(model.get(), nullptr, &raw) == MMB_OK);
  std::unique_ptr<mmb_chat, void (*)(mmb_chat*)> chat(raw, mmb_chat_destroy);
  for (int turn = 0; turn < 3; ++turn) {
    REQUIRE(mmb_chat_add(chat.get(), "user", "What do you do next? Answer in JSON.") == MMB_OK);
    SamplerPtr sampler = plain_sampler(uint64_t(turn) + 40);
    GrammarStatePtr s = make_state(g.get());
    mmb_generate_options o;
    REQUIRE(mmb_generate_options_init(&o, sizeof o) == MMB_OK);
    o.grammar = s.get();
    o.max_tokens = 300;
    std::string text;
    auto cb = [](void* user, int32_t, const char* p, size_t len) -> int32_t {
      static_cast<std::string*>(user)->append(p, len);
      return 1;
    };
    mmb_chat_stats stats{};
    stats.struct_size = sizeof stats;
    const mmb_status st = mmb_chat_generate(chat.get(), sampler.get(), &o, cb, &text, &stats);
    INFO(mmb_last_error());
    REQUIRE(st == MMB_OK);
    INFO(json_string_literal(text));
    CHECK(grammar_recognizes(ast, text));
    int32_t can_end = 0;
    REQUIRE(mmb_grammar_state_can_end(s.get(), &can_end, nullptr) == MMB_OK);
    CHECK(can_end == 1);
    size_t count = 0;
    REQUIRE(mmb_chat_get_message_count(chat.get(), &count) == MMB_OK);
    REQUIRE(count == size_t(2 * turn + 2));
    size_t role_len = 0, content_len = 0;
    REQUIRE(mmb_chat_get_message(chat.get(), count - 1, nullptr, 0, &role_len, nullptr, 0, &content_len) ==
            MMB_ERR_BUFFER_TOO_SMALL);
    std::string role(role_len, '\0'), content(content_len, '\0');
    REQUIRE(mmb_chat_get_message(chat.get(), count - 1, role.data(), role.size(), &role_len, content.data(),
                                 content.size(), &content_len) == MMB_OK);
    CHECK(role == "assistant");
    CHECK(content == text);
  }
}

TEST_CASE("Grammar API: the function table has the grammar members", "[grammar]") {
  const mmb_api* api = mmb_get_api(2);
  REQUIRE(api != nullptr);
  REQUIRE(api->struct_size >= offsetof(mmb_api, grammar_state_load) + sizeof(api->grammar_state_load));
  CHECK(api->grammar_options_init == &mmb_grammar_options_init);
  CHECK(api->grammar_create == &mmb_grammar_create);
  CHECK(api->grammar_create_choice == &mmb_grammar_create_choice);
  CHECK(api->grammar_destroy == &mmb_grammar_destroy);
  CHECK(api->grammar_state_create == &mmb_grammar_state_create);
  CHECK(api->grammar_state_destroy == &mmb_grammar_state_destroy);
  CHECK(api->grammar_state_clone == &mmb_grammar_state_clone);
  CHECK(api->grammar_state_reset == &mmb_grammar_state_reset);
  CHECK(api->grammar_state_accept == &mmb_grammar_state_accept);
  CHECK(api->grammar_state_can_end == &mmb_grammar_state_can_end);
  CHECK(api->grammar_state_get_mask == &mmb_grammar_state_get_mask);
  CHECK(api->grammar_state_apply == &mmb_grammar_state_apply);
  CHECK(api->sampler_sample_grammar == &mmb_sampler_sample_grammar);
  CHECK(api->grammar_state_size == &mmb_grammar_state_size);
  CHECK(api->grammar_state_save == &mmb_grammar_state_save);
  CHECK(api->grammar_state_load == &mmb_grammar_state_load);
  CHECK(MMB_VERSION_NUMBER >= 700);
}
