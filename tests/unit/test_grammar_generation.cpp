// Structured output end to end: over a thousand generations through mmb_generate (the
// demo model and random models with byte, 4k and 50k vocabularies; random seeds,
// temperature 1.0, nothing cut from the distribution), under JSON Schemas and GBNF
// grammars of every shape the feature promises: nested objects, arrays with bounds,
// enums, numbers with bounds, recursion, unicode strings. Every output is judged by
// checks that share nothing with the library's matcher: ajv (node) for JSON against
// the schema itself, the Earley recognizer (tests/support) for grammars. Then a loop
// with a deliberately wrong mask shows that these checks catch one refused token.
#include "support/grammar_fixtures.hpp"
#include "support/grammar_recognizer.hpp"
#include "support/model_harness.hpp"
#include "support/splitmix_rng.hpp"

#include "grammar/choice_grammar.hpp"

#include <catch2/catch.hpp>

#include <moemamba/moemamba.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

using namespace mmb;
using namespace mmb::testing;

namespace {

// One grammar the tests generate under: its source, the AST the recognizer reads, and
// the schema file ajv reads for JSON.
struct Target {
  std::string name;
  int32_t kind = MMB_GRAMMAR_JSON_SCHEMA;  // or MMB_GRAMMAR_GBNF; choices are GBNF-like
  std::string schema;                      // JSON: tests/grammar/schemas/<schema>.json
  std::string text;                        // what mmb_grammar_create reads
  int32_t whitespace = 1;
  std::vector<std::string> choices;        // a choice list when not empty
  int32_t max_tokens = 400;
  grammar::GrammarAst ast;
  std::unique_ptr<grammar::GrammarProgram> program;

