// linear_rows and linear_rows_grouped against a double-precision product of the same
// (rounded) weights: within 1e-5 of sum |w x| (f32 accumulation over a few hundred
// terms) for every weight type, odd sizes, row strides, bias or none, row counts
// around the kernel's row tile, and groups that nobody chose; both the 16-byte load
// path (widths a multiple of 8, aligned strides) and the element path.
#include "cuda_test_support.hpp"
#include "linear_rows.cuh"

using namespace mmb::cuda;
using namespace mmb::cuda::test;

namespace {

// Expected y row of x row: value and sum |w x| (the scale of rounding errors).
void product(const std::vector<float>& w, const float* bias, const float* x, int out, int in, double* y,
             double* scale) {
  for (int j = 0; j < out; ++j) {
    double acc = bias ? bias[j] : 0.0, mag = bias ? std::abs(bias[j]) : 0.0;
    for (int i = 0; i < in; ++i) {
      acc += double(w[size_t(j) * in + i]) * x[i];
      mag += std::abs(double(w[size_t(j) * in + i]) * x[i]);
    }
    y[j] = acc;
    scale[j] = mag;
  }
}

void check_rows(const std::vector<float>& got, const std::vector<double>& expected, const std::vector<double>& scale) {
  REQUIRE(got.size() == expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("entry " << i << ": got " << got[i] << ", expected " << expected[i]);
    REQUIRE(std::abs(got[i] - expected[i]) <= 1e-5 * scale[i] + 1e-7);
  }
}

}  // namespace

TEST_CASE("linear_rows: Y = X W^T + b for few rows", "[cuda][linear]") {
  for (WeightType type : {WeightType::F32, WeightType::F16, WeightType::BF16})
    for (int in : {45, 296})
      for (int pad : {0, 5})
        for (int n : {1, 5, 9, 17})
          for (bool with_bias : {false, true}) {
            INFO(type_name(type) << " in " << in << " pad " << pad << " n " << n << " bias " << with_bias);
            const int out = 67, ldx = in + pad, ldy = out + 2;
            Rng rng(uint64_t(in * 131 + n + pad));
            TestMatrix w(rng.values(size_t(out) * in), out, in, type);
            const std::vector<float> bias = rng.values(out), x = rng.values(size_t(n) * ldx);
            DeviceArray<float> dbias(bias), dx(x), dy(size_t(n) * ldy);
            linear_rows(nullptr, w.matrix, with_bias ? dbias.get() : nullptr, dx.get(), ldx, dy.get(), ldy, n);
            const std::vector<float> all = dy.read();
            std::vector<float> got;
            std::vector<double> expected(size_t(n) * out), scale(size_t(n) * out);
            for (int r = 0; r < n; ++r) {
              got.insert(got.end(), all.begin() + size_t(r) * ldy, all.begin() + size_t(r) * ldy + out);
              product(w.values, with_bias ? bias.data() : nullptr, x.data() + size_t(r) * ldx, out, in,
                      expected.data() + size_t(r) * out, scale.data() + size_t(r) * out);
            }
            check_rows(got, expected, scale);
          }
}

TEST_CASE("linear_rows_grouped: each group's matrix over its members only", "[cuda][linear][experts]") {
  for (WeightType type : {WeightType::F32, WeightType::F16, WeightType::BF16})
    for (int in : {70, 64}) {
      INFO(type_name(type) << " in " << in);
      const int out = 33, groups = 4, n_in = 6;
      Rng rng(5);
      std::vector<std::unique_ptr<TestMatrix>> w;
      std::vector<const void*> pointers;
      std::vector<std::vector<float>> biases;
      std::vector<std::unique_ptr<DeviceArray<float>>> dev_biases;
      std::vector<const float*> bias_pointers;
      for (int g = 0; g < groups; ++g) {
        w.push_back(std::make_unique<TestMatrix>(rng.values(size_t(out) * in), out, in, type));
        pointers.push_back(w.back()->matrix.data);
        biases.push_back(rng.values(out));
        dev_biases.push_back(std::make_unique<DeviceArray<float>>(biases.back()));
        bias_pointers.push_back(g == 1 ? nullptr : dev_biases.back()->get());  // group 1 without bias
      }
      // Members: group 0 rows {0, 3, 5}, group 1 {1}, group 2 none, group 3 nine rows
      // (more than one row tile), each written to its own output row.
      const std::vector<int32_t> counts = {3, 1, 0, 9}, offsets = {0, 3, 4, 4};
      const std::vector<int32_t> in_rows = {0, 3, 5, 1, 0, 1, 2, 3, 4, 5, 0, 2, 4};
      std::vector<int32_t> out_rows(in_rows.size());
      for (size_t m = 0; m < out_rows.size(); ++m) out_rows[m] = int32_t(out_rows.size() - 1 - m);
      const std::vector<float> x = rng.values(size_t(n_in) * in);
      DeviceArray<const void*> dw(pointers);
      DeviceArray<const float*> db(bias_pointers);
      DeviceArray<int32_t> dcounts(counts), doffsets(offsets), din(in_rows), dout(out_rows);
      DeviceArray<float> dx(x), dy(out_rows.size() * out);
      linear_rows_grouped(nullptr, w[0]->matrix, dw.get(), db.get(), groups,
                          GroupedRows{doffsets.get(), dcounts.get(), din.get(), dout.get()}, dx.get(), in, dy.get(),
                          out);
      std::vector<double> expected(out_rows.size() * out), scale(out_rows.size() * out);
      for (int g = 0; g < groups; ++g)
        for (int m = offsets[g]; m < offsets[g] + counts[g]; ++m)
          product(w[g]->values, g == 1 ? nullptr : biases[g].data(), x.data() + size_t(in_rows[m]) * in, out, in,
                  expected.data() + size_t(out_rows[m]) * out, scale.data() + size_t(out_rows[m]) * out);
      check_rows(dy.read(), expected, scale);
    }
}
