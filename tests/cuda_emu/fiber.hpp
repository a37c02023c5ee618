// A cooperative fiber on its own stack, annotated for AddressSanitizer so that
// switching stacks is not mistaken for stack corruption. One per emulated thread of a
// block; stacks are reused from block to block.
//
// On x86-64 a switch is a dozen instructions (fiber.cpp): the callee-saved registers,
// the stack pointer and the floating-point control words, as the ABI requires across a
// call. ucontext's swapcontext, the fallback elsewhere, also saves and restores the
// signal mask: a system call per switch, which dominated the emulated runs.
#pragma once

// CUDA_EMU_UCONTEXT forces the fallback (to test it on x86-64).
#if defined(__x86_64__) && !defined(CUDA_EMU_UCONTEXT)
#define CUDA_EMU_FAST_SWITCH 1
#else
#define CUDA_EMU_FAST_SWITCH 0
#endif

#if !CUDA_EMU_FAST_SWITCH
#include <ucontext.h>
#endif

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
  // body must outlive the run: the fiber keeps a pointer to it.
  void start(const std::function<void()>* body);
  // From the scheduler: runs the fiber until it yields or finishes.
  void resume();
  // From inside the fiber: back to the scheduler.
  void yield();
  bool finished() const { return finished_; }
  const char* stack_lo() const { return stack_.get(); }
  const char* stack_hi() const { return stack_.get() + kStackBytes; }

 private:
  static void entry(Fiber* self);
  void switch_out(bool dying);

  std::unique_ptr<char[]> stack_;
#if CUDA_EMU_FAST_SWITCH
  void* sp_ = nullptr;            // the fiber's saved stack pointer while it is switched out
  void* scheduler_sp_ = nullptr;  // the scheduler's while the fiber runs
#else
  static void entry_parts(unsigned lo, unsigned hi);
  ucontext_t context_{}, scheduler_{};
#endif
  const std::function<void()>* body_ = nullptr;
  bool finished_ = true;
  void* fake_stack_ = nullptr;
  const void* scheduler_stack_ = nullptr;
  size_t scheduler_stack_size_ = 0;
};

}  // namespace cuda_emu