  bool json() const { return kind == MMB_GRAMMAR_JSON_SCHEMA; }
};

Target schema_target(const std::string& schema, int32_t whitespace = 1, int32_t max_tokens = 400) {
  Target t;
  t.name = "schema " + schema + (whitespace != 1 ? " ws " + std::to_string(whitespace) : "");
  t.schema = schema;
  t.text = grammar_sample("schemas/" + schema + ".json");
  t.whitespace = whitespace;
  t.max_tokens = max_tokens;
  t.ast = schema_ast(schema, whitespace);
  t.program = std::make_unique<grammar::GrammarProgram>(t.ast);
  return t;
}

Target gbnf_target(const std::string& name, int32_t max_tokens = 300) {
  Target t;
  t.name = "gbnf " + name;
  t.kind = MMB_GRAMMAR_GBNF;
  t.text = grammar_sample("gbnf/" + name + ".gbnf");
  t.max_tokens = max_tokens;
  t.ast = gbnf_ast(name);
  t.program = std::make_unique<grammar::GrammarProgram>(t.ast);
  return t;
}

Target choice_target() {
  Target t;
  t.name = "choice";
  t.kind = MMB_GRAMMAR_GBNF;
  t.choices = {"attack", "attack the wolf", "flee", "talk to the merchant", "日本語で話す", "émigré", "wait"};
  std::vector<std::string_view> views(t.choices.begin(), t.choices.end());
  t.ast = grammar::choice_grammar(views);
  t.program = std::make_unique<grammar::GrammarProgram>(t.ast);
  t.max_tokens = 64;
  return t;
}

// Every grammar of the tests, the long ones last.
std::vector<Target> all_targets() {
  std::vector<Target> t;
  t.push_back(schema_target("npc_action"));
  t.push_back(schema_target("tool_call", 0));
  t.push_back(schema_target("numbers"));
  t.push_back(schema_target("unicode"));
  t.push_back(schema_target("anyof"));
  t.push_back(schema_target("optional_props"));
  t.push_back(schema_target("bench_object6", 2));
  t.push_back(schema_target("inventory"));
  t.push_back(schema_target("defs_recursive"));
  t.push_back(schema_target("free", 1, 48));
  t.push_back(gbnf_target("arithmetic"));
  t.push_back(gbnf_target("chess"));
  t.push_back(gbnf_target("list"));
  t.push_back(gbnf_target("unicode"));
  t.push_back(gbnf_target("json", 48));
  t.push_back(choice_target());
  return t;
}

GrammarPtr compile(const mmb_model* model, const Target& t) {
  return t.choices.empty() ? make_grammar(model, t.kind, t.text, t.whitespace) : make_choice(model, t.choices);
}

struct Output {
  size_t target = 0;
  std::string bytes;     // the emitted tokens' bytes
  std::string streamed;  // the callback's text
  size_t tokens = 0;
  bool can_end = false;  // the state after the last token
  bool ended = false;    // ended before max_tokens
  bool faulted = false;  // (fault injection) a refused token was emitted
};

struct Collected {
  std::vector<int32_t> tokens;
  std::string text;
};

int32_t collect(void* user, int32_t token, const char* text, size_t len) {
  auto* c = static_cast<Collected*>(user);
  if (token >= 0) c->tokens.push_back(token);
  c->text.append(text, len);
  return 1;
}

// A model the generations run on, with the vocabulary the grammar binds to.
struct GenModel {
  std::string name;
  RuntimePtr runtime;
  ModelPtr model;
  grammar::Vocabulary vocab;
  std::string prompt;
};

// `count` generations of each target (seeds from `seed`) on one model, appended to `out`.
void generate_all(GenModel& m, const std::vector<Target>& targets, const std::vector<size_t>& chosen, size_t count,
                  uint64_t seed, std::vector<Output>& out) {
  SessionPtr session = make_session(m.model.get());
  for (size_t ti : chosen) {
    const Target& t = targets[ti];
    GrammarPtr g = compile(m.model.get(), t);
    for (size_t i = 0; i < count; ++i) {
      INFO(m.name << ", " << t.name << ", generation " << i);
      REQUIRE(mmb_session_reset(session.get()) == MMB_OK);
      SamplerPtr sampler = plain_sampler(seed++);
      GrammarStatePtr state = make_state(g.get());
      mmb_generate_options o;
      REQUIRE(mmb_generate_options_init(&o, sizeof o) == MMB_OK);
      o.max_tokens = t.max_tokens;
      o.grammar = state.get();
      Collected c;
      const mmb_status s = mmb_generate(session.get(), sampler.get(), m.prompt.data(), m.prompt.size(), &o, collect, &c);
      INFO(mmb_last_error());
      REQUIRE(s == MMB_OK);
      Output r;
      r.target = ti;
      for (int32_t tok : c.tokens) {
        REQUIRE(tok >= 0);
        REQUIRE(tok < int32_t(m.vocab.vocab_size));
        REQUIRE_FALSE(m.vocab.token_bytes[size_t(tok)].empty());  // no stop or special token is emitted
        r.bytes += m.vocab.token_bytes[size_t(tok)];
      }
      r.streamed = c.text;
      r.tokens = c.tokens.size();
      int32_t can_end = 0, must_end = 0;
      REQUIRE(mmb_grammar_state_can_end(state.get(), &can_end, &must_end) == MMB_OK);
      r.can_end = can_end != 0;
      r.ended = r.tokens < size_t(t.max_tokens);
      out.push_back(std::move(r));
    }
  }
}

struct Report {
  size_t outputs = 0, ended = 0, at_max_tokens = 0, complete = 0;
  size_t recognizer_failures = 0, ajv_failures = 0, ajv_checked = 0, stream_mismatches = 0;
  bool ajv_ran = true;
  std::vector<bool> flagged;  // per output: some check refused it
  std::vector<std::string> examples;
};

// Judges every output: complete ones (the state may end) must be sentences of the
// grammar and, for JSON, valid against the schema by ajv; the others valid prefixes.
Report judge(const std::vector<Target>& targets, const std::vector<Output>& outputs, const std::string& label) {
  Report rep;
  rep.outputs = outputs.size();
  rep.flagged.assign(outputs.size(), false);
  std::map<std::string, std::vector<size_t>> json_docs;  // schema -> output indices
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Output& o = outputs[i];
    const Target& t = targets[o.target];
    rep.ended += o.ended;
    rep.at_max_tokens += !o.ended;
    bool ok = true;
    if (o.can_end) {
      ++rep.complete;
      ok = grammar_recognizes(t.ast, o.bytes);
      if (t.json()) json_docs[t.schema + ".json"].push_back(i);
      if (!o.faulted && o.streamed != o.bytes) ++rep.stream_mismatches;
    } else {
      ok = text_is_prefix(t.ast, *t.program, o.bytes);
    }
    if (!ok) {
      ++rep.recognizer_failures;
      rep.flagged[i] = true;
      if (rep.examples.size() < 5) rep.examples.push_back(t.name + " (recognizer): " + json_string_literal(o.bytes));
    }
  }
  for (const auto& [schema, indices] : json_docs) {
    std::vector<std::string> docs;
    for (size_t i : indices) docs.push_back(outputs[i].bytes);
    const auto verdicts = ajv_validate(grammar_sample_path("schemas/" + schema), docs);
    if (!verdicts) {
      rep.ajv_ran = false;
      continue;
    }
    for (size_t k = 0; k < indices.size(); ++k) {
      ++rep.ajv_checked;
      if ((*verdicts)[k].empty()) continue;
      ++rep.ajv_failures;
      rep.flagged[indices[k]] = true;
      if (rep.examples.size() < 10)
        rep.examples.push_back(schema + " (ajv): " + json_string_literal(docs[k]) + " -> " + (*verdicts)[k]);
    }
  }
  std::printf("%s: %zu outputs, %zu ended by themselves, %zu stopped at max_tokens, %zu complete; %zu JSON documents "
              "checked by ajv; failures: recognizer %zu, ajv %zu\n",
              label.c_str(), rep.outputs, rep.ended, rep.at_max_tokens, rep.complete, rep.ajv_checked,
              rep.recognizer_failures, rep.ajv_failures);
  return rep;
}

