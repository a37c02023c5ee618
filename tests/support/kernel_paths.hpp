// The CPU kernel paths a test compares: every one this machine runs (the portable one
// always), a scope that sets one and restores the previous path after, and a split of
// channels into uneven pieces.
#pragma once

#include <catch2/catch.hpp>

#include "backend/cpu/simd_dispatch.hpp"

#include <algorithm>
#include <cstddef>
#include <vector>

namespace mmb::testing {

// A path of this machine's architecture that its CPU lacks is reported, not run (an
// x86 CPU without AVX-512); the other architecture's paths are not mentioned.
inline std::vector<cpu::KernelPath> supported_kernel_paths() {
  std::vector<cpu::KernelPath> paths;
  for (cpu::KernelPath p : cpu::kAllKernelPaths) {
    if (cpu::kernel_path_supported(p)) {
      paths.push_back(p);
      continue;
    }
#if defined(__x86_64__)
    const bool this_architecture = p == cpu::KernelPath::AVX2 || p == cpu::KernelPath::AVX512;
#else
    const bool this_architecture = false;
#endif
    if (this_architecture) WARN("this CPU lacks the " << cpu::kernel_path_name(p) << " kernels: that path is not run here");
  }
  return paths;
}

struct KernelPathScope {
  explicit KernelPathScope(cpu::KernelPath p) : previous(cpu::set_kernel_path(p)) {}
  ~KernelPathScope() { cpu::set_kernel_path(previous); }
  KernelPathScope(const KernelPathScope&) = delete;
  KernelPathScope& operator=(const KernelPathScope&) = delete;
  cpu::KernelPath previous;
};

// Calls run(c0, c1) over [0, count) in uneven consecutive pieces (sizes 1 to `spread`,
// varying): for checking that a kernel over channels gives the same bits in any split.
template <typename Run>
void run_in_uneven_pieces(size_t count, size_t spread, Run run) {
  for (size_t c0 = 0; c0 < count;) {
    const size_t c1 = std::min(count, c0 + 1 + (c0 * 7) % spread);
    run(c0, c1);
    c0 = c1;
  }
}

}  // namespace mmb::testing
