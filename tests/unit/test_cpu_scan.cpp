// The selective scan against float64 loops: the portable channel update (the reference),
// and a row's step over channels on every kernel path, whose vector exp, softplus and
// silu must stay within f32 rounding of the exact step.
#include <catch2/catch.hpp>

#include "backend/cpu/selective_scan.hpp"
#include "backend/cpu/simd_dispatch.hpp"
#include "support/kernel_paths.hpp"

#include <cmath>
#include <random>
#include <vector>

using mmb::cpu::KernelPath;

TEST_CASE("the portable scan's channel update matches float64", "[cpu]") {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  for (size_t ds : {1u, 5u, 8u, 15u, 16u, 17u, 33u, 64u}) {
    for (float dt_scale : {1e-3f, 0.1f, 1.0f, 30.0f}) {  // the last drives exp(dt A) below 1e-38
      INFO("d_state " << ds << ", dt scale " << dt_scale);
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
      const float y = mmb::cpu::scan_channel_portable(s.data(), A.data(), B.data(), C.data(), dt, dt * x, ds);
      // Each state: two products and a sum in f32 plus exp's 1.2e-7: within 1e-6 of
      // its terms' size. y: a sum of ds such terms.
      for (size_t k = 0; k < ds; ++k) {
        const double scale = std::abs(double(s[k])) + std::abs(double(dt) * x * B[k]) + 1e-30;
        CHECK(std::abs(s[k] - want_s[k]) <= 1e-6 * (scale + std::abs(want_s[k])) + 1e-37);
      }
      CHECK(std::abs(y - want_y) <= 1e-6 * magnitude * std::sqrt(double(ds)) + 1e-30);
    }
  }
}

namespace {

// A layer's scan inputs for one row: `channels` channels of d_state states.
struct ScanInputs {
  size_t channels, ds;
  std::vector<float> state, A, B, C, dt_raw, x, z, D, y;
  ScanInputs(size_t channels_, size_t ds_, std::mt19937& rng)
      : channels(channels_), ds(ds_), state(channels * ds), A(channels * ds), B(ds), C(ds), dt_raw(channels),
        x(channels), z(channels), D(channels), y(channels) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (auto& v : state) v = normal(rng);
    for (size_t c = 0; c < channels; ++c)
      for (size_t k = 0; k < ds; ++k) A[c * ds + k] = -float(k + 1) * (0.5f + 0.01f * float(c % 7));
    for (auto& v : B) v = normal(rng);
    for (auto& v : C) v = normal(rng);
    // dt before softplus over its whole range: far below 0 (softplus ~ e^x), near 0,
    // and above 20 (softplus = x); z likewise for silu, both signs.
    for (size_t c = 0; c < channels; ++c) {
      const float spread[] = {-30.0f, -4.0f, -0.5f, 0.0f, 0.3f, 2.0f, 25.0f};
      dt_raw[c] = spread[c % 7] + 0.1f * normal(rng);
      z[c] = 4.0f * normal(rng) + (c % 5 == 0 ? 40.0f : c % 5 == 1 ? -40.0f : 0.0f);
      x[c] = normal(rng);
      D[c] = normal(rng);
    }
  }
  mmb::Matrix D_view() const { return {reinterpret_cast<const std::byte*>(D.data()), mmb::DType::F32, channels, 1}; }
  void run(size_t c0, size_t c1) {
    const mmb::Matrix Dm = D_view();
    const mmb::cpu::ScanStep step{state.data(), A.data(), B.data(), C.data(), dt_raw.data(), x.data(), z.data(), Dm,
                                  y.data()};
    mmb::cpu::scan_channels(step, c0, c1, ds);
  }
};

double softplus64(double v) { return v > 0 ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v)); }

}  // namespace

TEST_CASE("a row's scan step over channels matches float64 on every kernel path, for any split", "[cpu]") {
  std::mt19937 rng(17);
  for (KernelPath path : mmb::testing::supported_kernel_paths()) {
    const mmb::testing::KernelPathScope scope(path);
    for (size_t channels : {1u, 7u, 16u, 37u, 64u}) {
      for (size_t ds : {1u, 16u, 17u, 40u}) {
        INFO("path " << mmb::cpu::kernel_path_name(path) << ", " << channels << " channels, d_state " << ds);
        ScanInputs whole(channels, ds, rng);
        ScanInputs split = whole;
        const ScanInputs before = whole;
        whole.run(0, channels);
        // The same channels in uneven pieces: every channel's bits must not change.
        mmb::testing::run_in_uneven_pieces(channels, 19, [&](size_t c0, size_t c1) { split.run(c0, c1); });
        CHECK(split.y == whole.y);
        CHECK(split.state == whole.state);
        for (size_t c = 0; c < channels; ++c) {
          const double dt = softplus64(before.dt_raw[c]), x = before.x[c], z = before.z[c];
          double sum = 0.0, magnitude = 0.0;
          for (size_t k = 0; k < ds; ++k) {
            const double s = double(before.state[c * ds + k]) * std::exp(dt * before.A[c * ds + k]) + dt * x * before.B[k];
            // A state's error: dt's relative error carried by exp(dt A) and dt x B
            // (softplus is within 2.5e-7 of exact on the vector path over [-30, 30],
            // 1.2e-7 through libm; bound 4e-7), plus the update's own 1e-6 (first test).
            const double s_scale = std::abs(double(before.state[c * ds + k])) + std::abs(dt * x * before.B[k]);
            CHECK(std::abs(whole.state[c * ds + k] - s) <=
                  (1e-6 + 4e-7 * (1.0 + std::abs(dt * before.A[c * ds + k]))) * (s_scale + std::abs(s)) + 1e-37);
            sum += s * before.C[k];
            magnitude += (s_scale + std::abs(s)) * std::abs(double(before.C[k]));
          }
          const double silu = z / (1.0 + std::exp(-z));
          const double want = (sum + double(before.D[c]) * x) * silu;
          // The sum's f32 error (first test's bound) and dt's through the states, times
          // silu (relative error ~1e-7), plus D x's rounding.
          const double bound = ((2e-6 * std::sqrt(double(ds)) + 4e-7 * (1.0 + 30.0 * dt)) * magnitude +
                                2e-7 * std::abs(double(before.D[c]) * x)) * std::abs(silu) + 2e-7 * std::abs(want) + 1e-30;
          CHECK(std::abs(whole.y[c] - want) <= bound);
        }
      }
    }
  }
}
