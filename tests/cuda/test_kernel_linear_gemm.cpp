// linear_gemm (cuBLAS, f32 accumulation, X as hi + lo halves for 16-bit weights)
// against a double-precision product with f32 activations: within 1e-5 of sum |w x|
// for f32 and f16 weights and 3e-5 for bf16 (hi + lo keeps ~16 bits of X there).
#include "cuda_test_support.hpp"
#include "linear_gemm.cuh"

#include <cublas_v2.h>

using namespace mmb::cuda;
using namespace mmb::cuda::test;

TEST_CASE("linear_gemm: cuBLAS projection over many rows", "[cuda][linear][cublas]") {
  cublasHandle_t handle = nullptr;
  REQUIRE(cublasCreate(&handle) == CUBLAS_STATUS_SUCCESS);
  for (WeightType type : {WeightType::F32, WeightType::F16, WeightType::BF16})
    for (int n : {kGemmMinRows, 77}) {
      INFO(type_name(type) << " n " << n);
      const int out = 129, in = 203, ldx = in + 1, ldy = out + 3;
      Rng rng(uint64_t(n) + 100);
      TestMatrix w(rng.values(size_t(out) * in), out, in, type);
      const std::vector<float> bias = rng.values(out), x = rng.values(size_t(n) * ldx);
      DeviceArray<float> dbias(bias), dx(x), dy(size_t(n) * ldy);
      DeviceArray<uint16_t> staging(2 * size_t(n) * in);
      linear_gemm(handle, nullptr, w.matrix, dbias.get(), dx.get(), ldx, dy.get(), ldy, n, staging.get());
      const std::vector<float> y = dy.read();
      const double tol = type == WeightType::BF16 ? 3e-5 : 1e-5;
      for (int r = 0; r < n; ++r)
        for (int j = 0; j < out; ++j) {
          double acc = bias[j], mag = std::abs(bias[j]);
          for (int i = 0; i < in; ++i) {
            acc += double(w.values[size_t(j) * in + i]) * x[size_t(r) * ldx + i];
            mag += std::abs(double(w.values[size_t(j) * in + i]) * x[size_t(r) * ldx + i]);
          }
          INFO("row " << r << " out " << j);
          REQUIRE(std::abs(y[size_t(r) * ldy + j] - acc) <= tol * mag + 1e-7);
        }
    }
  cublasDestroy(handle);
}
