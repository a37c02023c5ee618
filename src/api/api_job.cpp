// mmb_job_*, mmb_runtime_frame, mmb_runtime_get_session_memory: non-blocking jobs
// for game loops (moemamba.h section 7). The work itself is runtime/job_scheduler.
#include "api/api_guard.hpp"
#include "api/api_objects.hpp"
#include "api/api_structs.hpp"

#include <string>
#include <vector>

using namespace mmb;

namespace {

mmb_job_options read_options(const mmb_job_options* options) {
  const mmb_job_options o = api::read_struct(options);
  if (o.max_tokens < 0) fail(MMB_ERR_INVALID_ARGUMENT, "max_tokens ", o.max_tokens, " is negative");
  if (!o.stop_text && o.stop_text_len) fail(MMB_ERR_INVALID_ARGUMENT, "stop_text is NULL with stop_text_len = ", o.stop_text_len);
  return o;
}

// Everything is checked and copied before the session turns busy.
void submit(mmb_session* session, mmb_sampler* sampler, std::vector<int32_t> prompt, const mmb_job_options& o, mmb_job** out) {
  api::check_idle(session);
  const Model& model = session->impl->model();
  const size_t bytes = Session::resident_bytes(model, session->impl->context());
  if (!session->runtime().pager().fits_alone(bytes))
    fail(MMB_ERR_BUDGET, "one session needs ", bytes, " bytes, more than the session memory budget");
  api::prepare_prompt(model, prompt);
  if (prompt.size() > session->impl->context_left())
    fail(MMB_ERR_CONTEXT_FULL, "the prompt of ", prompt.size(), " tokens does not fit the ", session->impl->context_left(),
         " left in the session's context");
  JobLimits limits;
  limits.max_tokens = o.max_tokens;
  limits.stop_at_eos = o.stop_at_eos != 0;
  if (o.stop_text_len) limits.stop_text.assign(o.stop_text, o.stop_text_len);
  auto handle = std::make_unique<mmb_job>();
  JobEvents events{o.on_event, o.event_user_data, handle.get()};
  auto copy = sampler ? std::make_unique<Sampler>(sampler->impl) : nullptr;
  if (o.grammar) {
    if (o.grammar->impl.grammar().vocab_size() != model.config().vocab_size)
      fail(MMB_ERR_STATE_MISMATCH, "the grammar was made for a vocabulary of ", o.grammar->impl.grammar().vocab_size(),
           " tokens; the session's model has ", model.config().vocab_size);
    limits.grammar = std::make_shared<grammar::GrammarCursor>(o.grammar->impl);
  }
  handle->impl = std::make_shared<Job>(*session->impl, std::move(copy), std::move(prompt), std::move(limits), events);
  handle->scheduler = session->runtime().scheduler_ptr();
  session->job = handle->impl;
  handle->scheduler->submit(handle->impl);
  *out = handle.release();
}

}  // namespace

void api::Extensible<mmb_job_options>::set_defaults(mmb_job_options& o) {
  o.max_tokens = 256;
  o.stop_at_eos = 1;
  o.tokenize_flags = MMB_TOKENIZE_ADD_BOS;
}

