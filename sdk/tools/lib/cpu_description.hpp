// Which CPU a benchmark ran on and which of the library's kernel paths it used, so a
// printed figure says where it came from (an AVX2-only player's CPU and an AVX-512
// server differ by more than any tuning).
#pragma once

#include <string>

namespace mmb {

// The processor's name: the CPUID brand string on x86-64, else /proc/cpuinfo's
// "model name" (or the architecture's name when neither says).
std::string cpu_model_name();

// "avx512", "avx2", "neon" or "portable": the CPU kernels in use (MMB_CPU_KERNELS
// chooses among those the CPU has).
const char* cpu_kernel_path_name();

// One line for a benchmark's header: "cpu: <model>, <n> hardware threads, kernels <path>".
std::string cpu_description_line();

}  // namespace mmb
