// A host job system for the tests of MMB_JOBS_HOST: `n` worker threads running, in
// order of arrival, the tasks the library hands to mmb_runtime_options.run_task.
#pragma once

#include <moemamba/moemamba.h>

#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace mmb::testing {

struct HostThreads {
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<std::pair<mmb_task_fn, void*>> tasks;
  bool stop = false;
  int enqueued = 0;
  int running = 0;  // tasks taken and not yet returned
  std::vector<std::thread> threads;
  explicit HostThreads(int n) {
    for (int i = 0; i < n; ++i) threads.emplace_back([this] { run(); });
  }
  ~HostThreads() {
    { std::lock_guard<std::mutex> l(mutex); stop = true; }
    cv.notify_all();
    for (auto& t : threads) t.join();
  }
  void run() {
    for (;;) {
      std::unique_lock<std::mutex> l(mutex);
      cv.wait(l, [&] { return stop || !tasks.empty(); });
      if (tasks.empty()) return;
      auto [fn, data] = tasks.front();
      tasks.erase(tasks.begin());
      ++running;
      l.unlock();
      fn(data);
      l.lock();
      --running;
      cv.notify_all();
    }
  }
  // Blocks until no task is queued or running.
  void wait_idle() {
    std::unique_lock<std::mutex> l(mutex);
    cv.wait(l, [&] { return tasks.empty() && running == 0; });
  }
  static void enqueue(void* self, mmb_task_fn fn, void* data) {
    auto* s = static_cast<HostThreads*>(self);
    { std::lock_guard<std::mutex> l(s->mutex); s->tasks.push_back({fn, data}); ++s->enqueued; }
    s->cv.notify_all();
  }
};

}  // namespace mmb::testing
