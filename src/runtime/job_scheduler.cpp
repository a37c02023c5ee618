#include "runtime/job_scheduler.hpp"

#include "base/error.hpp"
#include "model/model.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <exception>
#include <new>

namespace mmb {

using Clock = std::chrono::steady_clock;

namespace {

double micros_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
}

// The status and message an exception carries (the API layer's rules, for a job).
mmb_status status_of(std::exception_ptr e, std::string& message) {
  try {
    std::rethrow_exception(e);
  } catch (const Error& err) {
    message = err.what();
    return err.status();
  } catch (const std::bad_alloc&) {
    message = "out of memory";
    return MMB_ERR_OUT_OF_MEMORY;
  } catch (const std::exception& err) {
    message = err.what();
    return MMB_ERR_INTERNAL;
  } catch (...) {
    message = "unknown exception";
    return MMB_ERR_INTERNAL;
  }
}

void fail_job(Job& job, std::exception_ptr e) {
  std::string message;
  const mmb_status s = status_of(e, message);
  job.finish(s, message);
}

}  // namespace

JobScheduler::JobScheduler(int32_t mode, mmb_run_task_fn run_task, void* run_task_user, std::shared_ptr<SessionPager> pager,
                           const HostAllocator& allocator, ThreadPool& pool)
    : mode_(mode),
      run_task_(run_task),
      run_task_user_(run_task_user),
      pager_(std::move(pager)),
      allocator_(allocator),
      pool_(pool) {}

JobScheduler::~JobScheduler() { stop(); }

