#include "soak_schedule.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <deque>
#include <random>
#include <sstream>
#include <thread>

namespace mmb_soak {

const char* op_name(size_t op) {
  static const char* const names[OP_COUNT] = {"step", "batch", "prefill", "fork", "save_load", "recreate",
                                              "job", "job_sampled", "job_cancelled", "job_session_gone",
                                              "page_out", "checkpoint"};
  return op < OP_COUNT ? names[op] : "?";
}

bool Shared::done() const {
  if (stop.load(std::memory_order_relaxed)) return true;
  if (config.steps > 0) return steps.load(std::memory_order_relaxed) >= config.steps;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return elapsed >= config.minutes * 60.0;
}

void Shared::report(const std::string& line) {
  std::lock_guard<std::mutex> lock(report_mutex);
  std::fprintf(stdout, "%s\n", line.c_str());
  std::fflush(stdout);
}

namespace {

// A job's prompt goes through the session in chunks of at most this many tokens
// (section 7 of the header).
constexpr size_t kJobPromptChunk = 16;

// One session of the run as its thread sees it.
struct Tracked {
  mmb_session* session = nullptr;
  size_t id = 0;  // index in the run, for reports
  History history;
  std::vector<float> logits;  // the logits of its last consumed token, when known
  bool logits_valid = false;
  std::deque<std::string> recent;  // the last operations on it, for reports

  void note(std::string what) {
    recent.push_back(std::move(what));
    if (recent.size() > 16) recent.pop_front();
  }
  void forget() {
    history.clear();
    logits_valid = false;
  }
};

class ScheduleThread {
 public:
  ScheduleThread(Shared& shared, size_t index, size_t first, size_t count)
      : sh_(shared), index_(index), rng_(shared.config.seed * 0x9E3779B97F4A7C15ull + index * 7919 + 1) {
    tracked_.resize(count);
    for (size_t i = 0; i < count; ++i) {
      tracked_[i].id = first + i;
      tracked_[i].logits.resize(sh_.vocab);
    }
  }

  ~ScheduleThread() {
    for (Tracked& t : tracked_) mmb_session_destroy(t.session);
    mmb_sampler_destroy(sampler_);
  }

  void run() {
    mmb_sampler_params params;
    if (!ok(mmb_sampler_params_init(&params, sizeof params), "mmb_sampler_params_init", nullptr)) return;
    params.seed = rng_();
    if (!ok(mmb_sampler_create(&params, &sampler_), "mmb_sampler_create", nullptr)) return;
    for (Tracked& t : tracked_)
      if (!ok(mmb_session_create(sh_.model, nullptr, &t.session), "mmb_session_create", &t)) return;

    static constexpr unsigned weights[OP_COUNT] = {30, 14, 10, 4, 5, 2, 4, 5, 4, 1, 6, 3};
    std::discrete_distribution<size_t> pick_op(std::begin(weights), std::end(weights));
    while (!broken_ && !sh_.done()) {
      const size_t op = pick_op(rng_);
      ++op_number_;
      bool done = true;
      switch (op) {
        case OP_STEP: done = step(any()); break;
        case OP_BATCH: done = batch(); break;
        case OP_PREFILL: done = prefill(any()); break;
        case OP_FORK: done = fork(); break;
        case OP_SAVE_LOAD: done = save_load(); break;
        case OP_RECREATE: done = recreate(any()); break;
        case OP_JOB: done = job(any(), false, false); break;
        case OP_JOB_SAMPLED: done = job(any(), true, false); break;
        case OP_JOB_CANCELLED: done = job(any(), coin(2), true); break;
        case OP_JOB_SESSION_GONE: done = job_session_gone(any()); break;
        case OP_PAGE_OUT: done = page_out(any()); break;
        case OP_CHECKPOINT: done = checkpoint(any()); break;
        default: break;
      }
      if (done) sh_.ops[op].fetch_add(1, std::memory_order_relaxed);
    }
    // The end: every session is checked once more.
    for (Tracked& t : tracked_) {
      if (broken_) break;
      if (checkpoint(t)) sh_.ops[OP_CHECKPOINT].fetch_add(1, std::memory_order_relaxed);
    }
  }

