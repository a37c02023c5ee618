#include "runtime/job.hpp"

#include "runtime/constrained_sampling.hpp"

#include "base/error.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>

namespace mmb {

Job::Job(Session& session, std::unique_ptr<Sampler> sampler, std::vector<int32_t> prompt, JobLimits limits, JobEvents events)
    : session_(&session),
      sampler_(std::move(sampler)),
      prompt_(std::move(prompt)),
      logits_(session.model().config().vocab_size),
      detok_(session.model().tokenizer()),
      limits_(std::move(limits)),
      events_(events) {
  // Text generated right after a lone BOS starts the text: Metaspace tokenizers drop
  // its leading space there (detokenizer.hpp).
  if (!prompt_.empty() && prompt_.back() == session.model().tokenizer().bos_id()) detok_.set_after_bos();
  if (sampler_) {
    for (int32_t t : prompt_) sampler_->accept(t);
    sampler_->reserve(logits_.size());
  }
}

size_t Job::chunk_size(size_t limit) const {
  return std::min({limit, session_->prefill_chunk(), prompt_.size() - prompt_done_});
}

void Job::chunk_done(size_t n) {
  prompt_done_ += n;
  const bool last = prompt_done_ == prompt_.size();
  if (last && sampler_ && limits_.max_tokens > 0) state_.store(MMB_JOB_GENERATING, std::memory_order_release);
  else if (!last) state_.store(MMB_JOB_PREFILL, std::memory_order_release);
}

int32_t Job::sample_next(bool* last) {
  // Checked before sampling: a token is emitted only when it can enter the state, and a
  // full session never reaches (and fails) the batched step of other jobs.
  if (session_->context_left() == 0)
    fail(MMB_ERR_CONTEXT_FULL, "the session's context of ", session_->context().max_tokens, " tokens is full");
  const Tokenizer& tokenizer = session_->model().tokenizer();
  int32_t token;
  if (limits_.grammar) {
    token = sample_constrained(*sampler_, *limits_.grammar, logits_.data(), logits_.size());
    if (token < 0 || session_->model().ends_turn(token)) return -1;
  } else {
    token = sampler_->sample(logits_.data(), logits_.size());
    if (limits_.stop_at_eos && session_->model().ends_turn(token)) return -1;
  }
  piece_.clear();
  if (token < tokenizer.n_pieces()) detok_.push(token, piece_);
  emit(token, piece_);
  ++generated_;
  bool stop = generated_ >= limits_.max_tokens;
  if (!limits_.stop_text.empty()) {
    recent_ += piece_;
    stop = stop || recent_.find(limits_.stop_text) != std::string::npos;
    // Only the tail that could still hold the start of a match is kept.
    if (recent_.size() > limits_.stop_text.size()) recent_.erase(0, recent_.size() - limits_.stop_text.size());
  }
  *last = stop;
  return token;
}

void Job::emit(int32_t token, const std::string& text) {
  std::lock_guard<std::mutex> lock(out_mutex_);
  text_out_ += text;
  if (token >= 0) tokens_out_.push_back(token);
  if (events_.fn) pending_.push_back({MMB_JOB_EVENT_TOKEN, token, text, MMB_OK});
}

void Job::finish(mmb_status result, const std::string& message) {
  if (finished()) return;
  piece_.clear();
  if (sampler_) detok_.flush(piece_);
  if (!piece_.empty()) emit(-1, piece_);
  {
    std::lock_guard<std::mutex> lock(out_mutex_);
    result_ = result;
    if (events_.fn) {
      const bool failed = result != MMB_OK && result != MMB_ERR_CANCELLED;
      pending_.push_back({failed ? MMB_JOB_EVENT_ERROR : MMB_JOB_EVENT_FINISHED, -1, failed ? message : std::string(), result});
    }
    state_.store(MMB_JOB_FINISHED, std::memory_order_release);
  }
  finished_cv_.notify_all();
}

mmb_status Job::result() const {
  std::lock_guard<std::mutex> lock(out_mutex_);
  return result_;
}

bool Job::has_events() const {
  std::lock_guard<std::mutex> lock(out_mutex_);
  return !pending_.empty();
}

size_t Job::deliver_events() {
  std::vector<Event> events;
  {
    std::lock_guard<std::mutex> lock(out_mutex_);
    events.swap(pending_);
  }
  // Called without the lock: the callback may call back into the library, even
  // destroy this job's handle (then the rest is dropped).
  size_t delivered = 0;
  for (const Event& e : events) {
    if (removed_.load(std::memory_order_acquire)) break;
    events_.fn(events_.user_data, events_.handle, e.kind, e.token, e.text.data(), e.text.size(), e.status);
    ++delivered;
  }
  return delivered;
}

bool Job::take_text(char* buf, size_t cap, size_t* len) {
  std::lock_guard<std::mutex> lock(out_mutex_);
  *len = text_out_.size();
  if (cap < text_out_.size()) return false;
  if (!text_out_.empty()) std::memcpy(buf, text_out_.data(), text_out_.size());
  text_out_.clear();
  return true;
}

bool Job::take_tokens(int32_t* tokens, size_t cap, size_t* n) {
  std::lock_guard<std::mutex> lock(out_mutex_);
  *n = tokens_out_.size();
  if (cap < tokens_out_.size()) return false;
  std::copy(tokens_out_.begin(), tokens_out_.end(), tokens);
  tokens_out_.clear();
  return true;
}

bool Job::wait_finished(uint32_t timeout_ms) {
  std::unique_lock<std::mutex> lock(out_mutex_);
  finished_cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [this] { return finished(); });
  return finished();
}

}  // namespace mmb
