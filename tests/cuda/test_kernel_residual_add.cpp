// add_rows: y += x over strided rows, exactly (one f32 addition per entry).
#include "cuda_test_support.hpp"
#include "residual_add.cuh"

using namespace mmb::cuda;
using namespace mmb::cuda::test;

TEST_CASE("add_rows: y += x over strided rows", "[cuda][residual]") {
  const int n = 4, d = 45, ldy = 48, ldx = 50;
  Rng rng(8);
  const std::vector<float> y = rng.values(size_t(n) * ldy), x = rng.values(size_t(n) * ldx);
  DeviceArray<float> dy(y), dx(x);
  add_rows(nullptr, dy.get(), ldy, dx.get(), ldx, d, n);
  const std::vector<float> got = dy.read();
  for (int r = 0; r < n; ++r)
    for (int j = 0; j < ldy; ++j) {
      const size_t i = size_t(r) * ldy + j;
      REQUIRE(got[i] == (j < d ? y[i] + x[size_t(r) * ldx + j] : y[i]));
    }
}
