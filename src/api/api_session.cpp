// mmb_session_*, mmb_step_batch: stepping, prefill, saved state and forks.
// Every argument is checked before any state changes.
#include "api/api_guard.hpp"
#include "api/api_objects.hpp"
#include "api/api_structs.hpp"

#include <algorithm>

using namespace mmb;

namespace mmb::api {

void check_idle(const mmb_session* s) {
  if (s->job && !s->job->finished()) fail(MMB_ERR_BUSY, "the session runs a job; wait for it, cancel or destroy it first");
}

void Extensible<mmb_session_options>::set_defaults(mmb_session_options&) {}  // all zero
void Extensible<mmb_prefill_options>::set_defaults(mmb_prefill_options&) {}  // all zero: no progress callback

}  // namespace mmb::api

namespace {

constexpr uint64_t kMaxSessionContext = 1ull << 24;

void check_token(const mmb_session* s, int32_t token) {
  const uint32_t vocab = s->impl->model().config().vocab_size;
  if (token < 0 || uint32_t(token) >= vocab) fail(MMB_ERR_INVALID_ARGUMENT, "token ", token, " is outside [0, ", vocab, ")");
}

void check_logits(const mmb_session* s, const float* logits, size_t cap) {
  const uint32_t vocab = s->impl->model().config().vocab_size;
  if (logits && cap < vocab) fail(MMB_ERR_BUFFER_TOO_SMALL, "logits capacity ", cap, " is below the vocabulary size ", vocab);
}

ContextOptions context_options(const mmb_session_options& o) {
  if (o.flags) fail(MMB_ERR_INVALID_ARGUMENT, "mmb_session_options.flags must be 0");
  if (o.max_context > kMaxSessionContext)
    fail(MMB_ERR_INVALID_ARGUMENT, "mmb_session_options.max_context ", o.max_context, " is above ", kMaxSessionContext);
  if (o.kv_type != MMB_KV_F16 && o.kv_type != MMB_KV_F32)
    fail(MMB_ERR_INVALID_ARGUMENT, "mmb_session_options.kv_type ", o.kv_type, " is not MMB_KV_F16 or MMB_KV_F32");
  if (o.reserved) fail(MMB_ERR_INVALID_ARGUMENT, "mmb_session_options.reserved must be 0");
  return {o.max_context, o.kv_type == MMB_KV_F32 ? KvType::F32 : KvType::F16};
}

// Creates a session through `make` within the runtime's session memory budget; `bytes`:
// the host memory it holds once made.
template <typename Make>
mmb_session* make_session(mmb_model* model, size_t bytes, Make&& make) {
  SessionPager& pager = model->runtime->impl.pager();
  pager.reserve(bytes);
  HostPtr<mmb_session> handle;
  try {
    handle = make_host<mmb_session>(model->runtime->impl.allocator(), model, make());
  } catch (...) {
    pager.unreserve(bytes);
    throw;
  }
  pager.add(handle->impl.get(), bytes);
  api::retain(model);
  return handle.release();
}

// Pins every session of a batch for the duration of the step (all resident at once).
class BatchUse {
 public:
  BatchUse(mmb_session* const* sessions, size_t n) : sessions_(sessions) {
    for (size_t i = 0; i < n; ++i) api::check_idle(sessions[i]);
    try {
      for (; pinned_ < n; ++pinned_) sessions[pinned_]->runtime().pager().pin(sessions[pinned_]->impl.get());
    } catch (...) {
      unpin();  // a throwing constructor gets no destructor call
      throw;
    }
  }
  ~BatchUse() { unpin(); }
  BatchUse(const BatchUse&) = delete;
  BatchUse& operator=(const BatchUse&) = delete;

 private:
  void unpin() {
    for (size_t i = 0; i < pinned_; ++i) sessions_[i]->runtime().pager().unpin(sessions_[i]->impl.get());
    pinned_ = 0;
  }

  mmb_session* const* sessions_;
  size_t pinned_ = 0;
};

mmb_status prefill(mmb_session* session, const int32_t* tokens, size_t n, float* logits, size_t cap,
                   const mmb_prefill_options* options) {
  return api::guard([&] {
    api::require(session, "session");
    api::SessionUse use(session);
    if (n && !tokens) fail(MMB_ERR_INVALID_ARGUMENT, "tokens is NULL with n = ", n);
    check_logits(session, logits, cap);
    const mmb_prefill_options o = api::read_struct(options);
    for (size_t i = 0; i < n; ++i) check_token(session, tokens[i]);
    if (n == 0) {
      if (logits) fail(MMB_ERR_INVALID_ARGUMENT, "no tokens to produce logits for (n = 0)");
      return;
    }
    auto body = [&o](uint64_t done, uint64_t total) { return o.progress(o.progress_user_data, done, total) != 0; };
    FunctionRef<bool(uint64_t, uint64_t)> progress(body);
    if (!session->impl->prefill(tokens, n, logits, o.progress ? &progress : nullptr))
      fail(MMB_ERR_CANCELLED, "prefill cancelled by the progress callback at position ", session->impl->position());
  });
}

}  // namespace

