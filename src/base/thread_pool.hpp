// A persistent pool of worker threads for data-parallel loops. The calling thread
// works too, so a pool of n threads starts n - 1 workers. Workers spin briefly for
// new work before sleeping, which keeps per-token wake-up latency low; they sleep
// bound to their CPU (SleepBinding), so that a wake-up brings each back to its own.
//
// Tasks are claimed one at a time from a single atomic word holding the loop's
// generation, its task count and the next task index, so a worker that wakes late
// (descheduled on a busy machine) can never claim a task of a loop that has moved on,
// and the caller never waits for workers that took no task: it waits only for claimed
// tasks to end.
//
// One loop runs at a time. A second thread calling run() while a loop is in flight
// (two sessions stepped concurrently on one runtime) runs its loop alone on its own
// thread instead of waiting: correct, and never a deadlock.
#pragma once

#include "base/function_ref.hpp"
#include "base/word_wait.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace mmb {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);  // n_threads >= 1, the caller included
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls task(i, worker) for every i in [0, n_tasks), spread over the threads;
  // worker is in [0, size()) and unique among concurrently running tasks of this
  // loop. Returns when all are done. Never allocates. Tasks must not throw.
  // A loop of more than 2^18 - 1 tasks runs on the calling thread alone.
  void run(size_t n_tasks, FunctionRef<void(size_t task, int worker)> task);

 private:
  void worker_main(int worker);
  // Claims and runs tasks of loop `generation` until none are left.
  void work_on(uint32_t generation, int worker);

  int n_threads_;
  std::vector<std::thread> threads_;
  std::mutex submit_;
  // The current loop's generation, task count and next task index (thread_pool.cpp).
  std::atomic<uint64_t> claim_{0};
  std::atomic<FunctionRef<void(size_t, int)>*> task_{nullptr};
  std::atomic<size_t> done_{0};
  std::atomic<bool> stop_{false};
  std::atomic<int> caller_cpu_{-1};  // where the last loop's caller ran: workers sleep apart from it
  WordWaiter sleepers_;  // workers sleeping until claim_ changes
};

}  // namespace mmb
