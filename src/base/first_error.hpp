// Collects the failure of parallel tasks (which must not throw across a thread pool):
// each task catches and records; the caller rethrows once all are done. When several
// fail, the one with the lowest index wins, so the reported error does not depend on
// thread timing more than it must.
#pragma once

#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>

namespace mmb {

class FirstError {
 public:
  // Call from a catch block.
  void record(size_t index) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!error_ || index < index_) {
      error_ = std::current_exception();
      index_ = index;
    }
    failed_.store(true, std::memory_order_relaxed);
  }
  // Lets remaining tasks skip their work once one has failed.
  bool failed() const { return failed_.load(std::memory_order_relaxed); }
  void rethrow() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::mutex mutex_;
  std::exception_ptr error_;
  size_t index_ = 0;
  std::atomic<bool> failed_{false};
};

}  // namespace mmb
