// Sleeping until a 64-bit atomic word changes, and waking every sleeper: what the
// thread pool's workers do between loops. On POSIX systems std::atomic's own wait and
// notify (a futex on Linux). On Windows a native SRW lock and condition variable:
// libstdc++'s atomic wait there runs on a table of winpthreads condition variables
// that can lose a wake-up, and a worker that misses its stop signal hangs the thread
// joining it (a runtime's destruction, at exit).
#pragma once

#include <atomic>
#include <cstdint>

namespace mmb {

class WordWaiter {
 public:
  WordWaiter() = default;
  WordWaiter(const WordWaiter&) = delete;
  WordWaiter& operator=(const WordWaiter&) = delete;

  // Returns once `word` holds another value than `old`.
  void wait_while_equal(const std::atomic<uint64_t>& word, uint64_t old);
  // Wakes every thread in wait_while_equal() on `word`; call after changing it.
  void wake_all(std::atomic<uint64_t>& word);

 private:
  // Windows: an SRWLOCK and a CONDITION_VARIABLE (one pointer each, zero when fresh).
  void* lock_ = nullptr;
  void* condition_ = nullptr;
};

}  // namespace mmb
