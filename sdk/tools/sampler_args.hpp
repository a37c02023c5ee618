// The sampling options that `mmb generate` and `mmb chat` share, and the structured
// output options (--json-schema, --grammar, --choice) of `mmb generate`.
#pragma once

#include "api_handles.hpp"
#include "cli_args.hpp"

#include <moemamba/moemamba.h>

#include <memory>
#include <string>
#include <vector>

namespace mmb::cli {

// A command's own options followed by --temp, --top-k, --top-p, --min-p, the
// penalties and --seed.
std::vector<Option> with_sampler_options(std::vector<Option> own);
// The sampler parameters those options give (the library's defaults for the others).
mmb_sampler_params read_sampler_params(const Args& args);

using GrammarPtr = std::unique_ptr<mmb_grammar, Destroyer<mmb_grammar_destroy>>;
using GrammarStatePtr = std::unique_ptr<mmb_grammar_state, Destroyer<mmb_grammar_state_destroy>>;

// What --json-schema FILE, --grammar FILE [--grammar-root NAME], --choice A,B,C and
// --json-whitespace N ask for (at most one of the first three).
struct GrammarArgs {
  enum class Kind { None, JsonSchema, Gbnf, Choice };
  Kind kind = Kind::None;
  std::string path;                  // the file of --json-schema / --grammar
  std::string text;                  // its contents
  std::string root;                  // --grammar-root; empty: "root"
  std::vector<std::string> choices;  // --choice
  int32_t json_whitespace = -1;      // -1: the library's default

  bool any() const { return kind != Kind::None; }
  // "--json-schema schema.json", for messages.
  std::string describe() const;
};

// A command's own options followed by the structured output options.
std::vector<Option> with_grammar_options(std::vector<Option> own);
// Reads them (and the file they name); a UsageError for two sources at once, an empty
// --choice item, or --grammar-root / --json-whitespace without what they apply to.
GrammarArgs read_grammar_args(const Args& args);
// "a,b\,c" -> {"a", "b,c"}: items split at commas, "\," is a comma inside an item and
// "\\" a backslash.
std::vector<std::string> split_choices(const std::string& text);
// Compiles the grammar for `model`; throws (check()) with mmb_last_error(), which gives
// the line and column or the schema path of a mistake.
GrammarPtr compile_grammar(const mmb_model* model, const GrammarArgs& grammar);

}  // namespace mmb::cli