void JobScheduler::stop() {
  {
    std::lock_guard<std::mutex> lock(jobs_mutex_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

bool JobScheduler::has_active_locked() const {
  return std::any_of(jobs_.begin(), jobs_.end(), [](const auto& j) { return !j->finished(); });
}

void JobScheduler::submit(const std::shared_ptr<Job>& job) {
  {
    std::lock_guard<std::mutex> lock(jobs_mutex_);
    jobs_.push_back(job);
    // The worker starts with the first job, so runtimes that never use jobs hold no thread.
    if (mode_ == MMB_JOBS_WORKER && !worker_.joinable() && !stopping_) worker_ = std::thread([this] { worker_main(); });
  }
  work_cv_.notify_all();
  if (mode_ == MMB_JOBS_HOST) request_host_task();
}

void JobScheduler::cancel(Job& job) {
  job.request_cancel();
  cancels_pending_.store(true);
  std::unique_lock<std::mutex> advance(advance_mutex_, std::try_to_lock);
  // Otherwise the thread advancing now settles it before its next slice.
  if (advance.owns_lock()) {
    Unit none;
    settle_cancels_locked(none);
    // A batched step that a frame left half done holds the job's emitted token: the
    // rest of it runs here (at most one step), so that the job ends at once with that
    // token in its session.
    if (job.in_flight()) finish_pass_of_locked(job);
    job.finish(MMB_ERR_CANCELLED);
  }
  work_cv_.notify_all();
}

void JobScheduler::detach_session(Job& job) {
  job.request_cancel();
  cancels_pending_.store(true);
  std::unique_lock<std::mutex> advance = lock_advance();
  Unit none;
  settle_cancels_locked(none);
  // A batched step under way keeps the session until it ends (its token was emitted):
  // the rest of it runs here, so that the session is whole when it goes or is free.
  if (job.in_flight()) finish_pass_of_locked(job);
  job.finish(MMB_ERR_CANCELLED);
  job.detach_session();
}

void JobScheduler::finish_pass_of_locked(const Job& job) {
  Unit rest;
  while (job.in_flight() && !passes_.empty()) run_slice_locked(passes_.front().stages, rest);
}

std::unique_lock<std::mutex> JobScheduler::lock_advance() {
  lock_waiters_.fetch_add(1);
  std::unique_lock<std::mutex> advance(advance_mutex_);
  {
    std::lock_guard<std::mutex> lock(jobs_mutex_);
    lock_waiters_.fetch_sub(1);
  }
  work_cv_.notify_all();
  return advance;
}

void JobScheduler::let_lock_waiters_in() {
  if (lock_waiters_.load() == 0) return;
  std::unique_lock<std::mutex> lock(jobs_mutex_);
  work_cv_.wait(lock, [this] { return lock_waiters_.load() == 0 || stopping_; });
}

void JobScheduler::settle_cancels_locked(Unit& unit) {
  if (!cancels_pending_.exchange(false)) return;
  for (auto it = passes_.begin(); it != passes_.end();) {
    if (it->chunk_job && it->chunk_job->cancel_requested()) {
      Job& job = *it->chunk_job;
      undo_chunk_locked(*it);
      job.finish(MMB_ERR_CANCELLED);
      ++unit.finished;
      unit.progressed = true;
      it = passes_.erase(it);
    } else {
      ++it;
    }
  }
  std::vector<std::shared_ptr<Job>> idle;
  {
    std::lock_guard<std::mutex> lock(jobs_mutex_);
    for (const auto& j : jobs_)
      if (j->cancel_requested() && !j->finished() && !j->in_flight()) idle.push_back(j);
  }
  for (const auto& j : idle) {
    j->finish(MMB_ERR_CANCELLED);
    ++unit.finished;
    unit.progressed = true;
  }
}

void JobScheduler::undo_chunk_locked(Pass& chunk) {
  Job& job = *chunk.chunk_job;
  Session* session = chunk.sessions.front();
  try {
    if (chunk.next > 0) session->abandon_chunk(chunk_undo_.data());
  } catch (...) {
    fail_job(job, std::current_exception());
  }
  job.set_in_flight(false);
  pager_->unpin(session);
}

void JobScheduler::remove(Job& job) {
  detach_session(job);
  job.mark_removed();
  std::lock_guard<std::mutex> lock(jobs_mutex_);
  jobs_.erase(std::remove_if(jobs_.begin(), jobs_.end(), [&](const auto& j) { return j.get() == &job; }), jobs_.end());
}

template <typename ChunkRows>
void JobScheduler::plan_locked(Unit& unit, ChunkRows chunk_rows) {
  std::vector<std::shared_ptr<Job>> work;
  {
    std::lock_guard<std::mutex> lock(jobs_mutex_);
    for (const auto& j : jobs_)
      if (!j->finished()) work.push_back(j);
  }
  std::vector<Step> steps;  // the generating jobs, to sample
  bool prefilled = false;
  for (const auto& job : work) {
    Session* session = job->session();
    if (job->cancel_requested() || !session) {
      job->finish(MMB_ERR_CANCELLED);
      ++unit.finished;
      unit.progressed = true;
      continue;
    }
    // One prompt chunk per unit (first come, first served) keeps a unit near the cost
    // of one step, so that frames keep to their budget while prompts arrive.
    if (job->in_prompt() && prefilled) continue;
    try {
      if (!pager_->try_pin(session)) continue;  // waits for session memory
    } catch (...) {
      fail_job(*job, std::current_exception());
      ++unit.finished;
      continue;
    }
    unit.progressed = true;
    try {
      if (job->in_prompt()) {
        prefilled = true;
        // The state before the chunk, for a cancel between its stages (a backend of
        // one stage never leaves a chunk half done); a failed allocation fails the
        // job before anything changed.
        if (session->stages() > 1) {
          const size_t state_floats = session->recurrent_state_floats();
          if (chunk_undo_.size() < state_floats) chunk_undo_ = HostBuffer<float>(allocator_, state_floats, false);
          session->save_recurrent_state(chunk_undo_.data());
        }
        Pass chunk;
        const size_t m = job->chunk_size(chunk_rows(*job));
        chunk.chunk_job = job;
        chunk.sessions = {session};
        chunk.tokens.assign(job->chunk_tokens(), job->chunk_tokens() + m);
        chunk.logits = job->chunk_logits(m);
        chunk.stages = session->stages();
        passes_.push_back(std::move(chunk));
        job->set_in_flight(true);
        continue;
      }
      steps.push_back({job, -1, false});
    } catch (...) {
      fail_job(*job, std::current_exception());
      ++unit.finished;
      pager_->unpin(session);
    }
  }

  // Every generating job samples its next token, the jobs spread over the compute
  // threads: with a real vocabulary, sampling 16 jobs one after another would take
  // milliseconds of the frame on one thread. Each job has its own sampler and state.
  std::vector<std::exception_ptr> errors(steps.size());
  pool_.run(steps.size(), [&](size_t i, int) {
    try {
      steps[i].token = steps[i].job->sample_next(&steps[i].last);
    } catch (...) {
      errors[i] = std::current_exception();
    }
  });
  // A job that failed or drew its end leaves the step.
  size_t kept = 0;
  for (size_t i = 0; i < steps.size(); ++i) {
    Job& job = *steps[i].job;
    if (errors[i] || steps[i].token < 0) {
      if (errors[i]) fail_job(job, errors[i]);
      else job.finish(MMB_OK);  // EOS
      ++unit.finished;
      pager_->unpin(job.session());
      continue;
    }
    ++unit.tokens;
    steps[kept++] = std::move(steps[i]);
  }
  steps.resize(kept);

  // One batched step per model over the tokens just sampled, after the prompt chunk.
  while (!steps.empty()) {
    const Model* model = &steps.front().job->session()->model();
    auto same_model = [&](const Step& s) { return &s.job->session()->model() == model; };
    auto split = std::stable_partition(steps.begin(), steps.end(), same_model);
    Pass step;
    step.steps.assign(steps.begin(), split);
    steps.erase(steps.begin(), split);
    for (const Step& s : step.steps) {
      step.sessions.push_back(s.job->session());
      step.tokens.push_back(s.token);
      s.job->set_in_flight(true);
    }
    step.stages = step.sessions.front()->stages();
    // Passes run one after another, each taking its logits out when it ends: one
    // buffer serves them all.
    const size_t need = step.steps.size() * model->config().vocab_size;
    if (batch_logits_.size() < need) batch_logits_.resize(need);
    passes_.push_back(std::move(step));
  }
  for (Pass& p : passes_)
    if (!p.chunk_job) p.logits = batch_logits_.data();
}

void JobScheduler::run_slice_locked(size_t last, Unit& unit) {
  Pass& pass = passes_.front();
  try {
    if (pass.chunk_job)
      pass.sessions.front()->prefill_chunk_stages(pass.tokens.data(), pass.tokens.size(), pass.logits, pass.next, last);
    else
      Session::step_batch_stages(pass.sessions.data(), pass.tokens.data(), pass.sessions.size(), pass.logits,
                                 pass.sessions.front()->model().config().vocab_size, pass.next, last);
    pass.next = last;
    if (pass.next < pass.stages) return;
    if (pass.chunk_job) {
      Job& job = *pass.chunk_job;
      job.chunk_done(pass.tokens.size());
      unit.prompt_tokens += pass.tokens.size();
      if (!job.in_prompt() && job.state() != MMB_JOB_GENERATING) {
        job.finish(MMB_OK);
        ++unit.finished;
      }
    } else {
      const size_t vocab = pass.sessions.front()->model().config().vocab_size;
      for (size_t i = 0; i < pass.steps.size(); ++i) {
        Job& job = *pass.steps[i].job;
        std::memcpy(job.logits(), pass.logits + i * vocab, vocab * sizeof(float));
        if (pass.steps[i].last && !job.finished()) {
          job.finish(MMB_OK);
          ++unit.finished;
        }
      }
    }
  } catch (...) {
    if (pass.chunk_job) fail_job(*pass.chunk_job, std::current_exception()), ++unit.finished;
    for (const Step& s : pass.steps) fail_job(*s.job, std::current_exception()), ++unit.finished;
  }
  end_pass_locked(pass, unit);
  passes_.pop_front();
}

void JobScheduler::end_pass_locked(Pass& pass, Unit& unit) {
  auto release = [&](Job& job) {
    job.set_in_flight(false);
    // A cancel that came while the work was half done takes effect now.
    if (job.cancel_requested() && !job.finished()) {
      job.finish(MMB_ERR_CANCELLED);
      ++unit.finished;
    }
  };
  if (pass.chunk_job) release(*pass.chunk_job);
  for (const Step& s : pass.steps) release(*s.job);
  for (Session* s : pass.sessions) pager_->unpin(s);
}

JobScheduler::Unit JobScheduler::advance_locked() {
  Unit unit;
  settle_cancels_locked(unit);
  if (passes_.empty()) plan_locked(unit, [](const Job&) { return SIZE_MAX; });
  else unit.progressed = true;
  // Stage by stage gives the bits of a whole pass (the frames' slices do the same).
  while (!passes_.empty() && lock_waiters_.load() == 0) {
    run_slice_locked(passes_.front().next + 1, unit);
    settle_cancels_locked(unit);
  }
  return unit;
}

SliceKey JobScheduler::key_of(const Pass& pass) {
  return {&pass.sessions.front()->model().compute(), pass.chunk_job != nullptr, uint32_t(pass.next),
          uint32_t(pass.sessions.size() * (pass.chunk_job ? pass.tokens.size() : 1))};
}

size_t JobScheduler::chunk_rows_for(const Job& job, uint64_t budget_us) const {
  const Session& session = *job.session();
  // A Mamba-2 layer's chunked scan gives bits that depend on a chunk's rows: its
  // chunks keep their size, so that results never depend on the budget.
  const auto& layers = session.model().config().layers;
  if (std::any_of(layers.begin(), layers.end(), [](const LayerConfig& l) { return l.kind == LayerKind::Mamba2; }))
    return session.prefill_chunk();
  const void* compute = &session.model().compute();
  const size_t stages = session.stages();
  // The layers' stages only (the first ones; what follows is the head, which serves a
  // chunk's last row alone, whatever the chunk's size).
  const size_t layer_stages = std::min(stages, layers.size());
  for (size_t rows = session.prefill_chunk(); rows >= 1; rows /= 2) {
    double worst = 0;
    for (size_t s = 0; s < layer_stages; ++s)
      worst = std::max(worst, costs_.predict({compute, true, uint32_t(s), uint32_t(rows)}));
    // kUnknown (nothing measured yet) leaves worst at 0: the first chunks measure.
    if (worst <= 0.5 * double(budget_us)) return rows;
  }
  // Not even one row fits: layers that cost the same at any row count (reading their
  // weights) gain nothing from smaller chunks.
  return session.prefill_chunk();
}

void JobScheduler::worker_main() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(jobs_mutex_);
      work_cv_.wait(lock, [this] { return stopping_ || has_active_locked(); });
      if (stopping_) return;
    }
    Unit unit;
    {
      std::lock_guard<std::mutex> advance(advance_mutex_);
      unit = advance_locked();
    }
    let_lock_waiters_in();
    if (!unit.progressed) {
      // Every job waits for session memory: look again shortly.
      std::unique_lock<std::mutex> lock(jobs_mutex_);
      work_cv_.wait_for(lock, std::chrono::milliseconds(1), [this] { return stopping_; });
    }
  }
}

