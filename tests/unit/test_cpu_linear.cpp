// The matrix kernel against a float64 loop, for every weight dtype; batches and
// thread counts must not change a single bit of any output.
#include <catch2/catch.hpp>

#include "backend/cpu/linear.hpp"
#include "backend/cpu/weight_load.hpp"
#include "base/dtype.hpp"

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

namespace {

struct TestMatrix {
  std::vector<std::byte> bytes;
  std::vector<double> values;  // what the stored (rounded) elements are
  mmb::Matrix view;
};

TestMatrix make_matrix(mmb::DType dtype, uint64_t rows, uint64_t cols, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  TestMatrix m;
  m.bytes.resize(rows * cols * mmb::dtype_size(dtype));
  m.values.resize(rows * cols);
  for (uint64_t i = 0; i < rows * cols; ++i) {
    float v = normal(rng);
    if (dtype == mmb::DType::F32) {
      std::memcpy(&m.bytes[4 * i], &v, 4);
      m.values[i] = v;
    } else {
      uint16_t h = dtype == mmb::DType::F16 ? mmb::f32_to_f16(v) : mmb::f32_to_bf16(v);
      std::memcpy(&m.bytes[2 * i], &h, 2);
      m.values[i] = dtype == mmb::DType::F16 ? mmb::f16_to_f32(h) : mmb::bf16_to_f32(h);
    }
  }
  m.view = {m.bytes.data(), dtype, rows, cols};
  return m;
}

}  // namespace

TEST_CASE("linear matches a float64 reference for every dtype", "[cpu]") {
  std::mt19937 rng(42);
  mmb::ThreadPool pool(2);
  for (mmb::DType dtype : {mmb::DType::F32, mmb::DType::F16, mmb::DType::BF16}) {
    for (auto [rows, cols] : {std::pair<uint64_t, uint64_t>{1, 1}, {37, 19}, {300, 129}, {64, 1024}}) {
      TestMatrix W = make_matrix(dtype, rows, cols, rng);
      TestMatrix bias = make_matrix(dtype, rows, 1, rng);
      const size_t n = 5;
      std::vector<std::vector<float>> x(n, std::vector<float>(cols)), y(n, std::vector<float>(rows));
      std::normal_distribution<float> normal(0.0f, 1.0f);
      const float* xs[n];
      float* ys[n];
      for (size_t b = 0; b < n; ++b) {
        for (auto& v : x[b]) v = normal(rng);
        xs[b] = x[b].data();
        ys[b] = y[b].data();
      }
      mmb::cpu::linear(pool, W.view, bias.view, xs, ys, n);
      for (size_t b = 0; b < n; ++b)
        for (uint64_t r = 0; r < rows; ++r) {
          double want = bias.values[r], magnitude = std::abs(bias.values[r]);
          for (uint64_t c = 0; c < cols; ++c) {
            want += W.values[r * cols + c] * double(x[b][c]);
            magnitude += std::abs(W.values[r * cols + c] * double(x[b][c]));
          }
          // f32 accumulation: error bounded by ~cols * 2^-24 * sum |terms|; 1e-6 * magnitude
          // is that bound for cols <= 1024 with a margin for the pairwise final reduction.
          CHECK(std::abs(double(y[b][r]) - want) <= 1e-6 * magnitude * std::sqrt(double(cols)) + 1e-7);
        }
    }
  }
}

TEST_CASE("linear gives identical bits for any batch size and thread count", "[cpu][threads]") {
  std::mt19937 rng(7);
  TestMatrix W = make_matrix(mmb::DType::BF16, 257, 333, rng);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const size_t n = 9;
  std::vector<std::vector<float>> x(n, std::vector<float>(333));
  for (auto& row : x)
    for (auto& v : row) v = normal(rng);
  auto run = [&](int threads, size_t batch) {
    mmb::ThreadPool pool(threads);
    std::vector<std::vector<float>> y(n, std::vector<float>(257));
    for (size_t start = 0; start < n; start += batch) {
      size_t m = std::min(batch, n - start);
      const float* xs[n];
      float* ys[n];
      for (size_t b = 0; b < m; ++b) {
        xs[b] = x[start + b].data();
        ys[b] = y[start + b].data();
      }
      mmb::cpu::linear(pool, W.view, mmb::Matrix{}, xs, ys, m);
    }
    return y;
  };
  auto reference = run(1, 1);
  CHECK(run(1, n) == reference);
  CHECK(run(3, 4) == reference);
  CHECK(run(2, n) == reference);
}

TEST_CASE("the vectorizable f16 conversion is exact for all 65536 values", "[cpu]") {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float want = mmb::f16_to_f32(uint16_t(h)), got = mmb::cpu::half_bits_to_float(uint16_t(h));
    if (std::isnan(want)) {
      CHECK(std::isnan(got));
    } else {
      uint32_t a, b;
      std::memcpy(&a, &want, 4);
      std::memcpy(&b, &got, 4);
      if (a != b) FAIL_CHECK("f16 0x" << std::hex << h << ": want " << want << ", got " << got);
    }
  }
}
