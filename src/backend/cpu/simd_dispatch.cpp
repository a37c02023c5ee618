#include "backend/cpu/simd_dispatch.hpp"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace mmb::cpu {
namespace {

KernelPath best_path() {
  KernelPath cap = KernelPath::AVX512;
  if (const char* env = std::getenv("MMB_CPU_KERNELS")) {
    if (std::strcmp(env, "portable") == 0) cap = KernelPath::Portable;
    else if (std::strcmp(env, "avx2") == 0) cap = KernelPath::AVX2;
  }
  for (KernelPath p : {KernelPath::AVX512, KernelPath::AVX2})
    if (p <= cap && kernel_path_supported(p)) return p;
  return KernelPath::Portable;
}

std::atomic<KernelPath>& current() {
  static std::atomic<KernelPath> path{best_path()};
  return path;
}

}  // namespace

bool kernel_path_supported(KernelPath path) {
  switch (path) {
    case KernelPath::Portable: return true;
    case KernelPath::AVX2:
#if MMB_HAVE_AVX2_PATH
      return cpu_has_avx2_f16c();
#else
      return false;
#endif
    case KernelPath::AVX512:
#if MMB_HAVE_AVX2_PATH
      return cpu_has_avx2_f16c() && __builtin_cpu_supports("avx512f");
#else
      return false;
#endif
  }
  return false;
}

KernelPath kernel_path() { return current().load(std::memory_order_relaxed); }

KernelPath set_kernel_path(KernelPath path) {
  return current().exchange(kernel_path_supported(path) ? path : KernelPath::Portable, std::memory_order_relaxed);
}

}  // namespace mmb::cpu