std::vector<size_t> indices_of(const std::vector<Target>& targets, std::initializer_list<const char*> names) {
  std::vector<size_t> out;
  for (const char* n : names) {
    size_t found = targets.size();
    for (size_t i = 0; i < targets.size(); ++i)
      if (targets[i].name == n) found = i;
    REQUIRE(found < targets.size());
    out.push_back(found);
  }
  return out;
}

std::vector<size_t> every(const std::vector<Target>& targets) {
  std::vector<size_t> out;
  for (size_t i = 0; i < targets.size(); ++i) out.push_back(i);
  return out;
}

GenModel demo_model() {
  GenModel m;
  m.name = "demo model";
  m.runtime = make_runtime();
  mmb_model* raw = nullptr;
  REQUIRE(mmb_model_load_file(m.runtime.get(), demo_model_path().c_str(), nullptr, &raw) == MMB_OK);
  m.model = ModelPtr(raw);
  m.vocab = vocabulary_of(m.model.get());
  m.prompt = "The guard answered in JSON:";
  return m;
}

GenModel random_gen_model(const std::string& name, const TokenizerData& tokenizer, uint32_t vocab, uint64_t seed) {
  GenModel m;
  m.name = name;
  m.runtime = make_runtime();
  m.model = random_model(m.runtime.get(), tokenizer, vocab, seed);
  m.vocab = vocabulary_of(m.model.get());
  m.prompt = "Output: ";
  return m;
}

}  // namespace

