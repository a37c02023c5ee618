// mmb_grammar_*, mmb_sampler_sample_grammar: structured output (moemamba.h section 9).
#include "api/api_guard.hpp"
#include "api/api_objects.hpp"
#include "api/api_structs.hpp"

#include "grammar/choice_grammar.hpp"
#include "grammar/gbnf_parser.hpp"
#include "grammar/json_schema_grammar.hpp"
#include "runtime/constrained_sampling.hpp"

#include <algorithm>
#include <cstring>
#include <string_view>
#include <vector>

using namespace mmb;

namespace {

constexpr int32_t kMaxJsonWhitespace = 64;

// The bytes each output id stands for. Special tokens and stop tokens are left empty,
// so no grammar ever produces them as text; stop tokens come back as the way to end.
grammar::Vocabulary vocabulary_of(const Model& model) {
  const Tokenizer& t = model.tokenizer();
  grammar::Vocabulary v;
  v.vocab_size = model.config().vocab_size;
  v.token_bytes.resize(v.vocab_size);
  for (int32_t id = 0; id < int32_t(v.vocab_size) && id < t.n_pieces(); ++id)
    if (!t.is_special(id) && !model.ends_turn(id)) v.token_bytes[size_t(id)] = std::string(t.token_bytes(id));
  for (int32_t id = 0; id < int32_t(v.vocab_size); ++id)
    if (model.ends_turn(id)) v.stop_tokens.push_back(id);
  return v;
}

void make_grammar(const mmb_model* model, const grammar::GrammarAst& ast, const mmb_grammar_options& o,
                  mmb_grammar** out) {
  auto handle = std::make_unique<mmb_grammar>();
  handle->impl = std::make_shared<const grammar::TokenGrammar>(grammar::GrammarProgram(ast), vocabulary_of(*model->impl),
                                                               o.mask_cache_bytes);
  *out = handle.release();
}

mmb_grammar_options checked_options(const mmb_grammar_options* options) {
  mmb_grammar_options o = api::read_struct(options);
  if (o.json_whitespace < 0 || o.json_whitespace > kMaxJsonWhitespace)
    fail(MMB_ERR_INVALID_ARGUMENT, "json_whitespace is ", o.json_whitespace, "; expected 0 to ", kMaxJsonWhitespace);
  return o;
}

}  // namespace

void api::Extensible<mmb_grammar_options>::set_defaults(mmb_grammar_options& o) {
  o.json_whitespace = 1;
  o.mask_cache_bytes = size_t(16) << 20;
}

