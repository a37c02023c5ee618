// round_input_groups: a q8 or q4 product's input rounded per group of 32 by the rule of
// docs/bundle-format.md ("What a q8 or q4 product computes"), bit for bit, against the
// rule written here on the host: groups of zeros, of subnormal values, of exact halves
// (rounded to even), holding a NaN or an infinity, and a short last group.
#include "cuda_test_support.hpp"
#include "input_rounding.cuh"

#include <algorithm>

using namespace mmb::cuda;
using namespace mmb::cuda::test;

namespace {

std::vector<float> rounded_on_host(const std::vector<float>& x, int ldx, int cols, int rows) {
  std::vector<float> out(size_t(rows) * cols);
  for (int r = 0; r < rows; ++r)
    for (int g = 0; g < cols; g += 32) {
      const float* v = x.data() + size_t(r) * ldx + g;
      const int n = std::min(32, cols - g);
      float m = 0.0f;
      bool finite = true;
      for (int k = 0; k < n; ++k) {
        m = std::max(m, std::fabs(v[k]));
        finite = finite && std::isfinite(v[k]);
      }
      const float d = m / 127.0f;
      for (int k = 0; k < n; ++k) {
        float q = 0.0f;
        if (!finite) q = NAN;
        else if (d != 0.0f) q = d * std::clamp(std::nearbyint(v[k] / d), -127.0f, 127.0f);
        out[size_t(r) * cols + g + k] = q;
      }
    }
  return out;
}

}  // namespace

TEST_CASE("round_input_groups: each group rounded by the documented rule", "[cuda][rounding]") {
  Rng rng(31);
  for (int cols : {32, 45, 100, 300}) {
    const int rows = 3, ldx = cols + 7;
    std::vector<float> x = rng.values(size_t(rows) * ldx);
    for (float& v : x) v *= 4.0f;
    for (int r = 0; r < rows; ++r)
      for (int g = 0; g * 32 < cols; ++g) {
        float* v = x.data() + size_t(r) * ldx + g * 32;
        const int n = std::min(32, cols - g * 32);
        switch ((r * 5 + g) % 6) {
          case 1: std::fill(v, v + n, 0.0f); break;
          case 2: for (int k = 0; k < n; ++k) v[k] = float(k % 5) * 1e-44f; break;  // subnormal
          case 3:  // max 127 * 0.25: d = 0.25, every value an exact half
            v[0] = 31.75f;
            for (int k = 1; k < n; ++k) v[k] = (float(k - 16) + 0.5f) * 0.25f;
            break;
          case 4: v[n / 2] = NAN; break;
          case 5: v[n - 1] = -INFINITY; break;
          default: break;
        }
      }
    INFO("cols " << cols);
    DeviceArray<float> dx(x), dout(size_t(rows) * cols);
    round_input_groups(nullptr, dx.get(), ldx, dout.get(), cols, rows);
    const std::vector<float> got = dout.read(), want = rounded_on_host(x, ldx, cols, rows);
    for (size_t i = 0; i < want.size(); ++i) {
      INFO("row " << i / cols << " column " << i % cols);
      if (std::isnan(want[i])) REQUIRE(std::isnan(got[i]));
      else REQUIRE(std::memcmp(&got[i], &want[i], 4) == 0);
    }
  }
}
