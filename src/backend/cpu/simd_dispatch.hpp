// Run-time dispatch of the CPU kernels: the library must run on any x86-64, so hot
// loops are compiled twice (baseline and x86-64-v3: AVX2, FMA, F16C) and the loader
// picks one (MMB_HOT_CLONES), and explicit AVX2 paths are taken only where the CPU has
// them (cpu_has_avx2_f16c). On arm64 NEON is part of the base architecture: its path
// needs no check.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include <cpuid.h>
#define MMB_HAVE_AVX2_PATH 1
#endif

#if defined(__aarch64__) && defined(__GNUC__)
#include <arm_neon.h>
#define MMB_HAVE_NEON_PATH 1
#endif

// Not under ThreadSanitizer: the clones' resolvers run while the dynamic loader
// relocates, before the TSan runtime is up, and their instrumentation crashes there.
// Not on Windows: target_clones needs ifunc, which PE has not; the baseline loops and
// the explicit AVX2/AVX-512 paths (chosen by CPUID) remain.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_THREAD__) && !defined(_WIN32)
#define MMB_HOT_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define MMB_HOT_CLONES
#endif

namespace mmb::cpu {

#if MMB_HAVE_AVX2_PATH
// F16C is read from CPUID (leaf 1, ECX bit 29): clang 14's __builtin_cpu_supports does
// not know "f16c". The builtin's "avx2" also covers the OS saving the AVX registers.
inline bool cpu_has_f16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & (1u << 29)) != 0;
}

inline bool cpu_has_avx2_f16c() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
  return has;
}

// VNNI for the q8 and q4 kernels, where vnni_allowed(): AVX-512 VNNI (CPUID leaf 7, ECX
// bit 11: the builtin's name for it differs between compilers) with BW and VL, the
// AVX-512 path having checked that the OS saves the registers; AVX-VNNI (leaf 7,
// sub-leaf 1, EAX bit 4), the VEX form in CPUs with AVX2 and no AVX-512.
bool cpu_has_avx512_vnni();
bool cpu_has_avx_vnni();
#endif

// The explicit SIMD kernels in use. The best the CPU has, unless the environment
// variable MMB_CPU_KERNELS names one when the library first asks: "portable" (only the
// portable kernels, as on a CPU without AVX2), "avx2" (no AVX-512), "avx512" or
// "neon"; a path the CPU lacks gives the portable kernels. For comparing paths and for
// ruling a SIMD kernel out when something looks wrong.
enum class KernelPath { Portable, AVX2, AVX512, NEON };
inline constexpr KernelPath kAllKernelPaths[] = {KernelPath::Portable, KernelPath::AVX2, KernelPath::AVX512,
                                                 KernelPath::NEON};
// Whether the q8 and q4 kernels may sum their products with VNNI's VPDPBUSD where the CPU has
// it (AVX-VNNI on the AVX2 path, AVX-512 VNNI on the AVX-512 path; the same bits
// either way): yes, unless the environment variable MMB_CPU_VNNI is "0" when the
// library first asks, to measure the many AVX2 CPUs that lack it on one that has it.
bool vnni_allowed();
// The path's name in MMB_CPU_KERNELS: "portable", "avx2", "avx512", "neon".
const char* kernel_path_name(KernelPath path);
bool kernel_path_supported(KernelPath path);
// The path MMB_CPU_KERNELS = `requested` selects: the named one where supported, else
// the portable one; null or an unknown name: the best supported.
KernelPath choose_kernel_path(const char* requested);
KernelPath kernel_path();
// For tests that run each supported path: sets the path (one the CPU supports) and
// returns the previous one. Not thread-safe against running kernels.
KernelPath set_kernel_path(KernelPath path);

}  // namespace mmb::cpu