extern "C" {

MMB_API mmb_status mmb_session_options_init(mmb_session_options* options, size_t struct_size) {
  return api::init_struct(options, struct_size);
}

MMB_API mmb_status mmb_prefill_options_init(mmb_prefill_options* options, size_t struct_size) {
  return api::init_struct(options, struct_size);
}

MMB_API mmb_status mmb_session_create(mmb_model* model, const mmb_session_options* options, mmb_session** out) {
  return api::guard([&] {
    api::require(model, "model");
    api::require(out, "out");
    const ContextOptions context = context_options(api::read_struct(options));
    *out = make_session(model, Session::resident_bytes(*model->impl, context), [&] {
      return make_host<Session>(model->runtime->impl.allocator(), *model->impl, model->runtime->impl, context);
    });
  });
}

MMB_API void mmb_session_destroy(mmb_session* session) {
  if (!session) return;
  mmb_model* model = session->model;
  // A running job is cancelled and lets go of the session before it goes.
  if (session->job) session->runtime().scheduler().detach_session(*session->job);
  session->runtime().pager().remove(session->impl.get());
  api::destroy(session, session->runtime().allocator());
  api::release(model);
}

MMB_API mmb_status mmb_session_reset(mmb_session* session) {
  return api::guard([&] {
    api::require(session, "session");
    api::SessionUse use(session);
    session->impl->reset();
  });
}

MMB_API mmb_status mmb_session_get_position(const mmb_session* session, uint64_t* position) {
  return api::guard([&] {
    api::require(session, "session");
    api::require(position, "position");
    api::check_idle(session);
    *position = session->impl->position();
  });
}

MMB_API mmb_model* mmb_session_get_model(const mmb_session* session) { return session ? session->model : nullptr; }

MMB_API mmb_status mmb_session_step(mmb_session* session, int32_t token, float* logits, size_t logits_cap) {
  return api::guard([&] {
    api::require(session, "session");
    api::SessionUse use(session);
    check_token(session, token);
    check_logits(session, logits, logits_cap);
    session->impl->step(token, logits);
  });
}

MMB_API mmb_status mmb_session_prefill(mmb_session* session, const int32_t* tokens, size_t n, float* logits,
                                       size_t logits_cap) {
  return prefill(session, tokens, n, logits, logits_cap, nullptr);
}

MMB_API mmb_status mmb_session_prefill_ex(mmb_session* session, const int32_t* tokens, size_t n, float* logits,
                                          size_t logits_cap, const mmb_prefill_options* options) {
  return prefill(session, tokens, n, logits, logits_cap, options);
}

MMB_API mmb_status mmb_step_batch(mmb_session* const* sessions, const int32_t* tokens, size_t n, float* logits,
                                  size_t logits_stride) {
  return api::guard([&] {
    api::require(sessions, "sessions");
    api::require(tokens, "tokens");
    if (n == 0) fail(MMB_ERR_INVALID_ARGUMENT, "n is 0");
    for (size_t i = 0; i < n; ++i) {
      if (!sessions[i]) fail(MMB_ERR_INVALID_ARGUMENT, "sessions[", i, "] is NULL");
      if (sessions[i]->model->impl.get() != sessions[0]->model->impl.get())
        fail(MMB_ERR_STATE_MISMATCH, "sessions[", i, "] runs another model than sessions[0]");
      check_token(sessions[i], tokens[i]);
      for (size_t j = 0; j < i; ++j)
        if (sessions[j] == sessions[i]) fail(MMB_ERR_INVALID_ARGUMENT, "sessions[", j, "] and sessions[", i, "] are the same session");
    }
    check_logits(sessions[0], logits, logits_stride);
    BatchUse use(sessions, n);
    // Every session's room before the first group of 256 steps: a full one consumes nothing.
    for (size_t i = 0; i < n; ++i) sessions[i]->impl->check_room(1);
    Session* impls[256];
    for (size_t start = 0; start < n; start += 256) {
      size_t m = std::min<size_t>(256, n - start);
      for (size_t i = 0; i < m; ++i) impls[i] = sessions[start + i]->impl.get();
      Session::step_batch(impls, tokens + start, m, logits ? logits + start * logits_stride : nullptr, logits_stride);
    }
  });
}

MMB_API mmb_status mmb_session_state_size(const mmb_session* session, size_t* bytes) {
  return api::guard([&] {
    api::require(session, "session");
    api::require(bytes, "bytes");
    *bytes = session->impl->state_blob_size();
  });
}

MMB_API mmb_status mmb_session_state_save(const mmb_session* session, void* buf, size_t cap, size_t* written) {
  return api::guard([&] {
    api::require(session, "session");
    api::require(written, "written");
    api::SessionUse use(session);
    const size_t need = session->impl->state_blob_size();
    if (!buf || cap < need) {
      *written = need;
      fail(MMB_ERR_BUFFER_TOO_SMALL, "state needs ", need, " bytes, buffer has ", buf ? cap : 0);
    }
    session->impl->save_state(buf);
    *written = need;
  });
}

MMB_API mmb_status mmb_session_state_load(mmb_session* session, const void* buf, size_t size) {
  return api::guard([&] {
    api::require(session, "session");
    api::require(buf, "buf");
    api::SessionUse use(session);
    session->impl->load_state(buf, size);
  });
}

MMB_API mmb_status mmb_session_fork(const mmb_session* session, mmb_session** out) {
  return api::guard([&] {
    api::require(session, "session");
    api::require(out, "out");
    api::SessionUse use(session);
    // A fork holds what its original holds: the same state, scratch and KV pages.
    *out = make_session(session->model, session->impl->resident_bytes(),
                        [&] { return make_host<Session>(session->runtime().allocator(), *session->impl); });
  });
}

MMB_API mmb_status mmb_session_page_out(mmb_session* session) {
  return api::guard([&] {
    api::require(session, "session");
    api::check_idle(session);
    session->runtime().pager().page_out(session->impl.get());
  });
}

}  // extern "C"
