// What the kernel tests share: device arrays that free themselves, seeded random
// values, weights of each WeightType uploaded together with the f32 values the device
// sees (after rounding), and the comparison the tolerances are stated in.
#pragma once

#include "device_matrix.hpp"

#include "base/dtype.hpp"
#include "support/splitmix_rng.hpp"

#include <catch2/catch.hpp>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace mmb::cuda::test {

#define CUDA_REQUIRE(call) REQUIRE((call) == cudaSuccess)

template <typename T>
class DeviceArray {
 public:
  explicit DeviceArray(size_t n) : n_(n) {
    CUDA_REQUIRE(cudaMalloc(&data_, std::max<size_t>(n, 1) * sizeof(T)));
    CUDA_REQUIRE(cudaMemset(data_, 0, std::max<size_t>(n, 1) * sizeof(T)));
  }
  explicit DeviceArray(const std::vector<T>& host) : DeviceArray(host.size()) {
    CUDA_REQUIRE(cudaMemcpy(data_, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  }
  ~DeviceArray() { cudaFree(data_); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  T* get() const { return data_; }
  std::vector<T> read() const {
    std::vector<T> out(n_);
    CUDA_REQUIRE(cudaDeviceSynchronize());
    CUDA_REQUIRE(cudaMemcpy(out.data(), data_, n_ * sizeof(T), cudaMemcpyDeviceToHost));
    return out;
  }

 private:
  T* data_ = nullptr;
  size_t n_;
};

using Rng = mmb::testing::SplitMixRng;

inline const char* type_name(WeightType t) {
  return t == WeightType::F32 ? "f32" : t == WeightType::F16 ? "f16" : "bf16";
}

// A [rows, cols] weight matrix on the device and its values as the device reads them.
struct TestMatrix {
  std::vector<float> values;  // rounded to the type
  DeviceArray<uint8_t> bytes;
  DeviceMatrix matrix;

  TestMatrix(const std::vector<float>& v, uint32_t rows, uint32_t cols, WeightType type)
      : values(v), bytes(encode(values, type)) {
    matrix = DeviceMatrix{bytes.get(), type, rows, cols};
  }

  static std::vector<uint8_t> encode(std::vector<float>& v, WeightType type) {
    std::vector<uint8_t> out;
    if (type == WeightType::F32) {
      out.resize(v.size() * 4);
      std::memcpy(out.data(), v.data(), out.size());
      return out;
    }
    out.resize(v.size() * 2);
    for (size_t i = 0; i < v.size(); ++i) {
      uint16_t h;
      if (type == WeightType::F16) {
        h = f32_to_f16(v[i]);
        v[i] = f16_to_f32(h);
      } else {
        h = f32_to_bf16(v[i]);
        v[i] = bf16_to_f32(h);
      }
      std::memcpy(out.data() + 2 * i, &h, 2);
    }
    return out;
  }
};

// Every entry within tol_abs + tol_rel * |expected|.
inline void check_close(const std::vector<float>& got, const std::vector<double>& expected, double tol_abs,
                        double tol_rel) {
  REQUIRE(got.size() == expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("entry " << i << ": got " << got[i] << ", expected " << expected[i]);
    REQUIRE(std::abs(double(got[i]) - expected[i]) <= tol_abs + tol_rel * std::abs(expected[i]));
  }
}

}  // namespace mmb::cuda::test
