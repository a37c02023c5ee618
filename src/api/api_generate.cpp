// mmb_generate: prompt in, streamed text out, built from the public pieces
// (tokenize, prefill, step, sampler, detokenizer).
#include "api/api_guard.hpp"
#include "api/api_objects.hpp"
#include "api/api_structs.hpp"

#include "runtime/constrained_sampling.hpp"
#include "tokenizer/detokenizer.hpp"

#include <string>
#include <vector>

using namespace mmb;

void api::Extensible<mmb_generate_options>::set_defaults(mmb_generate_options& o) {
  o.max_tokens = 256;
  o.stop_at_eos = 1;
  o.tokenize_flags = MMB_TOKENIZE_ADD_BOS;
}

void api::sample_reply(mmb_session* session, mmb_sampler* sampler, std::vector<float>& logits,
                       const mmb_generate_options& o, mmb_token_callback cb, void* user_data,
                       int32_t last_prompt_token, std::vector<int32_t>* reply) {
  const Model& model = session->impl->model();
  const Tokenizer& tokenizer = model.tokenizer();
  Detokenizer detok(tokenizer);
  // Text that starts right after BOS loses a SentencePiece-style leading space.
  if (last_prompt_token >= 0 && last_prompt_token == tokenizer.bos_id()) detok.set_after_bos();
  std::string text;
  grammar::GrammarCursor* grammar = o.grammar ? &o.grammar->impl : nullptr;
  if (grammar) sampler->impl.reserve(logits.size());
  for (int32_t i = 0; i < o.max_tokens; ++i) {
    int32_t token = 0;
    if (grammar) {
      token = sample_constrained(sampler->impl, *grammar, logits.data(), logits.size());
      if (token < 0 || model.ends_turn(token)) break;
    } else {
      mmb_status s = mmb_sampler_sample(sampler, logits.data(), logits.size(), &token);
      if (s != MMB_OK) fail(s, mmb_last_error());
      if (o.stop_at_eos && model.ends_turn(token)) break;
    }
    text.clear();
    if (token < tokenizer.n_pieces()) detok.push(token, text);
    // Every emitted token enters the state, so a later call continues the text;
    // the last one needs no logits.
    const bool more = i + 1 < o.max_tokens;
    session->impl->step(token, more ? logits.data() : nullptr);
    if (reply) reply->push_back(token);
    if (cb && !cb(user_data, token, text.data(), text.size())) return;
  }
  text.clear();
  detok.flush(text);
  if (cb && !text.empty()) cb(user_data, -1, text.data(), text.size());
}

extern "C" {

MMB_API mmb_status mmb_generate_options_init(mmb_generate_options* options, size_t struct_size) {
  return api::init_struct(options, struct_size);
}

MMB_API mmb_status mmb_generate(mmb_session* session, mmb_sampler* sampler, const char* prompt, size_t len,
                                const mmb_generate_options* options, mmb_token_callback cb, void* user_data) {
  return api::guard([&] {
    api::require(session, "session");
    api::require(sampler, "sampler");
    api::SessionUse use(session);
    if (!prompt && len) fail(MMB_ERR_INVALID_ARGUMENT, "prompt is NULL with len = ", len);
    const mmb_generate_options o = api::read_struct(options);
    if (o.max_tokens < 0) fail(MMB_ERR_INVALID_ARGUMENT, "max_tokens ", o.max_tokens, " is negative");
    const Model& model = session->impl->model();
    const uint32_t vocab = model.config().vocab_size;
    if (o.grammar && o.grammar->impl.grammar().vocab_size() != vocab)
      fail(MMB_ERR_STATE_MISMATCH, "the grammar was made for a vocabulary of ", o.grammar->impl.grammar().vocab_size(),
           " tokens; the session's model has ", vocab);

    std::vector<int32_t> prompt_tokens = api::tokenize(session->model, prompt, len, o.tokenize_flags);
    api::prepare_prompt(model, prompt_tokens);
    for (int32_t t : prompt_tokens) mmb_sampler_accept(sampler, t);
    std::vector<float> logits(vocab);
    mmb_prefill_options po = api::defaults<mmb_prefill_options>();
    po.progress = o.progress;
    po.progress_user_data = o.progress_user_data;
    mmb_status s = mmb_session_prefill_ex(session, prompt_tokens.data(), prompt_tokens.size(), logits.data(), logits.size(), &po);
    if (s != MMB_OK) fail(s, mmb_last_error());
    api::sample_reply(session, sampler, logits, o, cb, user_data, prompt_tokens.back(), nullptr);
  });
}

}  // extern "C"
