// The selective scan's channel update on every kernel path against a float64 loop:
// the SIMD paths' vector exp must stay within f32 rounding of the exact update.
#include <catch2/catch.hpp>

#include "backend/cpu/selective_scan.hpp"
#include "backend/cpu/simd_dispatch.hpp"

#include <cmath>
#include <random>
#include <vector>

using mmb::cpu::KernelPath;

TEST_CASE("the scan's channel update matches float64 on every kernel path", "[cpu]") {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  for (KernelPath path : {KernelPath::Portable, KernelPath::AVX2, KernelPath::AVX512}) {
    if (!mmb::cpu::kernel_path_supported(path)) {
      WARN("kernel path " << int(path) << " is not supported by this CPU: not run");
      continue;
    }
    const KernelPath previous = mmb::cpu::set_kernel_path(path);
    for (size_t ds : {1u, 5u, 8u, 15u, 16u, 17u, 33u, 64u}) {
      for (float dt_scale : {1e-3f, 0.1f, 1.0f, 30.0f}) {  // the last drives exp(dt A) below 1e-38
        INFO("path " << int(path) << ", d_state " << ds << ", dt scale " << dt_scale);
        std::vector<float> s(ds), A(ds), B(ds), C(ds);
        for (size_t k = 0; k < ds; ++k) {
          s[k] = normal(rng);
          A[k] = -float(k + 1);  // Mamba's initialisation: -(1..d_state)
          B[k] = normal(rng);
          C[k] = normal(rng);
        }
        const float dt = dt_scale * (0.5f + uniform(rng)), x = normal(rng);
        std::vector<double> want_s(ds);
        double want_y = 0.0, magnitude = 0.0;
        for (size_t k = 0; k < ds; ++k) {
          want_s[k] = double(s[k]) * std::exp(double(dt) * A[k]) + double(dt) * x * B[k];
          want_y += want_s[k] * C[k];
          magnitude += std::abs(want_s[k] * C[k]);
        }
        const float y = mmb::cpu::scan_channel(s.data(), A.data(), B.data(), C.data(), dt, dt * x, ds);
        // Each state: two products and a sum in f32 plus exp's 1.2e-7: within 1e-6 of
        // its terms' size. y: a sum of ds such terms.
        for (size_t k = 0; k < ds; ++k) {
          const double scale = std::abs(double(s[k])) + std::abs(double(dt) * x * B[k]) + 1e-30;
          CHECK(std::abs(s[k] - want_s[k]) <= 1e-6 * (scale + std::abs(want_s[k])) + 1e-37);
        }
        CHECK(std::abs(y - want_y) <= 1e-6 * magnitude * std::sqrt(double(ds)) + 1e-30);
      }
    }
    mmb::cpu::set_kernel_path(previous);
  }
}
