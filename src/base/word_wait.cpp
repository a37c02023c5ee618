// POSIX; Windows: word_wait_windows.cpp.
#ifndef _WIN32
#include "base/word_wait.hpp"

namespace mmb {

void WordWaiter::wait_while_equal(const std::atomic<uint64_t>& word, uint64_t old) {
  while (word.load(std::memory_order_acquire) == old) word.wait(old, std::memory_order_acquire);
}

void WordWaiter::wake_all(std::atomic<uint64_t>& word) { word.notify_all(); }

}  // namespace mmb
#endif
