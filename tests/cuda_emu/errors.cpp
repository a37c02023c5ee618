// Errors of the program under test, and the seeds that make a failing run repeatable.
#include "emulator.hpp"

#include <cstdio>
#include <cstdlib>

namespace cuda_emu {

namespace {

ErrorHandler handler;
uint64_t launches = 0;

uint64_t base_seed() {
  static const uint64_t seed = [] {
    const char* s = std::getenv("MMB_CUDA_EMU_SEED");
    return s ? std::strtoull(s, nullptr, 10) : 1;
  }();
  return seed;
}

}  // namespace

ErrorHandler set_error_handler(ErrorHandler h) {
  std::swap(handler, h);
  return h;
}

uint64_t launch_seed() {
  // splitmix64 of (base seed, launch number)
  uint64_t z = base_seed() * 0x9e3779b97f4a7c15ull + ++launches;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void report(const std::string& message) {
  if (handler) return handler(message);
  std::fprintf(stderr, "cuda-emu error: %s [MMB_CUDA_EMU_SEED=%llu, launch %llu]\n", message.c_str(),
               static_cast<unsigned long long>(base_seed()), static_cast<unsigned long long>(launches));
  std::abort();
}

}  // namespace cuda_emu
