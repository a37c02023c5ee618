#include "runtime/job_scheduler.hpp"

#include "base/error.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <exception>
#include <new>

namespace mmb {

namespace {

using Clock = std::chrono::steady_clock;

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

struct Step {
  Job* job;
  int32_t token;
  bool last;
};

}  // namespace

JobScheduler::JobScheduler(int32_t mode, mmb_run_task_fn run_task, void* run_task_user, std::shared_ptr<SessionPager> pager)
    : mode_(mode), run_task_(run_task), run_task_user_(run_task_user), pager_(std::move(pager)) {}

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
  std::unique_lock<std::mutex> advance(advance_mutex_, std::try_to_lock);
  if (advance.owns_lock()) job.finish(MMB_ERR_CANCELLED);
  // Otherwise the thread advancing now sees the flag at its next unit.
  work_cv_.notify_all();
}

void JobScheduler::detach_session(Job& job) {
  std::lock_guard<std::mutex> advance(advance_mutex_);
  job.request_cancel();
  job.finish(MMB_ERR_CANCELLED);
  job.detach_session();
}

void JobScheduler::remove(Job& job) {
  detach_session(job);
  job.mark_removed();
  std::lock_guard<std::mutex> lock(jobs_mutex_);
  jobs_.erase(std::remove_if(jobs_.begin(), jobs_.end(), [&](const auto& j) { return j.get() == &job; }), jobs_.end());
}

JobScheduler::Unit JobScheduler::advance_locked() {
  std::vector<std::shared_ptr<Job>> work;
  {
    std::lock_guard<std::mutex> lock(jobs_mutex_);
    for (const auto& j : jobs_)
      if (!j->finished()) work.push_back(j);
  }
  Unit unit;
  std::vector<Session*> pinned;
  std::vector<Step> steps;
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
    pinned.push_back(session);
    unit.progressed = true;
    try {
      if (job->in_prompt()) {
        prefilled = true;
        unit.prompt_tokens += job->prefill_chunk();
        if (!job->in_prompt() && job->state() != MMB_JOB_GENERATING) {
          job->finish(MMB_OK);
          ++unit.finished;
        }
        continue;
      }
      bool last = false;
      const int32_t token = job->sample_next(&last);
      if (token < 0) {
        job->finish(MMB_OK);  // EOS
        ++unit.finished;
        continue;
      }
      ++unit.tokens;
      steps.push_back({job.get(), token, last});
    } catch (...) {
      fail_job(*job, std::current_exception());
      ++unit.finished;
    }
  }

  // One batched step per model over the tokens just sampled.
  while (!steps.empty()) {
    const Model* model = &steps.front().job->session()->model();
    auto same_model = [&](const Step& s) { return &s.job->session()->model() == model; };
    auto split = std::stable_partition(steps.begin(), steps.end(), same_model);
    std::vector<Step> group(steps.begin(), split);
    steps.erase(steps.begin(), split);
    const size_t vocab = model->config().vocab_size;
    std::vector<Session*> sessions;
    std::vector<int32_t> tokens;
    for (const Step& s : group) sessions.push_back(s.job->session()), tokens.push_back(s.token);
    try {
      if (batch_logits_.size() < group.size() * vocab) batch_logits_.resize(group.size() * vocab);
      Session::step_batch(sessions.data(), tokens.data(), group.size(), batch_logits_.data(), vocab);
      for (size_t i = 0; i < group.size(); ++i) {
        std::memcpy(group[i].job->logits(), batch_logits_.data() + i * vocab, vocab * sizeof(float));
        if (group[i].last) {
          group[i].job->finish(MMB_OK);
          ++unit.finished;
        }
      }
    } catch (...) {
      for (const Step& s : group) fail_job(*s.job, std::current_exception()), ++unit.finished;
    }
  }
  for (Session* s : pinned) pager_->unpin(s);
  return unit;
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

void JobScheduler::host_task(void* data) {
  std::unique_ptr<std::shared_ptr<JobScheduler>> holder(static_cast<std::shared_ptr<JobScheduler>*>(data));
  JobScheduler& s = **holder;
  for (;;) {
    Unit unit;
    {
      std::lock_guard<std::mutex> advance(s.advance_mutex_);
      unit = s.advance_locked();
    }
    {
      std::lock_guard<std::mutex> lock(s.jobs_mutex_);
      if (!s.has_active_locked()) {
        s.host_task_pending_ = false;
        return;
      }
    }
    if (!unit.progressed) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

bool JobScheduler::wait(Job& job, uint32_t timeout_ms) {
  if (mode_ != MMB_JOBS_FRAME) return job.wait_finished(timeout_ms);
  // Nobody else advances jobs in frame mode: the waiting thread does the work.
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!job.finished() && Clock::now() < deadline) {
    Unit unit;
    {
      std::lock_guard<std::mutex> advance(advance_mutex_);
      unit = advance_locked();
    }
    if (!unit.progressed) job.wait_finished(1);
  }
  return job.finished();
}

FrameFigures JobScheduler::frame(uint64_t budget_us) {
  const auto t0 = Clock::now();
  FrameFigures f;
  if (budget_us > 0) {
    std::unique_lock<std::mutex> advance(advance_mutex_, std::try_to_lock);
    while (advance.owns_lock()) {
      const double used = micros_since(t0);
      // The first unit always runs, so a budget below one unit still makes progress.
      if (f.steps > 0 && used + unit_estimate_us_ > double(budget_us)) break;
      const auto u0 = Clock::now();
      Unit unit = advance_locked();
      if (!unit.progressed) break;
      const double took = micros_since(u0);
      unit_estimate_us_ = std::max(took, unit_estimate_us_ * 0.9);
      ++f.steps;
      f.tokens_generated += unit.tokens;
      f.prompt_tokens += unit.prompt_tokens;
      f.jobs_finished += unit.finished;
    }
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
