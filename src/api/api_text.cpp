// mmb_tokenize, mmb_token_to_bytes, mmb_detokenizer_*: text in and out.
#include "api/api_guard.hpp"
#include "api/api_objects.hpp"

#include "tokenizer/detokenizer.hpp"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

using namespace mmb;

namespace {

// Size-then-copy of `text` into buf; on a short buffer nothing is consumed.
void hand_out(const std::string& text, char* buf, size_t cap, size_t* len) {
  *len = text.size();
  if (text.size() > cap || (!buf && !text.empty()))
    fail(MMB_ERR_BUFFER_TOO_SMALL, "output needs ", text.size(), " bytes, buffer has ", buf ? cap : 0);
  if (!text.empty()) std::memcpy(buf, text.data(), text.size());
}

// A token the text functions take: one the model can output (below vocab_size) or one
// the tokenizer has a piece for.
void check_output_token(const Model& model, int32_t token) {
  const int64_t limit = std::max<int64_t>(model.tokenizer().n_pieces(), model.config().vocab_size);
  if (token < 0 || token >= limit) fail(MMB_ERR_INVALID_ARGUMENT, "token ", token, " is outside [0, ", limit, ")");
}

}  // namespace

std::vector<int32_t> api::tokenize(const mmb_model* model, const char* text, size_t len, uint32_t flags) {
  if (flags & ~uint32_t(MMB_TOKENIZE_ADD_BOS | MMB_TOKENIZE_PARSE_SPECIAL))
    fail(MMB_ERR_INVALID_ARGUMENT, "unknown tokenize flags 0x", std::hex, flags);
  const Tokenizer& t = model->impl->tokenizer();
  std::vector<int32_t> ids;
  // ADD_BOS asks for the special tokens the model's post-processor adds (BOS before,
  // for some models EOS after), as Hugging Face's add_special_tokens does.
  const bool add_special = (flags & MMB_TOKENIZE_ADD_BOS) != 0;
  if (add_special) ids.assign(t.prefix_ids().begin(), t.prefix_ids().end());
  t.encode(std::string_view(text ? text : "", len), (flags & MMB_TOKENIZE_PARSE_SPECIAL) != 0, ids);
  if (add_special) ids.insert(ids.end(), t.suffix_ids().begin(), t.suffix_ids().end());
  return ids;
}

void api::prepare_prompt(const Model& model, std::vector<int32_t>& prompt) {
  if (prompt.empty()) prompt.push_back(model.tokenizer().bos_id() >= 0 ? model.tokenizer().bos_id() : 0);
  const uint32_t vocab = model.config().vocab_size;
  for (int32_t t : prompt)
    if (t < 0 || uint32_t(t) >= vocab) fail(MMB_ERR_INVALID_ARGUMENT, "prompt token ", t, " is outside the model's vocabulary ", vocab);
}

extern "C" {

MMB_API mmb_status mmb_tokenize(const mmb_model* model, const char* text, size_t len, int32_t* tokens, size_t cap,
                                size_t* n, uint32_t flags) {
  return api::guard([&] {
    api::require(model, "model");
    api::require(n, "n");
    if (!text && len) fail(MMB_ERR_INVALID_ARGUMENT, "text is NULL with len = ", len);
    const std::vector<int32_t> ids = api::tokenize(model, text, len, flags);
    *n = ids.size();
    if (ids.size() > cap || (!tokens && !ids.empty()))
      fail(MMB_ERR_BUFFER_TOO_SMALL, "text needs ", ids.size(), " tokens, buffer has ", tokens ? cap : 0);
    if (!ids.empty()) std::memcpy(tokens, ids.data(), ids.size() * sizeof(int32_t));
  });
}

MMB_API mmb_status mmb_token_to_bytes(const mmb_model* model, int32_t token, char* buf, size_t cap, size_t* len) {
  return api::guard([&] {
    api::require(model, "model");
    api::require(len, "len");
    const Tokenizer& t = model->impl->tokenizer();
    check_output_token(*model->impl, token);
    std::string_view piece = token < t.n_pieces() ? t.token_bytes(token) : std::string_view();
    *len = piece.size();
    if (piece.size() > cap || (!buf && !piece.empty()))
      fail(MMB_ERR_BUFFER_TOO_SMALL, "token ", token, " needs ", piece.size(), " bytes, buffer has ", buf ? cap : 0);
    if (!piece.empty()) std::memcpy(buf, piece.data(), piece.size());
  });
}

MMB_API mmb_status mmb_detokenizer_create(const mmb_model* model, mmb_detokenizer** out) {
  return api::guard([&] {
    api::require(model, "model");
    api::require(out, "out");
    auto* m = const_cast<mmb_model*>(model);
    *out = make_host<mmb_detokenizer>(m->runtime->impl.allocator(), m).release();
    api::retain(m);
  });
}

MMB_API void mmb_detokenizer_destroy(mmb_detokenizer* detok) {
  if (!detok) return;
  mmb_model* model = detok->model;
  api::destroy(detok, model->runtime->impl.allocator());
  api::release(model);
}

MMB_API mmb_status mmb_detokenizer_push(mmb_detokenizer* detok, int32_t token, char* buf, size_t cap, size_t* len) {
  return api::guard([&] {
    api::require(detok, "detok");
    api::require(len, "len");
    const Tokenizer& t = detok->model->impl->tokenizer();
    check_output_token(*detok->model->impl, token);
    Detokenizer trial = detok->impl;  // pushed on a copy: nothing is consumed if the buffer is short
    detok->pending.clear();
    if (token < t.n_pieces()) trial.push(token, detok->pending);
    hand_out(detok->pending, buf, cap, len);
    detok->impl = trial;
  });
}

MMB_API mmb_status mmb_detokenizer_flush(mmb_detokenizer* detok, char* buf, size_t cap, size_t* len) {
  return api::guard([&] {
    api::require(detok, "detok");
    api::require(len, "len");
    Detokenizer trial = detok->impl;
    detok->pending.clear();
    trial.flush(detok->pending);
    hand_out(detok->pending, buf, cap, len);
    detok->impl = trial;
  });
}

}  // extern "C"
