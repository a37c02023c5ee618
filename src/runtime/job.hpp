// One submitted piece of work on a session (moemamba.h section 7): a prompt to
// consume and, with a sampler, tokens to generate after it.
//
// Two sides share a job. The advancing side (JobScheduler, one thread at a time under
// its advance lock) moves it forward: the prompt, the sampler, the logits and the
// detokenizer belong to that side alone. The host side reads what came out (text,
// tokens, events, state, result), which sits behind the job's own mutex, and may ask
// for a stop at any time through an atomic flag.
#pragma once

#include "grammar/token_grammar.hpp"
#include "tokenizer/detokenizer.hpp"
#include "runtime/sampler.hpp"
#include "runtime/session.hpp"

#include <moemamba/moemamba.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace mmb {

struct JobLimits {
  int32_t max_tokens = 256;
  bool stop_at_eos = true;
  std::string stop_text;  // empty: none
  std::shared_ptr<grammar::GrammarCursor> grammar;  // null: free text; else the job's own state
};

struct JobEvents {
  mmb_job_event_fn fn = nullptr;
  void* user_data = nullptr;
  mmb_job* handle = nullptr;  // passed back to fn
};

class Job {
 public:
  // sampler null: only the prompt is consumed. The prompt must not be empty.
  Job(Session& session, std::unique_ptr<Sampler> sampler, std::vector<int32_t> prompt, JobLimits limits, JobEvents events);

  // --- the advancing side -------------------------------------------------------
  Session* session() const { return session_; }
  void detach_session() { session_ = nullptr; }
  bool in_prompt() const { return prompt_done_ < prompt_.size(); }
  // The next chunk of the prompt: its size (at most `limit` and
  // Session::prefill_chunk() tokens), its tokens, and where its logits go (the last
  // chunk leaves them for the first sample; nullptr before). The scheduler runs the
  // chunk through the session, then calls chunk_done().
  size_t chunk_size(size_t limit) const;
  const int32_t* chunk_tokens() const { return prompt_.data() + prompt_done_; }
  float* chunk_logits(size_t n) { return prompt_done_ + n == prompt_.size() && sampler_ ? logits_.data() : nullptr; }
  void chunk_done(size_t n);
  // Whether a step or chunk of this job is planned or half done (the scheduler's mark,
  // under its advance lock): the job then finishes only once that work is complete or,
  // for a prompt chunk, undone.
  bool in_flight() const { return in_flight_; }
  void set_in_flight(bool on) { in_flight_ = on; }
  // Samples the next token and emits it unless it ends the job (EOS): returns the
  // token to step, or -1 when the job is done without a step. *last is set when the
  // step is the job's last (max_tokens or stop text reached).
  int32_t sample_next(bool* last);
  float* logits() { return logits_.data(); }
  // Ends the job: flushes the detokenizer, records the result and the final event.
  void finish(mmb_status result, const std::string& message = {});

  // --- both sides --------------------------------------------------------------------
  bool finished() const { return state_.load(std::memory_order_acquire) == MMB_JOB_FINISHED; }
  int32_t state() const { return state_.load(std::memory_order_acquire); }
  void request_cancel() { cancel_.store(true, std::memory_order_release); }
  bool cancel_requested() const { return cancel_.load(std::memory_order_acquire); }

  // --- the host side -------------------------------------------------------------------
  mmb_status result() const;
  // The handle is going away: no event is delivered after this.
  void mark_removed() { removed_.store(true, std::memory_order_release); }
  // Calls the event callback for every pending event on this thread; returns how many.
  size_t deliver_events();
  bool has_events() const;
  // Size-then-copy of what came out since the last take (see mmb_job_read_text()).
  bool take_text(char* buf, size_t cap, size_t* len);
  bool take_tokens(int32_t* tokens, size_t cap, size_t* n);
  // Blocks until finished or the timeout; returns finished().
  bool wait_finished(uint32_t timeout_ms);

 private:
  struct Event {
    int32_t kind;
    int32_t token;
    std::string text;
    mmb_status status;
  };
  void emit(int32_t token, const std::string& text);

  Session* session_;
  std::unique_ptr<Sampler> sampler_;
  std::vector<int32_t> prompt_;
  size_t prompt_done_ = 0;
  bool in_flight_ = false;
  std::vector<float> logits_;
  Detokenizer detok_;
  JobLimits limits_;
  JobEvents events_;
  int32_t generated_ = 0;
  std::string recent_;  // the generated text's tail, to find stop_text
  std::string piece_;   // scratch for one token's text

  std::atomic<int32_t> state_{MMB_JOB_QUEUED};
  std::atomic<bool> cancel_{false};
  std::atomic<bool> removed_{false};

  mutable std::mutex out_mutex_;
  std::condition_variable finished_cv_;
  mmb_status result_ = MMB_OK;
  std::string text_out_;
  std::vector<int32_t> tokens_out_;
  std::vector<Event> pending_;
};

}  // namespace mmb
