// ffn_activation for every expert kind against the same formulas in double: within
// 1e-6 relative + 1e-7 (f32 exp, erf, tanh).
#include "cuda_test_support.hpp"
#include "ffn_activation.cuh"

using namespace mmb::cuda;
using namespace mmb::cuda::test;

namespace {

double activate(FfnActivation act, double x) {
  switch (act) {
    case FfnActivation::ReLU: return x > 0 ? x : 0;
    case FfnActivation::GELU:
    case FfnActivation::GeGLU: return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
    case FfnActivation::GELUTanh: return 0.5 * x * (1 + std::tanh(0.79788456080286536 * (x + 0.044715 * x * x * x)));
    case FfnActivation::SiLU:
    case FfnActivation::SwiGLU: return x / (1 + std::exp(-x));
    case FfnActivation::ReLU2: return x > 0 ? x * x : 0;
  }
  return x;
}

}  // namespace

TEST_CASE("ffn_activation: relu, gelu, gelu_tanh, silu, swiglu, geglu, relu2", "[cuda][experts]") {
  const int d_ff = 67, n = 3;
  for (FfnActivation act : {FfnActivation::ReLU, FfnActivation::GELU, FfnActivation::GELUTanh, FfnActivation::SiLU,
                            FfnActivation::SwiGLU, FfnActivation::GeGLU, FfnActivation::ReLU2}) {
    INFO("act " << int(act));
    const bool gated = act == FfnActivation::SwiGLU || act == FfnActivation::GeGLU;
    Rng rng(40 + int(act));
    const std::vector<float> h = rng.values(size_t(n) * d_ff, -6.0f, 6.0f), u = rng.values(size_t(n) * d_ff);
    DeviceArray<float> dh(h), du(u);
    ffn_activation(nullptr, act, dh.get(), du.get(), d_ff, n);
    std::vector<double> expected(h.size());
    for (size_t i = 0; i < h.size(); ++i) expected[i] = activate(act, h[i]) * (gated ? u[i] : 1.0);
    check_close(dh.read(), expected, 1e-7, 1e-6);
  }
}
