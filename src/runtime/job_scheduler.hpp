// Moves a runtime's jobs forward, one unit at a time: the oldest job still in its
// prompt consumes one prompt chunk, and every generating job samples one token; the
// sampled tokens of all generating jobs of a model then go through one batched step.
// One thread advances at a time (the advance lock): the runtime's worker thread, a
// task on the host's job system, or the host's own frame or wait call, as
// mmb_runtime_options.job_mode says.
//
// A frame runs a unit in slices (the stages of its steps and prompt chunks,
// ModelCompute::stages()) and starts only a slice whose predicted cost (SliceCosts)
// fits what is left of its budget; the rest of the unit waits, in the sessions'
// scratch, for the next frame. A job with a half-done step or chunk stays unfinished
// (its session busy) until that work is complete, so its session is never seen in
// between; cancelling or detaching it completes the unit first. With MMB_JOBS_HOST,
// once the host calls frame(), the frame's budget goes to the host's tasks instead
// (a window: the tasks between two frame calls share one budget, slice by slice).
// Every other caller (worker, unpaced host task, wait) runs units whole.
//
// Sessions are pinned in memory (SessionPager) while a step or chunk runs on them; a
// job whose session cannot be made resident waits, queued, for a later unit.
#pragma once

#include "runtime/job.hpp"
#include "runtime/session_pager.hpp"
#include "runtime/slice_costs.hpp"

#include <moemamba/moemamba.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
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
  uint32_t slices = 0;  // stages of steps and prompt chunks run

  // The counts only: time_us and jobs_active belong to the one call that reports them.
  void add(const FrameFigures& other) {
    steps += other.steps;
    tokens_generated += other.tokens_generated;
    prompt_tokens += other.prompt_tokens;
    jobs_finished += other.jobs_finished;
    events += other.events;
    slices += other.slices;
  }
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
  struct Step {
    std::shared_ptr<Job> job;
    int32_t token;
    bool last;
  };
  // A batched step of one model's sampled tokens, or one prompt chunk, run in stages.
  struct Pass {
    std::vector<Step> steps;             // a step's jobs, row by row; empty for a chunk
    std::shared_ptr<Job> chunk_job;      // a prompt chunk's job
    std::vector<Session*> sessions;      // pinned until the pass ends
    std::vector<int32_t> tokens;
    float* logits = nullptr;
    size_t next = 0;                     // the next stage to run
    size_t stages = 0;
  };
  // Begins a unit (the caller holds advance_mutex_ and no pass is left): finishes
  // cancelled jobs, samples every generating job and queues the passes. A prompt chunk
  // gets at most chunk_rows(job) tokens.
  template <typename ChunkRows>
  void plan_locked(Unit& unit, ChunkRows chunk_rows);
  // Runs stages [next, last) of the first pass, and ends it after its last stage.
  void run_slice_locked(size_t last, Unit& unit);
  void end_pass_locked(Pass& pass, Unit& unit);
  // Runs what is left of the unit under way, or else one whole unit.
  Unit advance_locked();
  // Plans units and runs slices while each one's predicted cost fits `budget_us`
  // counted from t0 (the first regardless, when `first_always`); adds to f. Returns
  // whether anything ran.
  bool run_within_locked(std::chrono::steady_clock::time_point t0, double budget_us, bool first_always,
                         FrameFigures& f);
  // A host task of a paced frame window: slices within what is left of its budget.
  void run_host_window_task();
  bool paced() const;
  // Runs what is left of the unit under way (a cancel or detach of a job in it).
  void finish_unit_locked();
  // The largest prompt chunk whose every stage is predicted to fit half the budget.
  size_t chunk_rows_for(const Job& job, uint64_t budget_us) const;
  static SliceKey key_of(const Pass& pass);
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
  std::deque<Pass> passes_;           // advancing side: the unit under way, in order
  SliceCosts costs_;                  // advancing side

  mutable std::mutex jobs_mutex_;     // guards the members below
  std::condition_variable work_cv_;
  std::vector<std::shared_ptr<Job>> jobs_;  // every job with a live handle
  bool stopping_ = false;
  bool host_task_pending_ = false;
  // MMB_JOBS_HOST after the first frame call with a budget: that call's budget, what
  // the tasks since spent of it, and what they did (the next frame call reports it).
  struct HostWindow {
    uint64_t number = 0;  // frame calls so far
    uint64_t budget_us = 0;
    double spent_us = 0;
    bool ran = false;  // a slice ran in this window (its first one runs regardless)
    FrameFigures done;
  };
  HostWindow window_;
  std::thread worker_;
};

}  // namespace mmb
