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

namespace cuda_emu {

Fiber::Fiber() : stack_(new char[kStackBytes]) {}
Fiber::~Fiber() = default;

void Fiber::start(std::function<void()> body) {
  body_ = std::move(body);
  finished_ = false;
#ifdef CUDA_EMU_ASAN
  // A fiber dropped mid-run (after an error) or ended leaves its frames' poison behind.
  __asan_unpoison_memory_region(stack_.get(), kStackBytes);
#endif
  getcontext(&context_);
  context_.uc_stack.ss_sp = stack_.get();
  context_.uc_stack.ss_size = kStackBytes;
  context_.uc_link = nullptr;
  const uintptr_t self = reinterpret_cast<uintptr_t>(this);
  makecontext(&context_, reinterpret_cast<void (*)()>(&Fiber::entry), 2, unsigned(self & 0xffffffffu),
              unsigned(self >> 32));
}

void Fiber::resume() {
#ifdef CUDA_EMU_ASAN
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, stack_.get(), kStackBytes);
#endif
  swapcontext(&scheduler_, &context_);
#ifdef CUDA_EMU_ASAN
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
}

void Fiber::switch_out(bool dying) {
#ifdef CUDA_EMU_ASAN
  __sanitizer_start_switch_fiber(dying ? nullptr : &fake_stack_, scheduler_stack_, scheduler_stack_size_);
#endif
  swapcontext(&context_, &scheduler_);
#ifdef CUDA_EMU_ASAN
  __sanitizer_finish_switch_fiber(fake_stack_, &scheduler_stack_, &scheduler_stack_size_);
#endif
}

void Fiber::yield() { switch_out(false); }

void Fiber::entry(unsigned lo, unsigned hi) {
  Fiber* self = reinterpret_cast<Fiber*>(uintptr_t(lo) | (uintptr_t(hi) << 32));
#ifdef CUDA_EMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &self->scheduler_stack_, &self->scheduler_stack_size_);
#endif
  self->body_();
  self->finished_ = true;
  self->switch_out(true);
  std::fprintf(stderr, "cuda-emu: a finished fiber was resumed\n");
  std::abort();
}

}  // namespace cuda_emu
