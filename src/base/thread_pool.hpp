// A persistent pool of worker threads for data-parallel loops. The calling thread
// works too, so a pool of n threads starts n - 1 workers. Workers spin briefly for
// new work before sleeping, which keeps per-token wake-up latency low.
//
// One loop runs at a time. A second thread calling run() while a loop is in flight
// (two sessions stepped concurrently on one runtime) runs its loop alone on its own
// thread instead of waiting: correct, and never a deadlock.
#pragma once

#include "base/function_ref.hpp"

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
  // worker is in [0, size()) and unique among concurrently running tasks, so it can
  // index per-thread scratch. Returns when all are done. Never allocates.
  // Tasks must not throw.
  void run(size_t n_tasks, FunctionRef<void(size_t task, int worker)> task);

 private:
  void worker_main(int worker);
  void work_on_current(int worker);

  int n_threads_;
  std::vector<std::thread> threads_;
  std::mutex submit_;
  // The current loop; generation_ changes when a new one is published.
  std::atomic<uint64_t> generation_{0};
  std::atomic<size_t> next_task_{0};
  std::atomic<int> busy_workers_{0};
  size_t n_tasks_ = 0;
  FunctionRef<void(size_t, int)>* task_ = nullptr;
  std::atomic<bool> stop_{false};
};

}  // namespace mmb
