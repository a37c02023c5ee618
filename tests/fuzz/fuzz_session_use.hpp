// What every loader target does with a model that loaded: open a session, step one
// token, read the info. Whatever the bundle said, this must work or fail cleanly.
#pragma once

#include <moemamba/moemamba.h>

#include <cstdlib>
#include <vector>

namespace mmb::fuzz {

inline void use_loaded_model(mmb_model* model) {
  mmb_model_info info{};
  info.struct_size = sizeof info;
  if (mmb_model_get_info(model, &info) != MMB_OK) std::abort();  // a loaded model always answers
  mmb_session* session = nullptr;
  if (mmb_session_create(model, nullptr, &session) != MMB_OK) return;
  std::vector<float> logits(size_t(info.vocab_size));
  mmb_session_step(session, 0, logits.data(), logits.size());
  mmb_session_destroy(session);
}

}  // namespace mmb::fuzz
