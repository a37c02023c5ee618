#include "base/thread_pool.hpp"

#include "base/sleep_binding.hpp"

namespace mmb {

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// The claim word: the loop's generation (high 28 bits), its task count (18 bits) and
// the next task index (low 18 bits). Holding the count in the same word as the index
// means one compare-and-swap checks both against the same loop: a worker that read
// the word of a finished loop cannot claim a task past its end, nor pair an old index
// with the next loop's count and task.
constexpr int kCountShift = 18, kGenerationShift = 36;
constexpr uint64_t kFieldMask = (uint64_t(1) << 18) - 1;
constexpr uint32_t kGenerationMask = (uint32_t(1) << 28) - 1;
inline uint32_t generation_of(uint64_t claim) { return uint32_t(claim >> kGenerationShift); }
inline uint32_t count_of(uint64_t claim) { return uint32_t((claim >> kCountShift) & kFieldMask); }
inline uint32_t index_of(uint64_t claim) { return uint32_t(claim & kFieldMask); }

}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads < 1 ? 1 : n_threads) {
  threads_.reserve(size_t(n_threads_ - 1));
  for (int w = 1; w < n_threads_; ++w) threads_.emplace_back([this, w] { worker_main(w); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  // A new generation (of no tasks) wakes every worker.
  const uint32_t generation = (generation_of(claim_.load()) + 1) & kGenerationMask;
  claim_.store(uint64_t(generation) << kGenerationShift);
  sleepers_.wake_all(claim_);
  for (auto& t : threads_) t.join();
}

void ThreadPool::work_on(uint32_t generation, int worker) {
  uint64_t claim = claim_.load(std::memory_order_acquire);
  for (;;) {
    if (generation_of(claim) != generation) return;
    if (index_of(claim) >= count_of(claim)) return;
    // The generation is part of the word, so a claim from a finished loop fails.
    if (!claim_.compare_exchange_weak(claim, claim + 1, std::memory_order_acq_rel, std::memory_order_acquire))
      continue;
    (*task_.load(std::memory_order_acquire))(index_of(claim), worker);
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
    if (generation_of(claim) == seen) {
      const SleepBinding bound(caller_cpu_.load(std::memory_order_relaxed));
      while (generation_of(claim) == seen) {
        sleepers_.wait_while_equal(claim_, claim);
        claim = claim_.load(std::memory_order_acquire);
      }
    }
    seen = generation_of(claim);
    if (stop_.load()) return;
    work_on(seen, worker);
  }
}

void ThreadPool::run(size_t n_tasks, FunctionRef<void(size_t, int)> task) {
  if (n_tasks == 0) return;
  std::unique_lock<std::mutex> lock(submit_, std::try_to_lock);
  if (n_threads_ == 1 || n_tasks == 1 || !lock.owns_lock() || n_tasks > kFieldMask) {
    for (size_t i = 0; i < n_tasks; ++i) task(i, 0);
    return;
  }
  // Read once a loop: a vDSO call or glibc's rseq field on current Linux (3.6 ns here).
  caller_cpu_.store(current_cpu(), std::memory_order_relaxed);
  task_.store(&task, std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  const uint32_t generation = (generation_of(claim_.load(std::memory_order_relaxed)) + 1) & kGenerationMask;
  claim_.store((uint64_t(generation) << kGenerationShift) | (uint64_t(n_tasks) << kCountShift),
               std::memory_order_release);
  sleepers_.wake_all(claim_);
  work_on(generation, 0);
  while (done_.load(std::memory_order_acquire) != n_tasks) cpu_relax();
}

}  // namespace mmb
