#include "cpu_description.hpp"

#include "backend/cpu/linear_simd.hpp"
#include "backend/cpu/simd_dispatch.hpp"

#include <cstring>
#include <fstream>
#include <thread>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#endif

namespace mmb {

namespace {

std::string trimmed(std::string s) {
  const size_t b = s.find_first_not_of(" \t");
  const size_t e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

std::string brand_string() {
#if defined(__x86_64__) && defined(__GNUC__)
  unsigned regs[12] = {};
  if (__get_cpuid_max(0x80000000u, nullptr) < 0x80000004u) return {};
  for (unsigned leaf = 0; leaf < 3; ++leaf)
    __get_cpuid(0x80000002u + leaf, &regs[leaf * 4], &regs[leaf * 4 + 1], &regs[leaf * 4 + 2], &regs[leaf * 4 + 3]);
  char text[sizeof regs + 1] = {};
  std::memcpy(text, regs, sizeof regs);
  return trimmed(text);
#else
  return {};
#endif
}

std::string proc_cpuinfo_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos)
      return trimmed(line.substr(line.find(':') + 1));
  return {};
}

}  // namespace

std::string cpu_model_name() {
  std::string name = brand_string();
  if (name.empty()) name = proc_cpuinfo_model();
#if defined(__x86_64__)
  if (name.empty()) name = "x86-64";
#elif defined(__aarch64__)
  if (name.empty()) name = "arm64";
#else
  if (name.empty()) name = "unknown";
#endif
  return name;
}

const char* cpu_kernel_path_name() { return cpu::kernel_path_name(cpu::kernel_path()); }

std::string cpu_description_line() {
  std::string line = "cpu: " + cpu_model_name() + ", " + std::to_string(std::thread::hardware_concurrency()) +
                     " hardware threads, kernels " + cpu_kernel_path_name();
#if MMB_HAVE_AVX2_PATH
  if (cpu::quantized_uses_vnni()) line += " (q8 and q4 with VNNI)";
#endif
  return line;
}

}  // namespace mmb