void JobScheduler::request_host_task() {
  {
    std::lock_guard<std::mutex> lock(jobs_mutex_);
    if (host_task_pending_ || !has_active_locked()) return;
    host_task_pending_ = true;
  }
  // The task keeps the scheduler alive until the host runs it, whenever that is.
  auto* self = new std::shared_ptr<JobScheduler>(shared_from_this());
  run_task_(run_task_user_, &JobScheduler::host_task, self);
}

namespace {
// A host task's re-request of itself that the host's run_task ran inline, on the same
// thread: the outer call goes on looping instead of growing the stack.
thread_local int host_task_depth = 0;
thread_local bool host_task_rerun = false;
}  // namespace

void JobScheduler::host_task(void* data) {
  std::unique_ptr<std::shared_ptr<JobScheduler>> holder(static_cast<std::shared_ptr<JobScheduler>*>(data));
  if (host_task_depth > 0) {
    host_task_rerun = true;
    return;
  }
  JobScheduler& s = **holder;
  if (s.paced()) {
    s.run_host_window_task();
    return;
  }
  ++host_task_depth;
  for (;;) {
    Unit unit;
    {
      std::lock_guard<std::mutex> advance(s.advance_mutex_);
      unit = s.advance_locked();
    }
    s.let_lock_waiters_in();
    {
      std::lock_guard<std::mutex> lock(s.jobs_mutex_);
      if (!s.has_active_locked()) {
        s.host_task_pending_ = false;
        break;
      }
    }
    if (!unit.progressed) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    // One unit per task: the host's thread goes back to its job system between units,
    // and the next unit is a task of its own.
    host_task_rerun = false;
    s.run_task_(s.run_task_user_, &JobScheduler::host_task, new std::shared_ptr<JobScheduler>(s.shared_from_this()));
    if (!host_task_rerun) break;
  }
  --host_task_depth;
}

