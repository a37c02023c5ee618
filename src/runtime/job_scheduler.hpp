// Moves a runtime's jobs forward, one unit at a time: the oldest job still in its
// prompt consumes one prompt chunk, and every generating job samples one token; the
// sampled tokens of all generating jobs of a model then go through one batched step. One thread advances at a time (the
// advance lock): the runtime's worker thread, a task on the host's job system, or
// the host's own frame or wait call, as mmb_runtime_options.job_mode says.
//
// Sessions are pinned in memory (SessionPager) only while a unit runs on them; a job
// whose session cannot be made resident waits, queued, for a later unit.
#pragma once

#include "runtime/job.hpp"
#include "runtime/session_pager.hpp"

#include <moemamba/moemamba.h>

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace mmb {

struct FrameFigures {
  uint32_t steps = 0;
  uint64_t tokens_generated = 0;
  uint64_t prompt_tokens = 0;
  uint64_t time_us = 0;
  uint32_t jobs_active = 0;
  uint32_t jobs_finished = 0;
  uint32_t events = 0;
};

class JobScheduler : public std::enable_shared_from_this<JobScheduler> {
 public:
  JobScheduler(int32_t mode, mmb_run_task_fn run_task, void* run_task_user, std::shared_ptr<SessionPager> pager);
  ~JobScheduler();
  JobScheduler(const JobScheduler&) = delete;
  JobScheduler& operator=(const JobScheduler&) = delete;

  int32_t mode() const { return mode_; }
  void submit(const std::shared_ptr<Job>& job);
  // Flags the job; finishes it at once when no thread is advancing jobs.
  void cancel(Job& job);
  // Finishes the job (cancelled) if it runs and lets go of its session; returns once
  // no thread uses the session for it. The job's events stay deliverable.
  void detach_session(Job& job);
  // detach_session(), then forgets the job (its handle is going away).
  void remove(Job& job);
  // Blocks until the job finishes or the timeout passes; returns job.finished().
  bool wait(Job& job, uint32_t timeout_ms);
  // mmb_runtime_frame(): units while the budget allows, then every pending event.
  FrameFigures frame(uint64_t budget_us);
  // Stops the worker thread (the runtime is going away).
  void stop();

 private:
  struct Unit {
    uint64_t tokens = 0, prompt_tokens = 0;
    uint32_t finished = 0;
    bool progressed = false;
  };
  // One unit over every unfinished job; the caller holds advance_mutex_.
  Unit advance_locked();
  bool has_active_locked() const;
  void worker_main();
  void request_host_task();
  static void host_task(void* self);

  const int32_t mode_;
  const mmb_run_task_fn run_task_;
  void* const run_task_user_;
  const std::shared_ptr<SessionPager> pager_;

  std::mutex advance_mutex_;          // one advancing thread at a time
  std::vector<float> batch_logits_;   // advancing side: rows of a batched step
  double unit_estimate_us_ = 0;       // advancing side: a decaying maximum of unit times

  mutable std::mutex jobs_mutex_;     // guards the members below
  std::condition_variable work_cv_;
  std::vector<std::shared_ptr<Job>> jobs_;  // every job with a live handle
  bool stopping_ = false;
  bool host_task_pending_ = false;
  std::thread worker_;
};

}  // namespace mmb
