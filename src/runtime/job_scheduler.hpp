// Moves a runtime's jobs forward, one unit at a time: the oldest job still in its
// prompt consumes one prompt chunk, and every generating job samples one token (the
// jobs spread over the runtime's compute threads); the sampled tokens of all
// generating jobs of a model then go through one batched step.
// One thread advances at a time (the advance lock): the runtime's worker thread, a
// task on the host's job system, or the host's own frame or wait call, as
// mmb_runtime_options.job_mode says.
//
// A frame runs a unit in slices (the stages of its steps and prompt chunks,
// ModelCompute::stages()) and starts only a slice whose predicted cost (SliceCosts)
// fits what is left of its budget; the rest of the unit waits, in the sessions'
// scratch, for the next frame. A job with a half-done step or chunk stays unfinished
// (its session busy) until that work is complete, so its session is never seen in
// between. With MMB_JOBS_HOST, once the host calls frame(), the frame's budget goes to
// the host's tasks instead (a window: the tasks between two frame calls share one
// budget, slice by slice). Every other caller (worker, unpaced host task, wait) runs
// units whole, but still slice by slice, so that cancels and detaches get in between.
//
// Cancels take effect between two slices. A cancelled job's half-done prompt chunk is
// undone (its session gets back the state it had before the chunk, saved when the
// chunk was planned): the chunk's job alone owns that session, and a chunk costs as
// much as a step, so waiting for it would cost up to a unit. A batched step is never
// undone: its token was emitted, so it must enter the state, and the other rows share
// its slices. A job in one finishes when that step ends (at most one step, not a
// unit), not before: hosts use a session as soon as its job is finished.
//
// Sessions are pinned in memory (SessionPager) while a step or chunk runs on them; a
// job whose session cannot be made resident waits, queued, for a later unit.
#pragma once

#include "base/host_allocator.hpp"
#include "base/thread_pool.hpp"
#include "runtime/job.hpp"
#include "runtime/session_pager.hpp"
#include "runtime/slice_costs.hpp"

#include <moemamba/moemamba.h>

#include <atomic>
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
  // `pool` (the runtime's) samples the jobs' tokens: it outlives every job that samples,
  // as each job's handle keeps its session, and so the runtime, alive.
  JobScheduler(int32_t mode, mmb_run_task_fn run_task, void* run_task_user, std::shared_ptr<SessionPager> pager,
               const HostAllocator& allocator, ThreadPool& pool);
  ~JobScheduler();
  JobScheduler(const JobScheduler&) = delete;
  JobScheduler& operator=(const JobScheduler&) = delete;

  int32_t mode() const { return mode_; }
  void submit(const std::shared_ptr<Job>& job);
  // Flags the job. When no thread is advancing jobs, finishes it here: a half-done
  // prompt chunk of it is undone, a half-done batched step completed (the rest of one
  // step). Otherwise the advancing thread finishes it between its next two slices, or
  // when the batched step that holds it ends.
  void cancel(Job& job);
  // Finishes the job (cancelled) if it runs and lets go of its session; returns once
  // no thread uses the session for it: within a slice (a half-done chunk is undone),
  // or after running the rest of the batched step its session is in. The job's events
  // stay deliverable.
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
  // Runs what is left of the unit under way, or else one whole unit, slice by slice;
  // returns early, the unit left half done, when another thread waits for the advance
  // lock (lock_advance()).
  Unit advance_locked();
  // The advance lock for a thread that must not wait for a whole unit: the thread
  // advancing now lets go after its current slice.
  std::unique_lock<std::mutex> lock_advance();
  // After an advancing thread let go of the advance lock: waits until the threads that
  // asked for it (lock_advance()) have had it.
  void let_lock_waiters_in();
  // Finishes the cancelled jobs that no batched step holds: a half-done prompt chunk
  // of one is undone. Cheap when no cancel came since the last call.
  void settle_cancels_locked(Unit& unit);
  // Gives the chunk pass's session back the state it had before the chunk.
  void undo_chunk_locked(Pass& chunk);
  // Plans units and runs slices while each one's predicted cost fits `budget_us`
  // counted from t0 (the first regardless, when `first_always`); adds to f. Returns
  // whether anything ran.
  bool run_within_locked(std::chrono::steady_clock::time_point t0, double budget_us, bool first_always,
                         FrameFigures& f);
  // A host task of a paced frame window: slices within what is left of its budget.
  void run_host_window_task();
  bool paced() const;
  // Runs the passes of the unit under way up to the end of the one that holds `job`.
  void finish_pass_of_locked(const Job& job);
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
  const HostAllocator allocator_;
  ThreadPool& pool_;

  std::mutex advance_mutex_;          // one advancing thread at a time
  std::atomic<int> lock_waiters_{0};  // threads in lock_advance()
  std::atomic<bool> cancels_pending_{false};  // a cancel came since the last settle
  std::vector<float> batch_logits_;   // advancing side: rows of a batched step
  // Advancing side: the state of the unit's prompt chunk's session before the chunk
  // (a unit holds one chunk), in the host's memory like the sessions' scratch.
  HostBuffer<float> chunk_undo_;
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