bool JobScheduler::paced() const {
  std::lock_guard<std::mutex> lock(jobs_mutex_);
  // Only a host-mode frame call with a budget opens a window, and none closes one.
  return window_.number > 0;
}

bool JobScheduler::wait(Job& job, uint32_t timeout_ms) {
  if (mode_ == MMB_JOBS_WORKER || (mode_ == MMB_JOBS_HOST && !paced())) return job.wait_finished(timeout_ms);
  // Nobody else advances jobs in frame mode, and host tasks paced by frames only within
  // each frame's budget: the waiting thread does the work.
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!job.finished() && Clock::now() < deadline) {
    Unit unit;
    {
      std::lock_guard<std::mutex> advance(advance_mutex_);
      unit = advance_locked();
    }
    let_lock_waiters_in();
    if (!unit.progressed) job.wait_finished(1);
  }
  return job.finished();
}

bool JobScheduler::run_within_locked(Clock::time_point t0, double budget_us, bool first_always, FrameFigures& f) {
  // The first piece of work runs when asked to, so a budget below one slice still makes
  // progress; every later one only when its predicted cost fits what is left (one never
  // measured waits for the next call, where it runs first).
  bool ran = false;
  auto fits = [&](double predicted) {
    return (!ran && first_always) ||
           (predicted != SliceCosts::kUnknown && micros_since(t0) + predicted <= budget_us);
  };
  for (;;) {
    Unit unit;
    settle_cancels_locked(unit);
    f.jobs_finished += unit.finished;
    unit.finished = 0;
    if (passes_.empty()) {
      // A plan's cost is mostly sampling: it goes by the jobs that will sample.
      uint32_t active = 0, sampling = 0;
      {
        std::lock_guard<std::mutex> lock(jobs_mutex_);
        for (const auto& j : jobs_) {
          if (j->finished()) continue;
          ++active;
          if (!j->in_prompt()) ++sampling;
        }
      }
      if (active == 0) break;
      const SliceKey plan{nullptr, false, 0, sampling};
      if (!fits(costs_.predict(plan))) break;
      const auto p0 = Clock::now();
      plan_locked(unit, [&](const Job& job) { return chunk_rows_for(job, uint64_t(std::max(0.0, budget_us))); });
      costs_.record(plan, micros_since(p0));
      if (!unit.progressed) break;
      if (passes_.empty()) ++f.steps;
    } else {
      const SliceKey key = key_of(passes_.front());
      if (!fits(costs_.predict(key))) break;
      const auto s0 = Clock::now();
      run_slice_locked(passes_.front().next + 1, unit);
      costs_.record(key, micros_since(s0));
      ++f.slices;
      if (passes_.empty()) ++f.steps;
    }
    ran = true;
    f.tokens_generated += unit.tokens;
    f.prompt_tokens += unit.prompt_tokens;
    f.jobs_finished += unit.finished;
  }
  return ran;
}

