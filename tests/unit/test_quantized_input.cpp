// The vectors q8 and q4 products quantize (backend/cpu/quantized_input.hpp): the rule
// against the float64 reference's own reading of it, the block layout byte by byte,
// and every kernel path quantizing to the same values for either weight format.
#include <catch2/catch.hpp>

#include "backend/cpu/linear.hpp"
#include "backend/cpu/quantized_input.hpp"
#include "base/q4.hpp"
#include "base/tensor_values.hpp"
#include "reference/reference_model.hpp"
#include "support/kernel_paths.hpp"

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

using namespace mmb::cpu;

namespace {

// Random groups with the cases the rule singles out: all zeros, values so small that
// d is 0 or subnormal, exact halves (x = (k + 0.5) d), a NaN, an infinity.
std::vector<float> test_vector(size_t cols, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(cols);
  for (float& v : x) v = normal(rng);
  for (size_t g = 0; g * kInputGroup < cols; ++g) {
    float* group = x.data() + g * kInputGroup;
    const size_t n = std::min<size_t>(kInputGroup, cols - g * kInputGroup);
    switch (g % 7) {
      case 1: std::fill(group, group + n, 0.0f); break;
      case 2: for (size_t k = 0; k < n; ++k) group[k] = float(k % 5) * 1e-44f; break;  // subnormal
      case 3: for (size_t k = 0; k < n; ++k) group[k] *= 1e-39f; break;                // d subnormal
      case 4:  // max 127 * 0.25, so d = 0.25 exactly and every value is an exact half
        group[0] = 31.75f;
        for (size_t k = 1; k < n; ++k) group[k] = (float(int(k) - 16) + 0.5f) * 0.25f;
        break;
      case 5: group[n / 2] = NAN; break;
      case 6: group[n - 1] = -INFINITY; break;
      default: break;
    }
  }
  return x;
}

}  // namespace

TEST_CASE("quantized inputs: each group quantized by the documented rule", "[q4][q8]") {
  std::mt19937 rng(3);
  for (size_t cols : {1, 31, 32, 33, 48, 95, 224, 1000}) {
    const std::vector<float> x = test_vector(cols, rng);
    const std::vector<double> want = mmb::reference::quantized_input(std::vector<double>(x.begin(), x.end()));
    for (size_t g = 0; g * kInputGroup < cols; ++g) {
      const size_t c0 = g * kInputGroup, n = std::min<size_t>(kInputGroup, cols - c0);
      INFO("cols " << cols << " group " << g);
      int8_t q[kInputGroup];
      std::memset(q, 0x55, sizeof q);
      const float d = quantize_input_group(x.data() + c0, n, q);
      for (size_t k = 0; k < kInputGroup; ++k) {
        if (k >= n) {
          CHECK(q[k] == 0);  // the padding of a short group
          continue;
        }
        CHECK(std::abs(int(q[k])) <= 127);
        if (std::isnan(want[c0 + k])) {
          CHECK(std::isnan(d));
          CHECK(q[k] == 0);
        } else {
          CHECK(double(d) * q[k] == want[c0 + k]);
        }
      }
    }
  }
}

