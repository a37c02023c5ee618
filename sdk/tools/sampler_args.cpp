#include "sampler_args.hpp"

#include "api_handles.hpp"
#include "json_fields.hpp"

#include <limits>

namespace mmb::cli {

std::vector<Option> with_sampler_options(std::vector<Option> own) {
  own.insert(own.end(), {
      {"temp", "T", "temperature; 0 = greedy (default 0.8)"},
      {"top-k", "K", "keep the K most likely tokens; 0 = off (default 40)"},
      {"top-p", "P", "keep the smallest set of tokens with mass >= P; 1 = off (default 0.95)"},
      {"min-p", "M", "drop tokens below M times the best probability; 0 = off (default 0.05)"},
      {"repeat-penalty", "R", "divide positive, multiply negative logits of recent tokens; 1 = off (default)"},
      {"presence-penalty", "A", "subtract A from the logit of each recent token; 0 = off (default)"},
      {"frequency-penalty", "F", "subtract F per occurrence among recent tokens; 0 = off (default)"},
      {"penalty-window", "N", "how many recent tokens the penalties see (default 64)"},
      {"seed", "S", "random seed: the same seed gives the same text (default 0)"},
  });
  return own;
}

mmb_sampler_params read_sampler_params(const Args& args) {
  constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
  constexpr double kAny = std::numeric_limits<double>::max();
  mmb_sampler_params p;
  check(mmb_sampler_params_init(&p, sizeof p), "filling the sampler parameters");
  p.temperature = float(args.get_double("temp", p.temperature, 0.0, kAny));
  p.top_k = int32_t(args.get_int("top-k", p.top_k, 0, kInt32Max));
  p.top_p = float(args.get_double("top-p", p.top_p, 0.0, 1.0));
  p.min_p = float(args.get_double("min-p", p.min_p, 0.0, 1.0));
  p.repetition_penalty = float(args.get_double("repeat-penalty", p.repetition_penalty, 0.0, kAny));
  p.presence_penalty = float(args.get_double("presence-penalty", p.presence_penalty, 0.0, kAny));
  p.frequency_penalty = float(args.get_double("frequency-penalty", p.frequency_penalty, 0.0, kAny));
  p.penalty_window = int32_t(args.get_int("penalty-window", p.penalty_window, 0, 65536));
  p.seed = args.get_uint64("seed", p.seed);
  return p;
}

std::string GrammarArgs::describe() const {
  switch (kind) {
    case Kind::JsonSchema: return "--json-schema " + path;
    case Kind::Gbnf: return "--grammar " + path;
    case Kind::Choice: return "--choice";
    case Kind::None: break;
  }
  return "no grammar";
}

std::vector<Option> with_grammar_options(std::vector<Option> own) {
  own.insert(own.end(), {
      {"json-schema", "FILE", "output only JSON valid under the JSON Schema in FILE"},
      {"grammar", "FILE", "output only text of the GBNF grammar in FILE"},
      {"grammar-root", "NAME", "the start rule of --grammar (default root)"},
      {"choice", "A,B,C", "output exactly one of these strings (\\, is a comma inside one)"},
      {"json-whitespace", "N", "--json-schema: most whitespace characters at each place; 0 = compact (default 1)"},
  });
  return own;
}

std::vector<std::string> split_choices(const std::string& text) {
  std::vector<std::string> items(1);
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\\' && i + 1 < text.size() && (text[i + 1] == ',' || text[i + 1] == '\\')) {
      items.back() += text[++i];
    } else if (c == ',') {
      items.emplace_back();
    } else {
      items.back() += c;
    }
  }
  return items;
}

GrammarArgs read_grammar_args(const Args& args) {
  GrammarArgs g;
  const int sources = int(args.has("json-schema")) + int(args.has("grammar")) + int(args.has("choice"));
  if (sources > 1) throw UsageError("give one of --json-schema, --grammar and --choice");
  if (args.has("json-schema")) {
    g.kind = GrammarArgs::Kind::JsonSchema;
    g.path = args.require("json-schema");
  } else if (args.has("grammar")) {
    g.kind = GrammarArgs::Kind::Gbnf;
    g.path = args.require("grammar");
  } else if (args.has("choice")) {
    g.kind = GrammarArgs::Kind::Choice;
    g.choices = split_choices(args.require("choice"));
    for (const std::string& c : g.choices)
      if (c.empty()) throw UsageError("--choice has an empty item");
  }
  if (args.has("grammar-root")) {
    if (g.kind != GrammarArgs::Kind::Gbnf) throw UsageError("--grammar-root applies to --grammar only");
    g.root = args.require("grammar-root");
  }
  if (args.has("json-whitespace")) {
    if (g.kind != GrammarArgs::Kind::JsonSchema) throw UsageError("--json-whitespace applies to --json-schema only");
    g.json_whitespace = int32_t(args.get_int("json-whitespace", 1, 0, 64));
  }
  if (!g.path.empty()) g.text = read_text_file(g.path);
  return g;
}

GrammarPtr compile_grammar(const mmb_model* model, const GrammarArgs& grammar) {
  mmb_grammar_options options;
  check(mmb_grammar_options_init(&options, sizeof options), "filling the grammar options");
  if (!grammar.root.empty()) options.root = grammar.root.c_str();
  if (grammar.json_whitespace >= 0) options.json_whitespace = grammar.json_whitespace;
  mmb_grammar* raw = nullptr;
  mmb_status status = MMB_OK;
  switch (grammar.kind) {
    case GrammarArgs::Kind::JsonSchema:
      status = mmb_grammar_create(model, MMB_GRAMMAR_JSON_SCHEMA, grammar.text.data(), grammar.text.size(), &options, &raw);
      break;
    case GrammarArgs::Kind::Gbnf:
      status = mmb_grammar_create(model, MMB_GRAMMAR_GBNF, grammar.text.data(), grammar.text.size(), &options, &raw);
      break;
    case GrammarArgs::Kind::Choice: {
      std::vector<const char*> items;
      std::vector<size_t> lens;
      for (const std::string& c : grammar.choices) {
        items.push_back(c.data());
        lens.push_back(c.size());
      }
      status = mmb_grammar_create_choice(model, items.data(), lens.data(), items.size(), &options, &raw);
      break;
    }
    case GrammarArgs::Kind::None:
      return nullptr;
  }
  GrammarPtr result(raw);
  check(status, grammar.describe());
  return result;
}

}  // namespace mmb::cli