TEST_CASE("Every output of 1000 constrained generations is valid (ajv and the recognizer)", "[grammar]") {
  const auto begin = std::chrono::steady_clock::now();
  const std::vector<Target> targets = all_targets();
  std::vector<Output> outputs;

  {
    GenModel demo = demo_model();
    REQUIRE(demo.vocab.stop_tokens == std::vector<int32_t>{4095});
    generate_all(demo, targets,
                 indices_of(targets, {"schema npc_action", "schema tool_call ws 0", "schema numbers", "schema unicode",
                                      "schema anyof", "schema optional_props", "gbnf chess", "gbnf arithmetic",
                                      "gbnf list", "choice"}),
                 10, 1000, outputs);
  }
  const size_t demo_outputs = outputs.size();
  {
    GenModel m = random_gen_model("random model, demo tokenizer", demo_tokenizer(), 4096, 11);
    generate_all(m, targets, every(targets), 20, 2000, outputs);
  }
  {
    // 256 single bytes and no stop token: multi-byte characters are split over tokens,
    // and each output ends where the grammar first may.
    GenModel m = random_gen_model("random model, byte tokenizer", TokenizerData::bytes(), 256, 12);
    REQUIRE(m.vocab.stop_tokens.empty());
    generate_all(m, targets, every(targets), 20, 3000, outputs);
  }
  {
    GenModel m = random_gen_model("random model, GPT-2 tokenizer", gpt2_tokenizer_data(), 50257, 13);
    REQUIRE(m.vocab.stop_tokens == std::vector<int32_t>{50256});
    generate_all(m, targets, every(targets), 20, 4000, outputs);
  }
  const double generation_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  REQUIRE(outputs.size() >= 1000);

  const Report rep = judge(targets, outputs, "constrained generations");
  for (const std::string& e : rep.examples) UNSCOPED_INFO(e);
  CHECK(rep.recognizer_failures == 0);
  CHECK(rep.ajv_failures == 0);
  CHECK(rep.stream_mismatches == 0);
  // Nearly every generation finishes by itself; the free-form grammars (any JSON value)
  // may run to their short max_tokens.
  CHECK(rep.ended * 10 >= rep.outputs * 9);
  if (rep.ajv_ran) CHECK(rep.ajv_checked * 2 >= rep.outputs);
  // An output that ended by itself is complete.
  for (const Output& o : outputs)
    if (o.ended) CHECK(o.can_end);
  std::printf("constrained generations: %zu (%zu on the demo model) in %.1f s, judged in %.1f s\n", outputs.size(),
              demo_outputs, generation_seconds,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count() - generation_seconds);
}