extern "C" {

MMB_API mmb_status mmb_grammar_options_init(mmb_grammar_options* options, size_t struct_size) {
  return api::init_struct(options, struct_size);
}

MMB_API mmb_status mmb_grammar_create(const mmb_model* model, int32_t kind, const char* text, size_t len,
                                      const mmb_grammar_options* options, mmb_grammar** out) {
  return api::guard([&] {
    api::require(model, "model");
    api::require(out, "out");
    if (!text && len) fail(MMB_ERR_INVALID_ARGUMENT, "text is NULL with len = ", len);
    const mmb_grammar_options o = checked_options(options);
    const std::string_view source(text ? text : "", len);
    grammar::GrammarAst ast;
    if (kind == MMB_GRAMMAR_GBNF) {
      ast = grammar::parse_gbnf(source, o.root ? std::string_view(o.root) : std::string_view("root"));
    } else if (kind == MMB_GRAMMAR_JSON_SCHEMA) {
      grammar::JsonGrammarOptions jo;
      jo.whitespace = o.json_whitespace;
      ast = grammar::json_schema_grammar(source, jo);
    } else {
      fail(MMB_ERR_INVALID_ARGUMENT, "grammar kind ", kind, " is unknown (MMB_GRAMMAR_GBNF or MMB_GRAMMAR_JSON_SCHEMA)");
    }
    make_grammar(model, ast, o, out);
  });
}

MMB_API mmb_status mmb_grammar_create_choice(const mmb_model* model, const char* const* items, const size_t* lens,
                                             size_t n, const mmb_grammar_options* options, mmb_grammar** out) {
  return api::guard([&] {
    api::require(model, "model");
    api::require(out, "out");
    if (n == 0) fail(MMB_ERR_INVALID_ARGUMENT, "a choice needs at least one item (n is 0)");
    api::require(items, "items");
    const mmb_grammar_options o = checked_options(options);
    std::vector<std::string_view> views;
    for (size_t i = 0; i < n; ++i) {
      if (!items[i]) fail(MMB_ERR_INVALID_ARGUMENT, "items[", i, "] is NULL");
      views.emplace_back(items[i], lens ? lens[i] : std::strlen(items[i]));
    }
    make_grammar(model, grammar::choice_grammar(views), o, out);
  });
}

MMB_API void mmb_grammar_destroy(mmb_grammar* grammar) { delete grammar; }

MMB_API mmb_status mmb_grammar_state_create(mmb_grammar* grammar, mmb_grammar_state** out) {
  return api::guard([&] {
    api::require(grammar, "grammar");
    api::require(out, "out");
    *out = new mmb_grammar_state{grammar::GrammarCursor(grammar->impl)};
  });
}

MMB_API void mmb_grammar_state_destroy(mmb_grammar_state* state) { delete state; }

MMB_API mmb_status mmb_grammar_state_clone(const mmb_grammar_state* state, mmb_grammar_state** out) {
  return api::guard([&] {
    api::require(state, "state");
    api::require(out, "out");
    *out = new mmb_grammar_state{grammar::GrammarCursor(state->impl)};
  });
}

MMB_API mmb_status mmb_grammar_state_reset(mmb_grammar_state* state) {
  return api::guard([&] {
    api::require(state, "state");
    state->impl.reset();
  });
}

MMB_API mmb_status mmb_grammar_state_accept(mmb_grammar_state* state, int32_t token) {
  return api::guard([&] {
    api::require(state, "state");
    const uint32_t vocab = state->impl.grammar().vocab_size();
    if (token < 0 || uint32_t(token) >= vocab)
      fail(MMB_ERR_INVALID_ARGUMENT, "token ", token, " is outside the vocabulary [0, ", vocab, ")");
    if (!state->impl.accept(token)) fail(MMB_ERR_GRAMMAR, "the grammar does not allow token ", token, " here");
  });
}

MMB_API mmb_status mmb_grammar_state_can_end(const mmb_grammar_state* state, int32_t* can_end, int32_t* must_end) {
  return api::guard([&] {
    api::require(state, "state");
    // must_end may compute the mask: the cursor's cache is not part of its value.
    auto& cursor = const_cast<grammar::GrammarCursor&>(state->impl);
    if (can_end) *can_end = cursor.can_end() ? 1 : 0;
    if (must_end) *must_end = cursor.must_end() ? 1 : 0;
  });
}

MMB_API mmb_status mmb_grammar_state_get_mask(mmb_grammar_state* state, uint32_t* words, size_t n_words) {
  return api::guard([&] {
    api::require(state, "state");
    api::require(words, "words");
    const uint32_t vocab = state->impl.grammar().vocab_size();
    const size_t needed = (size_t(vocab) + 31) / 32;
    if (n_words < needed) fail(MMB_ERR_BUFFER_TOO_SMALL, "the mask needs ", needed, " words, the buffer has ", n_words);
    const grammar::TokenMask& m = state->impl.mask();
    for (size_t w = 0; w < needed; ++w) words[w] = uint32_t(m.words[w / 2] >> (32 * (w % 2)));
    if (state->impl.can_end())
      for (int32_t t : state->impl.grammar().stop_tokens()) words[size_t(t) / 32] |= uint32_t(1) << (t % 32);
  });
}

MMB_API mmb_status mmb_grammar_state_apply(mmb_grammar_state* state, float* logits, size_t n) {
  return api::guard([&] {
    api::require(state, "state");
    api::require(logits, "logits");
    const uint32_t vocab = state->impl.grammar().vocab_size();
    if (n != vocab) fail(MMB_ERR_INVALID_ARGUMENT, "n is ", n, "; the grammar's vocabulary has ", vocab, " tokens");
    state->impl.apply(logits, n);
  });
}

MMB_API mmb_status mmb_sampler_sample_grammar(mmb_sampler* sampler, mmb_grammar_state* state, const float* logits,
                                              size_t n, int32_t* token) {
  return api::guard([&] {
    api::require(sampler, "sampler");
    api::require(state, "state");
    api::require(logits, "logits");
    api::require(token, "token");
    std::vector<float> scratch(logits, logits + n);
    const int32_t t = sample_constrained(sampler->impl, state->impl, scratch.data(), n);
    if (t < 0) fail(MMB_ERR_GRAMMAR, "the grammar is complete: no token may follow");
    *token = t;
  });
}

MMB_API mmb_status mmb_grammar_state_size(const mmb_grammar_state* state, size_t* size) {
  return api::guard([&] {
    api::require(state, "state");
    api::require(size, "size");
    *size = state->impl.save().size();
  });
}

MMB_API mmb_status mmb_grammar_state_save(const mmb_grammar_state* state, void* buf, size_t cap, size_t* len) {
  return api::guard([&] {
    api::require(state, "state");
    api::require(len, "len");
    const std::string blob = state->impl.save();
    *len = blob.size();
    if (!buf || cap < blob.size())
      fail(MMB_ERR_BUFFER_TOO_SMALL, "the state needs ", blob.size(), " bytes, the buffer has ", buf ? cap : 0);
    std::memcpy(buf, blob.data(), blob.size());
  });
}

MMB_API mmb_status mmb_grammar_state_load(mmb_grammar_state* state, const void* buf, size_t len) {
  return api::guard([&] {
    api::require(state, "state");
    api::require(buf, "buf");
    state->impl.load(std::string_view(static_cast<const char*>(buf), len));
  });
}

}  // extern "C"
