// normalize_rows and inverse_rms_rows against the CPU backend's formulas (sums in
// double): within 2e-6 relative + 1e-6 absolute (f32 rounding of the final products).
#include "cuda_test_support.hpp"
#include "norm.cuh"

using namespace mmb::cuda;
using namespace mmb::cuda::test;

namespace {

std::vector<double> reference(NormType type, const std::vector<float>& w, const std::vector<float>& b, float eps,
                              const std::vector<float>& x, int ldx, int d, int n) {
  std::vector<double> y(size_t(n) * d);
  for (int r = 0; r < n; ++r) {
    const float* xr = x.data() + size_t(r) * ldx;
    double* yr = y.data() + size_t(r) * d;
    if (type == NormType::None) {
      for (int j = 0; j < d; ++j) yr[j] = xr[j];
    } else if (type == NormType::RMS) {
      double ss = 0;
      for (int j = 0; j < d; ++j) ss += double(xr[j]) * xr[j];
      const double inv = 1.0 / std::sqrt(ss / d + eps);
      for (int j = 0; j < d; ++j) yr[j] = xr[j] * inv * w[j];
    } else {
      double mean = 0;
      for (int j = 0; j < d; ++j) mean += xr[j];
      mean /= d;
      double var = 0;
      for (int j = 0; j < d; ++j) var += (xr[j] - mean) * (xr[j] - mean);
      const double inv = 1.0 / std::sqrt(var / d + eps);
      for (int j = 0; j < d; ++j) yr[j] = (xr[j] - mean) * inv * w[j] + b[j];
    }
  }
  return y;
}

}  // namespace

TEST_CASE("normalize_rows: RMSNorm, LayerNorm and none over strided rows", "[cuda][norm]") {
  for (int d : {77, 1000}) {
    for (NormType type : {NormType::None, NormType::RMS, NormType::Layer}) {
      INFO("d " << d << " type " << int(type));
      const int n = 3, ldx = d + 3;
      Rng rng(11 + d);
      const std::vector<float> x = rng.values(size_t(n) * ldx, -2.0f, 3.0f);
      const std::vector<float> w = rng.values(d, 0.5f, 1.5f), b = rng.values(d);
      DeviceArray<float> dx(x), dw(w), db(b), dy(size_t(n) * d);
      normalize_rows(nullptr, type, dw.get(), type == NormType::Layer ? db.get() : nullptr, 1e-5f, dx.get(), ldx,
                     dy.get(), d, d, n);
      check_close(dy.read(), reference(type, w, b, 1e-5f, x, ldx, d, n), 1e-6, 2e-6);
    }
  }
}

TEST_CASE("inverse_rms_rows: 1 / sqrt(mean(x^2) + eps) per row", "[cuda][norm]") {
  const int d = 45, n = 5, ldx = 50;
  Rng rng(3);
  const std::vector<float> x = rng.values(size_t(n) * ldx);
  DeviceArray<float> dx(x), inv(n);
  inverse_rms_rows(nullptr, dx.get(), ldx, d, 1e-2f, inv.get(), n);
  std::vector<double> expected(n);
  for (int r = 0; r < n; ++r) {
    double ss = 0;
    for (int j = 0; j < d; ++j) ss += double(x[r * ldx + j]) * x[r * ldx + j];
    expected[r] = 1.0 / std::sqrt(ss / d + 1e-2);
  }
  check_close(inv.read(), expected, 0.0, 1e-6);
}