 private:
  Shared& sh_;
  size_t index_;
  std::mt19937_64 rng_;
  std::vector<Tracked> tracked_;
  mmb_sampler* sampler_ = nullptr;
  uint64_t op_number_ = 0;
  bool broken_ = false;

  size_t below(size_t n) { return size_t(rng_() % n); }
  bool coin(size_t one_in) { return below(one_in) == 0; }
  Tracked& any() { return tracked_[below(tracked_.size())]; }
  int32_t random_token() { return int32_t(below(sh_.vocab)); }

  std::string where(const Tracked* t) const {
    std::ostringstream s;
    s << "seed " << sh_.config.seed << ", thread " << index_ << ", op #" << op_number_;
    if (t) s << ", session " << t->id << " (history: base position " << t->history.base_position << " + "
             << t->history.tokens.size() << " tokens)";
    return s.str();
  }

  // A call's status: anything but MMB_OK is unexpected and ends the run.
  bool ok(mmb_status s, const char* call, const Tracked* t) {
    if (s == MMB_OK) return true;
    std::ostringstream line;
    line << "UNEXPECTED STATUS: " << call << " -> " << mmb_status_string(s) << " (" << mmb_last_error() << "); "
         << where(t);
    if (t) {
      line << "; recent ops:";
      for (const std::string& r : t->recent) line << " " << r;
    }
    sh_.report(line.str());
    sh_.failures.fetch_add(1);
    sh_.stop.store(true);
    broken_ = true;
    return false;
  }

  void consumed(uint64_t n) { sh_.steps.fetch_add(n, std::memory_order_relaxed); }

  // A token for `t`: usually uniform over the vocabulary, sometimes sampled from its logits.
  int32_t next_token(Tracked& t) {
    if (t.logits_valid && coin(4)) {
      int32_t token = 0;
      if (!ok(mmb_sampler_sample(sampler_, t.logits.data(), sh_.vocab, &token), "mmb_sampler_sample", &t))
        return -1;
      return token;
    }
    return random_token();
  }

  bool step(Tracked& t) {
    const int32_t token = next_token(t);
    if (token < 0) return false;
    const bool with_logits = !coin(5);
    if (!ok(mmb_session_step(t.session, token, with_logits ? t.logits.data() : nullptr, with_logits ? sh_.vocab : 0),
            "mmb_session_step", &t))
      return false;
    t.history.add_step(token);
    t.logits_valid = with_logits;
    t.note(with_logits ? "step" : "step(no logits)");
    consumed(1);
    return true;
  }

  bool batch() {
    const size_t most = std::min(sh_.config.max_batch, tracked_.size());
    if (most < 2) return step(any());
    const size_t n = 2 + below(most - 1);
    std::vector<size_t> order(tracked_.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), rng_);
    order.resize(n);
    std::vector<mmb_session*> sessions(n);
    std::vector<int32_t> tokens(n);
    for (size_t i = 0; i < n; ++i) {
      Tracked& t = tracked_[order[i]];
      sessions[i] = t.session;
      tokens[i] = next_token(t);
      if (tokens[i] < 0) return false;
    }
    const bool with_logits = !coin(8);
    const size_t stride = sh_.vocab + 5;
    std::vector<float> rows(with_logits ? n * stride : 0);
    if (!ok(mmb_step_batch(sessions.data(), tokens.data(), n, with_logits ? rows.data() : nullptr,
                           with_logits ? stride : 0),
            "mmb_step_batch", &tracked_[order[0]]))
      return false;
    for (size_t i = 0; i < n; ++i) {
      Tracked& t = tracked_[order[i]];
      t.history.add_step(tokens[i]);
      if (with_logits) std::copy_n(rows.data() + i * stride, sh_.vocab, t.logits.data());
      t.logits_valid = with_logits;
      t.note("batch" + std::to_string(n));
    }
    consumed(n);
    return true;
  }

  bool prefill(Tracked& t) {
    const size_t n = 2 + below(23);
    std::vector<int32_t> tokens(n);
    for (int32_t& x : tokens) x = random_token();
    const bool with_logits = !coin(8);
    if (!ok(mmb_session_prefill(t.session, tokens.data(), n, with_logits ? t.logits.data() : nullptr,
                                with_logits ? sh_.vocab : 0),
            "mmb_session_prefill", &t))
      return false;
    t.history.add_prefill(tokens.data(), n);
    t.logits_valid = with_logits;
    t.note("prefill" + std::to_string(n));
    consumed(n);
    return true;
  }

