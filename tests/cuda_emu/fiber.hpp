// A cooperative fiber on its own stack (ucontext), annotated for AddressSanitizer so
// that switching stacks is not mistaken for stack corruption. One per emulated thread
// of a block; stacks are reused from block to block.
#pragma once

#include <ucontext.h>

#include <cstddef>
#include <functional>
#include <memory>

namespace cuda_emu {

class Fiber {
 public:
  static constexpr size_t kStackBytes = size_t(64) << 10;
  Fiber();
  ~Fiber();
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;

  // Prepares the fiber to run body from its start (what it held before is dropped).
  void start(std::function<void()> body);
  // From the scheduler: runs the fiber until it yields or finishes.
  void resume();
  // From inside the fiber: back to the scheduler.
  void yield();
  bool finished() const { return finished_; }
  const char* stack_lo() const { return stack_.get(); }
  const char* stack_hi() const { return stack_.get() + kStackBytes; }

 private:
  static void entry(unsigned lo, unsigned hi);
  void switch_out(bool dying);

  std::unique_ptr<char[]> stack_;
  ucontext_t context_{}, scheduler_{};
  std::function<void()> body_;
  bool finished_ = true;
  void* fake_stack_ = nullptr;
  const void* scheduler_stack_ = nullptr;
  size_t scheduler_stack_size_ = 0;
};

}  // namespace cuda_emu
