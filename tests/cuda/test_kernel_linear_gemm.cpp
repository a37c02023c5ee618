// linear_gemm (cuBLAS, f32 accumulation, X split into 16-bit parts for 16-bit
// weights) against a double-precision product with f32 activations: within 1e-5 of
// sum |w x| for every weight type (the parts keep X to f32 precision). A partial
// buffer too small for all rows at once makes the kernel work in chunks of rows; rows
// of magnitude 1e6 (beyond f16's range) go through the per-row scaling.
#include "cuda_test_support.hpp"
#include "linear_gemm.cuh"

#include <cublas_v2.h>

using namespace mmb::cuda;
using namespace mmb::cuda::test;

TEST_CASE("linear_gemm: cuBLAS projection over many rows", "[cuda][linear][cublas]") {
  cublasHandle_t handle = nullptr;
  REQUIRE(cublasCreate(&handle) == CUBLAS_STATUS_SUCCESS);
  for (WeightType type : {WeightType::F32, WeightType::F16, WeightType::BF16})
    for (int n : {kGemmMinRows, 77})
      for (bool chunked : {false, true}) {
        INFO(type_name(type) << " n " << n << " chunked " << chunked);
        const int out = 129, in = 203, ldx = in + 1, ldy = out + 3;
        Rng rng(uint64_t(n) + 100);
        TestMatrix w(rng.values(size_t(out) * in), out, in, type);
        const std::vector<float> bias = rng.values(out);
        std::vector<float> x = rng.values(size_t(n) * ldx);
        for (int i = 0; i < ldx; ++i) x[size_t(n / 2) * ldx + i] *= 1e6f;  // one row far beyond f16's range
        DeviceArray<float> dbias(bias), dx(x), dy(size_t(n) * ldy);
        // Chunked: room for 10 rows' products (with 3 parts).
        const size_t partial_floats = chunked ? size_t(3) * 10 * out : size_t(3) * n * out;
        DeviceArray<uint16_t> parts(3 * size_t(n) * in);
        DeviceArray<float> partial(partial_floats), row_scale(n);
        linear_gemm(handle, nullptr, w.matrix, dbias.get(), dx.get(), ldx, dy.get(), ldy, n,
                    GemmScratch{parts.get(), partial.get(), partial_floats, row_scale.get()});
        const std::vector<float> y = dy.read();
        const double tol = 1e-5;
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