  // The child of a fork replaces another session of this thread, which is destroyed.
  bool fork() {
    if (tracked_.size() < 2) return false;
    Tracked& parent = any();
    Tracked* victim = &parent;
    while (victim == &parent) victim = &any();
    mmb_session* child = nullptr;
    if (!ok(mmb_session_fork(parent.session, &child), "mmb_session_fork", &parent)) return false;
    mmb_session_destroy(victim->session);
    victim->session = child;
    victim->history = parent.history;
    victim->logits = parent.logits;
    victim->logits_valid = parent.logits_valid;
    victim->recent = parent.recent;
    victim->note("forked from " + std::to_string(parent.id));
    parent.note("fork to " + std::to_string(victim->id));
    return true;
  }

  std::vector<uint8_t> save(Tracked& t) {
    size_t size = 0;
    if (!ok(mmb_session_state_size(t.session, &size), "mmb_session_state_size", &t)) return {};
    std::vector<uint8_t> blob(size);
    size_t written = 0;
    if (!ok(mmb_session_state_save(t.session, blob.data(), blob.size(), &written), "mmb_session_state_save", &t))
      return {};
    blob.resize(written);
    return blob;
  }

  // A state blob round trip: into another session of this thread (which takes over the
  // history), or back into the same session after it went on for a few tokens.
  bool save_load() {
    Tracked& from = any();
    std::vector<uint8_t> blob = save(from);
    if (broken_) return false;
    if (coin(3) || tracked_.size() < 2) {
      const History history = from.history;
      const std::vector<float> logits = from.logits;
      const bool valid = from.logits_valid;
      const size_t extra = 1 + below(3);
      for (size_t i = 0; i < extra; ++i)
        if (!step(from)) return false;
      if (!ok(mmb_session_state_load(from.session, blob.data(), blob.size()), "mmb_session_state_load (rewind)",
              &from))
        return false;
      from.history = history;
      from.logits = logits;
      from.logits_valid = valid;
      from.note("rewound by state load");
      return true;
    }
    Tracked* to = &from;
    while (to == &from) to = &any();
    if (!ok(mmb_session_state_load(to->session, blob.data(), blob.size()), "mmb_session_state_load", to))
      return false;
    to->history = from.history;
    to->logits = from.logits;
    to->logits_valid = from.logits_valid;
    to->recent = from.recent;
    to->note("loaded state of " + std::to_string(from.id));
    return true;
  }

  bool recreate(Tracked& t) {
    mmb_session_destroy(t.session);
    t.session = nullptr;
    t.forget();
    if (!ok(mmb_session_create(sh_.model, nullptr, &t.session), "mmb_session_create", &t)) return false;
    t.note("recreated");
    return true;
  }

  bool page_out(Tracked& t) {
    if (!ok(mmb_session_page_out(t.session), "mmb_session_page_out", &t)) return false;
    t.note("page_out");
    return true;
  }

  // A sampler with a random seed and temperature (0: greedy) for one job.
  mmb_sampler* job_sampler() {
    mmb_sampler_params params;
    if (!ok(mmb_sampler_params_init(&params, sizeof params), "mmb_sampler_params_init", nullptr)) return nullptr;
    params.seed = rng_();
    if (coin(3)) params.temperature = 0.0f;
    mmb_sampler* s = nullptr;
    if (!ok(mmb_sampler_create(&params, &s), "mmb_sampler_create", nullptr)) return nullptr;
    return s;
  }

