// What the opaque C handles hold. Runtimes and models are reference counted: the
// host's handle is one reference, and every object made from them holds another,
// so a host may destroy a parent before its children. All handles are defined here,
// in a header: the ABI check (tests/abi) then sees them as the opaque declarations
// hosts see (src/CMakeLists.txt, -femit-struct-debug-reduced).
#pragma once

#include <cstdint>
#include <vector>

#include "chat/conversation.hpp"
#include "grammar/token_grammar.hpp"
#include "model/model.hpp"
#include "tokenizer/detokenizer.hpp"
#include "runtime/job.hpp"
#include "runtime/runtime.hpp"
#include "runtime/sampler.hpp"
#include "runtime/session.hpp"

#include <atomic>
#include <memory>
#include <string>

struct mmb_runtime {
  explicit mmb_runtime(const mmb_runtime_options& o) : impl(o) {}
  std::atomic<int> refs{1};
  mmb::Runtime impl;
};

// Runtimes, models, sessions and detokenizers, and the models and sessions inside
// them, live in the runtime's memory (the host's allocator hooks): mmb::make_host()
// makes them, mmb::api::destroy() ends them. Samplers belong to no runtime and jobs
// may outlive theirs: those two come from the C++ heap.
struct mmb_model {
  mmb_model(mmb_runtime* r, mmb::HostPtr<mmb::Model> m) : runtime(r), impl(std::move(m)) {}
  std::atomic<int> refs{1};
  mmb_runtime* runtime;  // one reference held
  mmb::HostPtr<mmb::Model> impl;
};

struct mmb_session {
  mmb_session(mmb_model* m, mmb::HostPtr<mmb::Session> s) : model(m), impl(std::move(s)) {}
  mmb::Runtime& runtime() const { return model->runtime->impl; }
  mmb_model* model;  // one reference held
  mmb::HostPtr<mmb::Session> impl;
  std::shared_ptr<mmb::Job> job;  // the last job submitted on it (busy while unfinished)
};

struct mmb_job {
  std::shared_ptr<mmb::Job> impl;
  std::shared_ptr<mmb::JobScheduler> scheduler;
};

struct mmb_detokenizer {
  explicit mmb_detokenizer(mmb_model* m) : model(m), impl(m->impl->tokenizer()) {}
  mmb_model* model;  // one reference held: the detokenizer reads its vocabulary
  mmb::Detokenizer impl;
  std::string pending;  // output not yet handed out; keeps its capacity between calls
};

struct mmb_sampler {
  mmb::Sampler impl;
};

// Grammars and their states come from the C++ heap, like samplers: a grammar holds no
// model (it keeps its own copy of the vocabulary's bytes), and states share the grammar.
struct mmb_grammar {
  std::shared_ptr<const mmb::grammar::TokenGrammar> impl;
};

struct mmb_grammar_state {
  mmb::grammar::GrammarCursor impl;
};

// A chat owns its session (made by mmb_session_create, so it holds the model); the
// chat itself and its history come from the C++ heap, like samplers.
struct mmb_chat {
  mmb_session* session = nullptr;
  const mmb::ChatTemplate* chat_template = nullptr;  // one of the model's
  mmb::Conversation conversation;
};

namespace mmb::api {

// Destroys a handle made with mmb::make_host() from `allocator` (a copy: the handle
// may hold the runtime that owns the hooks).
template <typename T>
void destroy(T* handle, HostAllocator allocator) noexcept {
  HostDeleter<T>{allocator}(handle);
}

void retain(mmb_runtime* r);
void release(mmb_runtime* r);
void retain(mmb_model* m);
void release(mmb_model* m);

// The token ids of `text` (mmb_tokenize's rules and flags), or throws.
std::vector<int32_t> tokenize(const mmb_model* model, const char* text, size_t len, uint32_t flags);

// Makes `prompt` one the model can start from: BOS (or token 0) when it is empty, so
// there is something to condition on; throws when an id is outside the vocabulary.
void prepare_prompt(const mmb::Model& model, std::vector<int32_t>& prompt);

// Samples up to o.max_tokens tokens from `logits` (the session's last), stepping each
// into the session and streaming its text to `cb`, until the model ends its turn
// (o.stop_at_eos) or cb returns 0; appends the tokens to `reply` if given.
// `last_prompt_token` (-1: none) tells whether the text starts right after BOS.
void sample_reply(mmb_session* session, mmb_sampler* sampler, std::vector<float>& logits,
                  const mmb_generate_options& o, mmb_token_callback cb, void* user_data,
                  int32_t last_prompt_token, std::vector<int32_t>* reply);

// Throws MMB_ERR_BUSY when a job runs on the session.
void check_idle(const mmb_session* s);

// What every call that reads or writes a session's state holds: the session is idle
// (no job) and resident in memory (paged in if needed) until the call returns.
class SessionUse {
 public:
  explicit SessionUse(const mmb_session* s) : pin_((check_idle(s), s->runtime().pager()), s->impl.get()) {}

 private:
  mmb::SessionPin pin_;
};

}  // namespace mmb::api