TEST_CASE("quantized inputs: the block layout, with zeros wherever there is no group", "[q4][q8]") {
  // zero: what the codes hold beyond each value (q4: 8, q8 made unsigned: 128, 0).
  for (int32_t zero : {8, 128, 0})
  for (size_t cols : {32, 33, 64, 65, 100, 256, 300}) {
    INFO("cols " << cols << " zero " << zero);
    const size_t n = 2;
    std::vector<std::byte> buffer(n * quantized_input_bytes(cols), std::byte{0x77});
    const QuantizedInput a = quantized_input_layout(n, cols, buffer.data());
    const size_t groups = (cols + 31) / 32;
    CHECK(a.groups == groups);
    CHECK(a.blocks == (groups + 3) / 4);
    CHECK(a.padded_groups % kInputScaleRun == 0);
    CHECK(a.padded_groups >= groups);
    // Everything the layout spans lies inside the buffer.
    const auto* last_q = reinterpret_cast<const std::byte*>(a.high_of(n - 1, 4 * a.blocks - 1) + 16);
    const auto* last_offset = reinterpret_cast<const std::byte*>(a.offsets_of(n - 1, 4 * a.blocks - 1) + 4);
    CHECK(last_q <= buffer.data() + buffer.size());
    CHECK(last_offset <= buffer.data() + buffer.size());
    for (size_t v = 0; v < n; ++v) {
      for (size_t g = 0; g < groups; ++g) {
        int8_t q[kInputGroup];
        for (size_t k = 0; k < kInputGroup; ++k) q[k] = int8_t(int(v * 50 + g * 3 + k) % 251 - 125);
        store_input_group(a, v, g, q, zero);
      }
      for (size_t g = groups; g < a.padded_groups; ++g) CHECK(a.scale_of(v)[g] == 0.0f);
      const int8_t* vector = a.low_of(v, 0);
      const int32_t* offsets = a.offsets_of(v, 0);
      for (size_t g = 0; g < 4 * a.blocks; ++g) {
        // Block b = g / 4 holds 128 bytes: columns 0-15 of its four groups, then their 16-31.
        const int8_t* block = vector + g / 4 * 128;
        for (size_t k = 0; k < kInputGroup; ++k) {
          const int8_t got = block[k < 16 ? 16 * (g % 4) + k : 64 + 16 * (g % 4) + (k - 16)];
          CHECK(int(got) == (g < groups ? int(v * 50 + g * 3 + k) % 251 - 125 : 0));
        }
        // Lane l's offset: -zero times the values of columns 4l .. 4l + 3 and 16 + 4l ..
        // 16 + 4l + 3.
        for (size_t l = 0; l < 4; ++l) {
          int32_t lane = 0;
          for (size_t k = 4 * l; k < 4 * l + 4; ++k)
            if (g < groups) lane += int(v * 50 + g * 3 + k) % 251 - 125 + int(v * 50 + g * 3 + k + 16) % 251 - 125;
          CHECK(offsets[4 * g + l] == -zero * lane);
        }
      }
    }
  }
}

TEST_CASE("quantized inputs: every kernel path quantizes to the same values", "[q4][q8][cpu]") {
  // One-hot rows: row r holds 1 at column r, zeros elsewhere (in q4, code 0 with scale
  // -1/8 in r's group, code 8 in the others; in q8, 127 with scale 1/127), so output r
  // is input r as quantized, d * q, up to the lanes' f32 rounding, far less than half a
  // step d: a path that quantized or placed any value differently would be a whole
  // step off.
  std::mt19937 rng(17);
  mmb::ThreadPool pool(2);
  for (mmb::DType dtype : {mmb::DType::Q8, mmb::DType::Q4})
  for (size_t cols : {32, 48, 95, 256}) {
    const size_t rows = cols;
    std::vector<float> w(rows * cols, 0.0f);
    for (size_t r = 0; r < rows; ++r) w[r * cols + r] = 1.0f;
    const uint64_t shape[2] = {rows, cols};
    std::vector<std::byte> bytes = mmb::encode_values(w, dtype, shape);
    mmb::Matrix m{bytes.data(), dtype, rows, cols};
    m.scales = bytes.data() + *mmb::quantized_scales_offset(dtype, rows, cols);
    const std::vector<float> stored = mmb::decode_values(bytes, dtype, shape);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> x(cols);
    for (float& v : x) v = normal(rng) * 3.0f;
    const std::vector<double> xq = mmb::reference::quantized_input(std::vector<double>(x.begin(), x.end()));
    std::vector<double> want(rows, 0.0);
    for (size_t r = 0; r < rows; ++r)
      for (size_t c = 0; c < cols; ++c) want[r] += double(stored[r * cols + c]) * xq[c];
    for (KernelPath path : mmb::testing::supported_kernel_paths()) {
      INFO(kernel_path_name(path) << " " << mmb::dtype_name(dtype) << " cols " << cols);
      mmb::testing::KernelPathScope scope(path);
      std::vector<float> y(rows);
      const float* xs[1] = {x.data()};
      float* ys[1] = {y.data()};
      linear(pool, m, mmb::Matrix{}, xs, ys, 1);
      for (size_t r = 0; r < rows; ++r) {
        double step = 0;  // d of the input's group
        for (size_t c = r / kInputGroup * kInputGroup; c < std::min(cols, (r / kInputGroup + 1) * kInputGroup); ++c)
          step = std::max(step, std::abs(double(x[c])) / 127.0);
        CHECK(std::abs(double(y[r]) - want[r]) < 0.25 * step);
      }
    }
  }
}
