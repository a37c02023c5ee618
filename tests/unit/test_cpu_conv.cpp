// The causal convolution's step on every kernel path against a float64 loop, over
// several rows of one state (a prefill) and several states (a batch), and identical
// bits for any split of the channels into runs.
#include <catch2/catch.hpp>

#include "backend/cpu/conv_step.hpp"
#include "backend/cpu/simd_dispatch.hpp"
#include "support/kernel_paths.hpp"

#include <cmath>
#include <random>
#include <vector>

using mmb::cpu::KernelPath;

namespace {

struct ConvCase {
  size_t channels, d_conv, n;
  std::vector<float> weight, bias;
  std::vector<std::vector<float>> windows, x, out;
  ConvCase(size_t channels_, size_t d_conv_, size_t n_, std::mt19937& rng)
      : channels(channels_), d_conv(d_conv_), n(n_), weight(channels * d_conv), bias(channels),
        windows(n, std::vector<float>(channels * (d_conv - 1))), x(n, std::vector<float>(channels)),
        out(n, std::vector<float>(channels)) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (auto& v : weight) v = normal(rng);
    for (auto& v : bias) v = normal(rng);
    for (auto& w : windows)
      for (auto& v : w) v = 3.0f * normal(rng);
    for (auto& row : x)
      for (auto& v : row) v = 3.0f * normal(rng);
  }
  // Rows 0 and 1 share row 0's state (two tokens of one session); the others have their own.
  void run(size_t c0, size_t c1) {
    std::vector<float*> w(n), o(n);
    std::vector<const float*> in(n);
    for (size_t b = 0; b < n; ++b) {
      w[b] = windows[b == 1 ? 0 : b].data();
      in[b] = x[b].data();
      o[b] = out[b].data();
    }
    const mmb::Matrix W{reinterpret_cast<const std::byte*>(weight.data()), mmb::DType::F32, channels, d_conv};
    const mmb::Matrix B{reinterpret_cast<const std::byte*>(bias.data()), mmb::DType::F32, channels, 1};
    mmb::cpu::conv_channels(W, B, d_conv, {w.data(), in.data(), o.data(), n}, c0, c1);
  }
};

}  // namespace

TEST_CASE("the conv step matches float64 on every kernel path, for any split of the channels", "[cpu]") {
  std::mt19937 rng(23);
  for (KernelPath path : mmb::testing::supported_kernel_paths()) {
    const mmb::testing::KernelPathScope scope(path);
    for (size_t channels : {1u, 15u, 16u, 40u}) {
      for (size_t d_conv : {1u, 2u, 4u, 7u}) {
        INFO("path " << mmb::cpu::kernel_path_name(path) << ", " << channels << " channels, d_conv " << d_conv);
        const size_t n = 3;
        ConvCase whole(channels, d_conv, n, rng);
        ConvCase split = whole;
        const ConvCase before = whole;
        whole.run(0, channels);
        mmb::testing::run_in_uneven_pieces(channels, 17, [&](size_t c0, size_t c1) { split.run(c0, c1); });
        CHECK(split.out == whole.out);
        CHECK(split.windows == whole.windows);
        // The float64 reference, row by row; row 1 continues row 0's window.
        std::vector<std::vector<double>> win(n);
        for (size_t b = 0; b < n; ++b) win[b].assign(before.windows[b].begin(), before.windows[b].end());
        const size_t len = d_conv - 1;
        for (size_t b = 0; b < n; ++b) {
          std::vector<double>& w = win[b == 1 ? 0 : b];
          for (size_t c = 0; c < channels; ++c) {
            double acc = before.bias[c], magnitude = std::abs(acc);
            for (size_t k = 0; k < len; ++k) {
              acc += double(before.weight[c * d_conv + k]) * w[c * len + k];
              magnitude += std::abs(double(before.weight[c * d_conv + k]) * w[c * len + k]);
            }
            acc += double(before.weight[c * d_conv + len]) * before.x[b][c];
            magnitude += std::abs(double(before.weight[c * d_conv + len]) * before.x[b][c]);
            for (size_t k = 0; k + 1 < len; ++k) w[c * len + k] = w[c * len + k + 1];
            if (len) w[c * len + len - 1] = before.x[b][c];
            const double want = acc / (1.0 + std::exp(-acc));
            // The sum's f32 rounding (d_conv + 1 terms, 2^-24 each, relative to their
            // magnitudes) carried through silu (slope at most 1.1), plus silu's own
            // relative error (below 3e-7 for the vector form, 1.2e-7 through libm).
            CHECK(std::abs(whole.out[b][c] - want) <= 1.1 * (d_conv + 1) * 6e-8 * magnitude + 3e-7 * std::abs(want) + 1e-30);
          }
        }
        for (size_t b = 0; b < n; ++b)
          if (b != 1)
            for (size_t i = 0; i < win[b].size(); ++i) CHECK(whole.windows[b][i] == float(win[b][i]));
      }
    }
  }
}
