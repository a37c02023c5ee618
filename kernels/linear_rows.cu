#include "linear_rows.cuh"
#include "plugin_error.hpp"
#include "weight_element.cuh"

namespace mmb::cuda {

namespace {

constexpr int kWarps = 8;    // outputs per block
constexpr int kRowTile = 8;  // rows sharing one read of a weight element

template <typename T>
__global__ void linear_rows_kernel(const T* plain_w, const float* plain_b, const void* const* group_w,
                                   const float* const* group_b, GroupedRows grouped, int n_plain, int out_dim,
                                   int in_dim, const float* x, int ldx, float* y, int ldy) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int j = blockIdx.x * kWarps + warp;
  if (j >= out_dim) return;
  const int g = blockIdx.y;
  const T* w = plain_w;
  const float* b = plain_b;
  int first = 0, count = n_plain;
  if (group_w) {
    w = static_cast<const T*>(group_w[g]);
    b = group_b ? group_b[g] : nullptr;
    first = grouped.offsets[g];
    count = grouped.counts[g];
  }
  const T* wj = w + size_t(j) * in_dim;
  const float bj = b ? b[j] : 0.0f;
  for (int m0 = 0; m0 < count; m0 += kRowTile) {
    const int tile = min(kRowTile, count - m0);
    const float* xr[kRowTile];
    for (int t = 0; t < kRowTile; ++t) {
      const int m = m0 + min(t, tile - 1);
      const int row = group_w ? grouped.in_rows[first + m] : m;
      xr[t] = x + size_t(row) * ldx;
    }
    float acc[kRowTile] = {};
    for (int i = lane; i < in_dim; i += 32) {
      const float wv = to_float(wj[i]);
#pragma unroll
      for (int t = 0; t < kRowTile; ++t) acc[t] += wv * xr[t][i];
    }
#pragma unroll
    for (int t = 0; t < kRowTile; ++t)
      for (int o = 16; o > 0; o >>= 1) acc[t] += __shfl_xor_sync(0xffffffffu, acc[t], o);
    if (lane == 0)
      for (int t = 0; t < tile; ++t) {
        const int m = m0 + t;
        const int row = group_w ? grouped.out_rows[first + m] : m;
        y[size_t(row) * ldy + j] = acc[t] + bj;
      }
  }
}

}  // namespace

void linear_rows(cudaStream_t stream, const DeviceMatrix& w, const float* bias, const float* x, int ldx, float* y,
                 int ldy, int n) {
  if (n == 0) return;
  const dim3 grid((w.rows + kWarps - 1) / kWarps, 1);
  with_weight_type(w.type, [&](auto t) {
    using T = decltype(t);
    linear_rows_kernel<T><<<grid, kWarps * 32, 0, stream>>>(static_cast<const T*>(w.data), bias, nullptr, nullptr,
                                                            GroupedRows{}, n, int(w.rows), int(w.cols), x, ldx, y,
                                                            ldy);
  });
  MMB_CUDA_LAUNCHED("linear_rows_kernel");
}

void linear_rows_grouped(cudaStream_t stream, const DeviceMatrix& shape, const void* const* weights,
                         const float* const* biases, int n_groups, const GroupedRows& rows, const float* x, int ldx,
                         float* y, int ldy) {
  if (n_groups == 0) return;
  const dim3 grid((shape.rows + kWarps - 1) / kWarps, n_groups);
  with_weight_type(shape.type, [&](auto t) {
    using T = decltype(t);
    linear_rows_kernel<T><<<grid, kWarps * 32, 0, stream>>>(nullptr, nullptr, weights, biases, rows, 0,
                                                            int(shape.rows), int(shape.cols), x, ldx, y, ldy);
  });
  MMB_CUDA_LAUNCHED("linear_rows_kernel (grouped)");
}

}  // namespace mmb::cuda