void JobScheduler::run_host_window_task() {
  double left = 0;
  bool first = false;
  uint64_t window = 0;
  {
    std::lock_guard<std::mutex> lock(jobs_mutex_);
    left = double(window_.budget_us) - window_.spent_us;
    first = !window_.ran;
    window = window_.number;
  }
  FrameFigures done;
  bool ran = false;
  double spent = 0;
  {
    std::lock_guard<std::mutex> advance(advance_mutex_);
    const auto t0 = Clock::now();
    ran = run_within_locked(t0, left, first, done);
    spent = micros_since(t0);
  }
  bool new_window = false;
  {
    std::lock_guard<std::mutex> lock(jobs_mutex_);
    // Time spent is charged to the window current now (a task that outlasted its frame
    // takes it from the next one).
    window_.spent_us += spent;
    window_.ran = window_.ran || ran;
    window_.done.add(done);
    host_task_pending_ = false;
    new_window = window_.number != window;
  }
  // Otherwise the next task is asked for by the next frame call (or by a submit, for
  // what is left of this frame's budget).
  if (new_window) request_host_task();
}

FrameFigures JobScheduler::frame(uint64_t budget_us) {
  const auto t0 = Clock::now();
  FrameFigures f;
  if (mode_ == MMB_JOBS_HOST && budget_us > 0) {
    // The host's tasks do this frame's work within its budget; the call reports what
    // they did since the previous call.
    {
      std::lock_guard<std::mutex> lock(jobs_mutex_);
      f = window_.done;
      window_ = HostWindow{window_.number + 1, budget_us, 0.0, false, {}};
    }
    request_host_task();
  } else if (budget_us > 0) {
    std::unique_lock<std::mutex> advance(advance_mutex_, std::try_to_lock);
    if (advance.owns_lock()) run_within_locked(t0, double(budget_us), true, f);
  }
  std::vector<std::shared_ptr<Job>> jobs;
  {
    std::lock_guard<std::mutex> lock(jobs_mutex_);
    jobs = jobs_;
  }
  for (const auto& j : jobs) f.events += uint32_t(j->deliver_events());
  {
    std::lock_guard<std::mutex> lock(jobs_mutex_);
    f.jobs_active = uint32_t(std::count_if(jobs_.begin(), jobs_.end(), [](const auto& j) { return !j->finished(); }));
  }
  f.time_us = uint64_t(micros_since(t0));
  return f;
}

}  // namespace mmb
