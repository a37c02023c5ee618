#ifdef _WIN32
#include "base/word_wait.hpp"

#define WIN32_LEAN_AND_MEAN
#include <windows.h>

namespace mmb {

namespace {
static_assert(sizeof(SRWLOCK) == sizeof(void*) && sizeof(CONDITION_VARIABLE) == sizeof(void*),
              "one pointer each, zero-initialised (SRWLOCK_INIT, CONDITION_VARIABLE_INIT)");
SRWLOCK* srw(void*& p) { return reinterpret_cast<SRWLOCK*>(&p); }
CONDITION_VARIABLE* condition(void*& p) { return reinterpret_cast<CONDITION_VARIABLE*>(&p); }
}  // namespace

void WordWaiter::wait_while_equal(const std::atomic<uint64_t>& word, uint64_t old) {
  AcquireSRWLockExclusive(srw(lock_));
  // The value is read under the lock that wake_all() takes before waking: a change
  // made before then is seen here, one made after finds this thread asleep.
  while (word.load(std::memory_order_acquire) == old) SleepConditionVariableSRW(condition(condition_), srw(lock_), INFINITE, 0);
  ReleaseSRWLockExclusive(srw(lock_));
}

void WordWaiter::wake_all(std::atomic<uint64_t>&) {
  AcquireSRWLockExclusive(srw(lock_));
  ReleaseSRWLockExclusive(srw(lock_));
  WakeAllConditionVariable(condition(condition_));
}

}  // namespace mmb
#endif
