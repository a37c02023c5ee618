#include "fiber.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CUDA_EMU_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define CUDA_EMU_ASAN 1
#endif

#ifdef CUDA_EMU_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#if CUDA_EMU_FAST_SWITCH
// cuda_emu_switch(save, next): pushes what the SysV ABI makes the callee preserve (rbp,
// rbx, r12-r15, MXCSR and the x87 control word), stores the stack pointer in *save,
// loads next and pops the same from there. A fresh fiber's stack is laid out as if it
// had switched out (Fiber::start), its return address cuda_emu_fiber_begin, which
// calls r13(r12) on an aligned stack.
extern "C" void cuda_emu_switch(void** save, void* next);
extern "C" void cuda_emu_fiber_begin();
asm(R"(
  .text
  .p2align 4
  .globl cuda_emu_switch
  .hidden cuda_emu_switch
  .type cuda_emu_switch, @function
cuda_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size cuda_emu_switch, .-cuda_emu_switch

  .p2align 4
  .globl cuda_emu_fiber_begin
  .hidden cuda_emu_fiber_begin
  .type cuda_emu_fiber_begin, @function
cuda_emu_fiber_begin:
  movq %r12, %rdi
  andq $-16, %rsp
  xorl %ebp, %ebp
  callq *%r13
  ud2
  .size cuda_emu_fiber_begin, .-cuda_emu_fiber_begin
)");
#endif

namespace cuda_emu {

Fiber::Fiber() : stack_(new char[kStackBytes]) {}
Fiber::~Fiber() = default;

void Fiber::start(const std::function<void()>* body) {
  body_ = body;
#ifdef CUDA_EMU_ASAN
  // A fiber dropped mid-run (after an error) leaves its frames' poison behind; one that
  // returned has unpoisoned its frames itself.
  if (!finished_) __asan_unpoison_memory_region(stack_.get(), kStackBytes);
#endif
  finished_ = false;
#if CUDA_EMU_FAST_SWITCH
  // What cuda_emu_switch pops, from the lowest address: the control words (the
  // scheduler's current ones), r15, r14, r13 (the entry), r12 (this), rbx, rbp, and
  // the return address.
  uint64_t* top = reinterpret_cast<uint64_t*>(
      (reinterpret_cast<uintptr_t>(stack_.get() + kStackBytes) & ~uintptr_t(15)) - 16);
  uint64_t* sp = top - 8;
  uint32_t control[2];
  asm volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(control[0]), "=m"(control[1]));
  sp[0] = uint64_t(control[0]) | uint64_t(control[1] & 0xffff) << 32;
  sp[1] = 0;  // r15
  sp[2] = 0;  // r14
  sp[3] = reinterpret_cast<uint64_t>(&Fiber::entry);  // r13
  sp[4] = reinterpret_cast<uint64_t>(this);           // r12
  sp[5] = 0;                                          // rbx
  sp[6] = 0;                                          // rbp
  sp[7] = reinterpret_cast<uint64_t>(&cuda_emu_fiber_begin);
  sp_ = sp;
#else
  getcontext(&context_);
  context_.uc_stack.ss_sp = stack_.get();
  context_.uc_stack.ss_size = kStackBytes;
  context_.uc_link = nullptr;
  const uintptr_t self = reinterpret_cast<uintptr_t>(this);
  makecontext(&context_, reinterpret_cast<void (*)()>(&Fiber::entry_parts), 2, unsigned(self & 0xffffffffu),
              unsigned(self >> 32));
#endif
}

void Fiber::resume() {
#ifdef CUDA_EMU_ASAN
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, stack_.get(), kStackBytes);
#endif
#if CUDA_EMU_FAST_SWITCH
  cuda_emu_switch(&scheduler_sp_, sp_);
#else
  swapcontext(&scheduler_, &context_);
#endif
#ifdef CUDA_EMU_ASAN
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
}

void Fiber::switch_out(bool dying) {
#ifdef CUDA_EMU_ASAN
  __sanitizer_start_switch_fiber(dying ? nullptr : &fake_stack_, scheduler_stack_, scheduler_stack_size_);
#endif
#if CUDA_EMU_FAST_SWITCH
  cuda_emu_switch(&sp_, scheduler_sp_);
#else
  swapcontext(&context_, &scheduler_);
#endif
#ifdef CUDA_EMU_ASAN
  __sanitizer_finish_switch_fiber(fake_stack_, &scheduler_stack_, &scheduler_stack_size_);
#endif
}

void Fiber::yield() { switch_out(false); }

#if !CUDA_EMU_FAST_SWITCH
void Fiber::entry_parts(unsigned lo, unsigned hi) {
  entry(reinterpret_cast<Fiber*>(uintptr_t(lo) | (uintptr_t(hi) << 32)));
}
#endif

void Fiber::entry(Fiber* self) {
#ifdef CUDA_EMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &self->scheduler_stack_, &self->scheduler_stack_size_);
#endif
  (*self->body_)();
  self->finished_ = true;
  self->switch_out(true);
  std::fprintf(stderr, "cuda-emu: a finished fiber was resumed\n");
  std::abort();
}

}  // namespace cuda_emu
