#include "base/thread_pool.hpp"

namespace mmb {

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

inline uint32_t generation_of(uint64_t claim) { return uint32_t(claim >> 32); }

}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads < 1 ? 1 : n_threads) {
  threads_.reserve(size_t(n_threads_ - 1));
  for (int w = 1; w < n_threads_; ++w) threads_.emplace_back([this, w] { worker_main(w); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  claim_.fetch_add(uint64_t(1) << 32);  // a new generation wakes every worker
  claim_.notify_all();
  for (auto& t : threads_) t.join();
}

void ThreadPool::work_on(uint32_t generation, int worker) {
  uint64_t claim = claim_.load(std::memory_order_acquire);
  for (;;) {
    if (generation_of(claim) != generation) return;
    const uint32_t index = uint32_t(claim);
    if (index >= n_tasks_.load(std::memory_order_acquire)) return;
    // The generation is part of the word, so a claim from a finished loop fails.
    if (!claim_.compare_exchange_weak(claim, claim + 1, std::memory_order_acq_rel, std::memory_order_acquire))
      continue;
    (*task_.load(std::memory_order_acquire))(index, worker);
    done_.fetch_add(1, std::memory_order_acq_rel);
    claim = claim_.load(std::memory_order_acquire);
  }
}

void ThreadPool::worker_main(int worker) {
  uint32_t seen = 0;
  for (;;) {
    // Spin a little (during decode the next loop usually comes within microseconds),
    // then sleep until the generation changes.
    uint64_t claim = claim_.load(std::memory_order_acquire);
    for (int spin = 0; generation_of(claim) == seen && spin < 20000; ++spin) {
      cpu_relax();
      claim = claim_.load(std::memory_order_acquire);
    }
    while (generation_of(claim) == seen) {
      claim_.wait(claim, std::memory_order_acquire);
      claim = claim_.load(std::memory_order_acquire);
    }
    seen = generation_of(claim);
    if (stop_.load()) return;
    work_on(seen, worker);
  }
}

void ThreadPool::run(size_t n_tasks, FunctionRef<void(size_t, int)> task) {
  if (n_tasks == 0) return;
  std::unique_lock<std::mutex> lock(submit_, std::try_to_lock);
  if (n_threads_ == 1 || n_tasks == 1 || !lock.owns_lock() || n_tasks >= UINT32_MAX) {
    for (size_t i = 0; i < n_tasks; ++i) task(i, 0);
    return;
  }
  task_.store(&task, std::memory_order_relaxed);
  n_tasks_.store(uint32_t(n_tasks), std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  const uint32_t generation = generation_of(claim_.load(std::memory_order_relaxed)) + 1;
  claim_.store(uint64_t(generation) << 32, std::memory_order_release);
  claim_.notify_all();
  work_on(generation, 0);
  while (done_.load(std::memory_order_acquire) != n_tasks) cpu_relax();
}

}  // namespace mmb
