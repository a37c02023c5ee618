#include "backend/cpu/simd_dispatch.hpp"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

namespace mmb::cpu {
namespace {

std::atomic<KernelPath>& current() {
  static std::atomic<KernelPath> path{choose_kernel_path(std::getenv("MMB_CPU_KERNELS"))};
  return path;
}

}  // namespace

KernelPath choose_kernel_path(const char* requested) {
  if (requested)
    for (KernelPath p : kAllKernelPaths)
      if (std::strcmp(requested, kernel_path_name(p)) == 0) return kernel_path_supported(p) ? p : KernelPath::Portable;
  // At most one of the x86 and arm paths is ever supported: best first.
  for (KernelPath p : {KernelPath::AVX512, KernelPath::AVX2, KernelPath::NEON})
    if (kernel_path_supported(p)) return p;
  return KernelPath::Portable;
}

bool vnni_allowed() {
  static const bool allowed = [] {
    const char* v = std::getenv("MMB_CPU_VNNI");
    return !(v && std::strcmp(v, "0") == 0);
  }();
  return allowed;
}

#if MMB_HAVE_AVX2_PATH
bool cpu_has_avx512_vnni() {
  static const bool has = [] {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    return vnni_allowed() && __get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) != 0 && (ecx & (1u << 11)) != 0 &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
  }();
  return has;
}

bool cpu_has_avx_vnni() {
  static const bool has = [] {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    return vnni_allowed() && __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) != 0 && (eax & (1u << 4)) != 0;
  }();
  return has;
}
#endif

const char* kernel_path_name(KernelPath path) {
  switch (path) {
    case KernelPath::Portable: return "portable";
    case KernelPath::AVX2: return "avx2";
    case KernelPath::AVX512: return "avx512";
    case KernelPath::NEON: return "neon";
  }
  return "unknown";
}

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
    case KernelPath::NEON:
#if MMB_HAVE_NEON_PATH
      return true;
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