TEST_CASE("A wrong mask fails the output checks: one refused token injected", "[grammar]") {
  // The loop of mmb_generate written out (step, apply the mask, sample, accept), with
  // a fault: now and then one token the mask refused gets a high logit back. The state
  // does not move past a token it refuses, so the generation goes on from where the
  // grammar was, as a matcher that lost track would; its output looks finished.
  const std::vector<Target> targets = all_targets();
  const std::vector<size_t> chosen =
      indices_of(targets, {"schema npc_action", "schema tool_call ws 0", "schema numbers", "schema unicode",
                           "schema inventory", "schema anyof", "gbnf arithmetic", "gbnf chess", "gbnf unicode", "choice"});
  GenModel m = random_gen_model("random model, demo tokenizer", demo_tokenizer(), 4096, 21);
  const int32_t n = int32_t(m.vocab.vocab_size);
  SessionPtr session = make_session(m.model.get());
  SplitMixRng rng(77);
  std::vector<Output> outputs;
  std::vector<int32_t> prompt(64);
  size_t injected = 0;
  for (size_t ti : chosen) {
    const Target& t = targets[ti];
    GrammarPtr g = compile(m.model.get(), t);
    for (int i = 0; i < 16; ++i) {
      INFO(t.name << ", generation " << i);
      REQUIRE(mmb_session_reset(session.get()) == MMB_OK);
      size_t n_prompt = 0;
      REQUIRE(mmb_tokenize(m.model.get(), m.prompt.data(), m.prompt.size(), prompt.data(), prompt.size(), &n_prompt, 0) ==
              MMB_OK);
      std::vector<float> logits(static_cast<size_t>(n)), work(static_cast<size_t>(n));
      REQUIRE(mmb_session_prefill(session.get(), prompt.data(), n_prompt, logits.data(), logits.size()) == MMB_OK);
      SamplerPtr sampler = plain_sampler(500 + uint64_t(i) * 31 + ti);
      GrammarStatePtr state = make_state(g.get());
      Output r;
      r.target = ti;
      // Half the generations carry a fault, injected at a random step of the first 12.
      const int fault_at = i % 2 == 0 ? int(rng.below(12)) : -1;
      for (int step = 0; step < t.max_tokens; ++step) {
        int32_t can_end = 0, must_end = 0;
        REQUIRE(mmb_grammar_state_can_end(state.get(), &can_end, &must_end) == MMB_OK);
        if (must_end) break;
        work = logits;
        REQUIRE(mmb_grammar_state_apply(state.get(), work.data(), work.size()) == MMB_OK);
        if (step == fault_at) {
          float high = -std::numeric_limits<float>::infinity();
          std::vector<int32_t> refused;
          for (int32_t tok = 0; tok < n; ++tok) {
            if (std::isinf(work[size_t(tok)])) {
              if (!m.vocab.token_bytes[size_t(tok)].empty()) refused.push_back(tok);
            } else {
              high = std::max(high, work[size_t(tok)]);
            }
          }
          REQUIRE_FALSE(refused.empty());
          const int32_t bad = refused[rng.below(uint32_t(refused.size()))];
          work[size_t(bad)] = high + 30.0f;
        }
        int32_t tok = 0;
        REQUIRE(mmb_sampler_sample(sampler.get(), work.data(), work.size(), &tok) == MMB_OK);
        if (std::find(m.vocab.stop_tokens.begin(), m.vocab.stop_tokens.end(), tok) != m.vocab.stop_tokens.end()) break;
        const mmb_status accepted = mmb_grammar_state_accept(state.get(), tok);
        if (accepted != MMB_OK) {
          REQUIRE(accepted == MMB_ERR_GRAMMAR);
          REQUIRE(step == fault_at);
          r.faulted = true;
          ++injected;
        }
        r.bytes += m.vocab.token_bytes[size_t(tok)];
        ++r.tokens;
        REQUIRE(mmb_session_step(session.get(), tok, logits.data(), logits.size()) == MMB_OK);
      }
      int32_t can_end = 0;
      REQUIRE(mmb_grammar_state_can_end(state.get(), &can_end, nullptr) == MMB_OK);
      r.can_end = can_end != 0;
      r.ended = r.tokens < size_t(t.max_tokens);
      r.streamed = r.bytes;
      outputs.push_back(std::move(r));
    }
  }
  REQUIRE(injected >= 60);
  const Report rep = judge(targets, outputs, "generations with an injected fault");
  size_t faulted = 0, faulted_flagged = 0, faulted_json = 0, faulted_json_ajv = 0, clean_flagged = 0;
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (!outputs[i].faulted) {
      clean_flagged += rep.flagged[i];
      continue;
    }
    ++faulted;
    faulted_flagged += rep.flagged[i];
    if (targets[outputs[i].target].json() && outputs[i].can_end) ++faulted_json;
  }
  // ajv alone: how many of the faulted JSON documents it refuses.
  if (rep.ajv_ran) {
    std::map<std::string, std::vector<std::string>> docs;
    for (const Output& o : outputs)
      if (o.faulted && o.can_end && targets[o.target].json()) docs[targets[o.target].schema].push_back(o.bytes);
    for (const auto& [schema, list] : docs) {
      const auto verdicts = ajv_validate(grammar_sample_path("schemas/" + schema + ".json"), list);
      REQUIRE(verdicts);
      for (const std::string& v : *verdicts) faulted_json_ajv += !v.empty();
    }
  }
  std::printf("injected faults: %zu outputs with a refused token, %zu flagged; ajv alone refused %zu of %zu faulted "
              "JSON documents; clean outputs flagged: %zu\n",
              faulted, faulted_flagged, faulted_json_ajv, faulted_json, clean_flagged);
  CHECK(clean_flagged == 0);
  // The recognizer refuses every text holding a refused token (it is no prefix of any
  // sentence), and ajv refuses most such JSON documents on its own.
  CHECK(faulted_flagged == faulted);
  if (rep.ajv_ran) CHECK(faulted_json_ajv * 2 >= faulted_json);
}
