// expert_combine: the gated sum of each row's chosen outputs, with and without the
// 1/rms scale of normalize_expert_output; within 1e-6 relative + 1e-7.
#include "cuda_test_support.hpp"
#include "expert_combine.cuh"

using namespace mmb::cuda;
using namespace mmb::cuda::test;

TEST_CASE("expert_combine: sum of gate x output per row", "[cuda][experts]") {
  const int n = 5, K = 3, d = 45, ld_pair = 50, ldo = 47;
  for (bool scaled : {false, true}) {
    INFO("scaled " << scaled);
    Rng rng(21 + scaled);
    const std::vector<float> pairs = rng.values(size_t(n) * K * ld_pair), gates = rng.values(size_t(n) * K, 0.0f, 1.0f),
                             inv = rng.values(size_t(n) * K, 0.5f, 2.0f);
    DeviceArray<float> dpairs(pairs), dgates(gates), dinv(inv), out(size_t(n) * ldo);
    expert_combine(nullptr, dpairs.get(), ld_pair, dgates.get(), scaled ? dinv.get() : nullptr, K, out.get(), ldo, d,
                   n);
    const std::vector<float> all = out.read();
    std::vector<float> got;
    std::vector<double> expected;
    for (int r = 0; r < n; ++r)
      for (int j = 0; j < d; ++j) {
        got.push_back(all[size_t(r) * ldo + j]);
        double acc = 0;
        for (int k = 0; k < K; ++k) {
          const int p = r * K + k;
          acc += double(gates[p]) * (scaled ? inv[p] : 1.0) * pairs[size_t(p) * ld_pair + j];
        }
        expected.push_back(acc);
      }
    check_close(got, expected, 1e-7, 1e-6);
  }
}