  // Waits until the job is finished; false (reported) when it takes unreasonably long.
  bool wait_finished(mmb_job* job, Tracked& t) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);
    for (;;) {
      int32_t state = MMB_JOB_QUEUED;
      if (!ok(mmb_job_wait(job, 1000, &state), "mmb_job_wait", &t)) return false;
      if (state == MMB_JOB_FINISHED) return true;
      if (std::chrono::steady_clock::now() > deadline) {
        sh_.report("JOB DID NOT FINISH within 2 minutes; " + where(&t));
        sh_.failures.fetch_add(1);
        sh_.stop.store(true);
        broken_ = true;
        return false;
      }
    }
  }

  // A job on `t`: its prompt (random tokens), with a sampler a few generated tokens;
  // `cancel`: cancelled at a random moment. The history takes what the session
  // consumed: the job's position change tells how many prompt tokens (whole chunks
  // when cancelled in the prompt) and generated tokens went in.
  bool job(Tracked& t, bool sampled, bool cancel) {
    const size_t n = 1 + below(40);
    std::vector<int32_t> prompt(n);
    for (int32_t& x : prompt) x = random_token();
    mmb_job_options options;
    if (!ok(mmb_job_options_init(&options, sizeof options), "mmb_job_options_init", &t)) return false;
    options.max_tokens = int32_t(1 + below(8));
    options.stop_at_eos = int32_t(below(2));
    mmb_sampler* sampler = nullptr;
    if (sampled && !(sampler = job_sampler())) return false;
    const uint64_t before = t.history.position();
    mmb_job* job = nullptr;
    const mmb_status submitted = mmb_job_submit_tokens(t.session, sampler, prompt.data(), n, &options, &job);
    mmb_sampler_destroy(sampler);  // the job took its own copy
    if (!ok(submitted, "mmb_job_submit_tokens", &t)) return false;
    if (cancel) {
      switch (below(3)) {
        case 0: break;
        case 1: std::this_thread::sleep_for(std::chrono::microseconds(below(3000))); break;
        default: {
          int32_t state = MMB_JOB_QUEUED;
          for (int i = 0; i < 100000 && state == MMB_JOB_QUEUED; ++i)
            if (!ok(mmb_job_poll(job, &state, nullptr), "mmb_job_poll", &t)) break;
          break;
        }
      }
      if (!broken_) ok(mmb_job_cancel(job), "mmb_job_cancel", &t);
    }
    if (broken_ || !wait_finished(job, t)) {
      mmb_job_destroy(job);
      return false;
    }
    int32_t state = 0;
    mmb_status result = MMB_OK;
    std::vector<int32_t> emitted(256);
    size_t got = 0;
    bool fine = ok(mmb_job_poll(job, &state, &result), "mmb_job_poll", &t) &&
                ok(mmb_job_read_tokens(job, emitted.data(), emitted.size(), &got), "mmb_job_read_tokens", &t);
    mmb_job_destroy(job);
    if (!fine) return false;
    emitted.resize(got);
    if (!(result == MMB_OK || (cancel && result == MMB_ERR_CANCELLED)) &&
        !ok(result, "job result", &t))
      return false;
    uint64_t after = 0;
    if (!ok(mmb_session_get_position(t.session, &after), "mmb_session_get_position", &t)) return false;

    // What went in: `after - before` tokens, the prompt's first and then the emitted ones.
    const uint64_t delta = after >= before ? after - before : UINT64_MAX;
    bool exact = delta != UINT64_MAX;
    size_t prompt_in = 0, generated_in = 0;
    if (exact) {
      prompt_in = size_t(std::min<uint64_t>(delta, n));
      generated_in = size_t(delta - prompt_in);
      if (prompt_in < n) exact = emitted.empty() && (prompt_in % kJobPromptChunk == 0);
      else exact = generated_in == emitted.size();
      if (!sampled && generated_in != 0) exact = false;
      if (!cancel && result == MMB_OK && prompt_in != n) exact = false;
    }
    const char* kind = cancel ? "job_cancelled" : sampled ? "job_sampled" : "job";
    if (!exact) {
      std::ostringstream line;
      line << "note: " << kind << " left position " << after << " from " << before << " with a prompt of " << n
           << " and " << emitted.size() << " emitted tokens (result " << mmb_status_string(result)
           << "); the session is reset; " << where(&t);
      sh_.report(line.str());
      sh_.job_resyncs.fetch_add(1);
      if (!ok(mmb_session_reset(t.session), "mmb_session_reset", &t)) return false;
      t.forget();
      t.note(std::string(kind) + "(reset)");
      return true;
    }
    for (size_t at = 0; at < prompt_in; at += kJobPromptChunk)
      t.history.add_prefill(prompt.data() + at, std::min(kJobPromptChunk, prompt_in - at));
    for (int32_t token : emitted) t.history.add_step(token);
    t.logits_valid = false;
    t.note(std::string(kind) + "(" + std::to_string(prompt_in) + "+" + std::to_string(generated_in) + ")");
    consumed(delta);
    return true;
  }

  // The session is destroyed while its job may still run, then the job.
  bool job_session_gone(Tracked& t) {
    std::vector<int32_t> prompt(1 + below(40));
    for (int32_t& x : prompt) x = random_token();
    mmb_job_options options;
    if (!ok(mmb_job_options_init(&options, sizeof options), "mmb_job_options_init", &t)) return false;
    options.max_tokens = int32_t(1 + below(8));
    mmb_sampler* sampler = job_sampler();
    if (!sampler) return false;
    mmb_job* job = nullptr;
    const mmb_status submitted =
        mmb_job_submit_tokens(t.session, sampler, prompt.data(), prompt.size(), &options, &job);
    mmb_sampler_destroy(sampler);
    if (!ok(submitted, "mmb_job_submit_tokens", &t)) return false;
    if (coin(2)) std::this_thread::sleep_for(std::chrono::microseconds(below(2000)));
    mmb_session_destroy(t.session);
    t.session = nullptr;
    if (coin(2)) {
      int32_t state = 0;
      mmb_status result = MMB_OK;
      ok(mmb_job_poll(job, &state, &result), "mmb_job_poll (session destroyed)", &t);
    }
    mmb_job_destroy(job);
    t.forget();
    if (broken_) return false;
    if (!ok(mmb_session_create(sh_.model, nullptr, &t.session), "mmb_session_create", &t)) return false;
    t.note("job_session_gone");
    return true;
  }

  // The reference check of one session (see soak_replay.hpp). Without logits of its
  // last token, the session first takes one more step.
  bool checkpoint(Tracked& t) {
    uint64_t position = 0;
    if (!ok(mmb_session_get_position(t.session, &position), "mmb_session_get_position", &t)) return false;
    if (position != t.history.position()) {
      std::ostringstream line;
      line << "MISMATCH: position " << position << ", history " << t.history.position() << "; " << where(&t);
      mismatch(t, line.str());
      return true;
    }
    if (!t.logits_valid || t.history.tokens.empty()) {
      const int32_t token = random_token();
      if (!ok(mmb_session_step(t.session, token, t.logits.data(), sh_.vocab), "mmb_session_step (checkpoint)", &t))
        return false;
      t.history.add_step(token);
      t.logits_valid = true;
      t.note("step(checkpoint)");
      consumed(1);
    }
    const ReplayOutcome r = replay_and_compare(sh_.model, t.history, t.logits, sh_.vocab);
    if (!r.failed_call.empty()) return ok(r.status, r.failed_call.c_str(), &t);
    sh_.checkpoints.fetch_add(1, std::memory_order_relaxed);
    sh_.replayed_tokens.fetch_add(t.history.tokens.size(), std::memory_order_relaxed);
    if (!r.equal) {
      std::ostringstream line;
      line << "MISMATCH: replay logits differ in " << r.differing << " of " << sh_.vocab << " (first at "
           << r.first_difference << ", max |diff| " << r.max_abs_difference << "); " << where(&t);
      mismatch(t, line.str());
      return true;
    }
    t.history.base = r.verified_state;
    t.history.base_position = t.history.position();
    t.history.tokens.clear();
    t.history.segments.clear();
    t.note("checkpoint");
    return true;
  }

  // Reports a mismatch with the session's recent operations and its history's make-up,
  // then starts the session over so that one fault is counted once.
  void mismatch(Tracked& t, const std::string& what) {
    std::ostringstream line;
    line << what << "; segments since the last check:";
    for (const Segment& s : t.history.segments) line << " " << (s.prefill ? "prefill" : "steps") << s.length;
    line << "; recent ops:";
    for (const std::string& r : t.recent) line << " " << r;
    sh_.report(line.str());
    sh_.mismatches.fetch_add(1);
    if (!ok(mmb_session_reset(t.session), "mmb_session_reset", &t)) return;
    t.forget();
    t.note("reset after mismatch");
  }
};

}  // namespace

void run_schedule_thread(Shared& shared, size_t index, size_t first, size_t count) {
  ScheduleThread thread(shared, index, first, count);
  thread.run();
}

}  // namespace mmb_soak