extern "C" {

MMB_API mmb_status mmb_job_options_init(mmb_job_options* options, size_t struct_size) {
  return api::init_struct(options, struct_size);
}

MMB_API mmb_status mmb_job_submit_text(mmb_session* session, mmb_sampler* sampler, const char* prompt, size_t len,
                                       const mmb_job_options* options, mmb_job** out) {
  return api::guard([&] {
    api::require(session, "session");
    api::require(out, "out");
    if (!prompt && len) fail(MMB_ERR_INVALID_ARGUMENT, "prompt is NULL with len = ", len);
    const mmb_job_options o = read_options(options);
    std::vector<int32_t> tokens = api::tokenize(session->model, prompt, len, o.tokenize_flags);
    submit(session, sampler, std::move(tokens), o, out);
  });
}

MMB_API mmb_status mmb_job_submit_tokens(mmb_session* session, mmb_sampler* sampler, const int32_t* tokens, size_t n,
                                         const mmb_job_options* options, mmb_job** out) {
  return api::guard([&] {
    api::require(session, "session");
    api::require(out, "out");
    if (!tokens && n) fail(MMB_ERR_INVALID_ARGUMENT, "tokens is NULL with n = ", n);
    const mmb_job_options o = read_options(options);
    submit(session, sampler, std::vector<int32_t>(tokens, tokens + n), o, out);
  });
}

MMB_API mmb_status mmb_job_poll(mmb_job* job, int32_t* state, mmb_status* result) {
  return api::guard([&] {
    api::require(job, "job");
    // An event callback may destroy the handle: keep the job itself alive through it.
    const std::shared_ptr<Job> impl = job->impl;
    impl->deliver_events();
    if (state) *state = impl->state();
    if (result) *result = impl->result();
  });
}

MMB_API mmb_status mmb_job_read_text(mmb_job* job, char* buf, size_t cap, size_t* len) {
  return api::guard([&] {
    api::require(job, "job");
    api::require(len, "len");
    if (!buf && cap) fail(MMB_ERR_INVALID_ARGUMENT, "buf is NULL with cap = ", cap);
    if (!job->impl->take_text(buf, cap, len)) fail(MMB_ERR_BUFFER_TOO_SMALL, "the job's new text needs ", *len, " bytes, the buffer has ", cap);
  });
}

MMB_API mmb_status mmb_job_read_tokens(mmb_job* job, int32_t* tokens, size_t cap, size_t* n) {
  return api::guard([&] {
    api::require(job, "job");
    api::require(n, "n");
    if (!tokens && cap) fail(MMB_ERR_INVALID_ARGUMENT, "tokens is NULL with cap = ", cap);
    if (!job->impl->take_tokens(tokens, cap, n)) fail(MMB_ERR_BUFFER_TOO_SMALL, "the job's new tokens are ", *n, ", the buffer holds ", cap);
  });
}

MMB_API mmb_status mmb_job_wait(mmb_job* job, uint32_t timeout_ms, int32_t* state) {
  return api::guard([&] {
    api::require(job, "job");
    job->scheduler->wait(*job->impl, timeout_ms);
    if (state) *state = job->impl->state();
  });
}

MMB_API mmb_status mmb_job_cancel(mmb_job* job) {
  return api::guard([&] {
    api::require(job, "job");
    job->scheduler->cancel(*job->impl);
  });
}

MMB_API void mmb_job_destroy(mmb_job* job) {
  if (!job) return;
  job->scheduler->remove(*job->impl);
  delete job;
}

MMB_API mmb_status mmb_runtime_frame(mmb_runtime* runtime, uint64_t budget_us, mmb_frame_stats* stats) {
  return api::guard([&] {
    api::require(runtime, "runtime");
    if (stats) api::check_struct_size(stats->struct_size, sizeof *stats, sizeof *stats, "mmb_frame_stats");
    const FrameFigures f = runtime->impl.scheduler().frame(budget_us);
    if (stats) {
      stats->steps = f.steps;
      stats->tokens_generated = f.tokens_generated;
      stats->prompt_tokens = f.prompt_tokens;
      stats->time_us = f.time_us;
      stats->jobs_active = f.jobs_active;
      stats->jobs_finished = f.jobs_finished;
      stats->events = f.events;
      stats->slices = f.slices;
    }
  });
}

MMB_API mmb_status mmb_runtime_get_session_memory(const mmb_runtime* runtime, mmb_session_memory* out) {
  return api::guard([&] {
    api::require(runtime, "runtime");
    api::require(out, "out");
    api::check_struct_size(out->struct_size, sizeof *out, sizeof *out, "mmb_session_memory");
    const SessionMemory m = runtime->impl.pager().memory();
    out->sessions = m.sessions;
    out->resident_sessions = m.resident_sessions;
    out->paged_sessions = m.paged_sessions;
    out->resident_bytes = m.resident_bytes;
    out->paged_bytes = m.paged_bytes;
    out->budget_bytes = m.budget_bytes;
    out->page_outs = m.page_outs;
    out->page_ins = m.page_ins;
  });
}

}  // extern "C"
