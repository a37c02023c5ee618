// Allocation-failure injection through the runtime's allocator hooks: a host heap that
// fails the Nth hook allocation it is armed for, and a loop that runs an operation with
// each of its hook allocations failing in turn.
#pragma once

#include "support/model_harness.hpp"

#include <moemamba/moemamba.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <unordered_map>

namespace mmb::testing {

// Counts every hook allocation, fails the one numbered fail_at, and knows which blocks
// are outstanding (a block freed with the wrong size, or freed twice, is counted as a
// misuse).
class FailingHeap {
 public:
  // The nth hook allocation from now fails.
  void arm(uint64_t nth);
  // Stops failing; true when the armed allocation was reached.
  bool disarm();
  size_t outstanding();
  size_t misuses();

  static void* alloc(void* user, size_t size, size_t alignment);
  static void release(void* user, void* ptr, size_t size);

 private:
  std::mutex mutex_;
  std::unordered_map<void*, size_t> live_;
  uint64_t calls_ = 0, fail_at_ = 0;
  bool failed_ = false;
  size_t misuses_ = 0;
};

// A two-thread CPU runtime whose allocator hooks are `heap`'s.
RuntimePtr runtime_on(FailingHeap& heap);

// Runs `op` with the Nth hook allocation failing for N = 1, 2, ... Each failing run must
// return MMB_ERR_OUT_OF_MEMORY and leave the heap as before; `after_failure` then checks
// the objects involved. Returns the injection points exercised; `op` is last run with no
// failure reached and must then succeed.
size_t inject_each(FailingHeap& heap, const std::function<mmb_status()>& op, const std::function<void()>& after_failure);

}  // namespace mmb::testing
