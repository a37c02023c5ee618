#include "linear_rows.cuh"
#include "launch.cuh"
#include "plugin_error.hpp"
#include "weight_element.cuh"

#include <cstdint>

namespace mmb::cuda {

namespace {

constexpr int kWarps = 8;    // outputs per block
constexpr int kRowTile = 8;  // rows sharing one read of a weight element

// 16 bytes of weights as f32: 4 floats or 8 halves.
template <typename T>
struct Vec;
template <>
struct Vec<float> {
  static constexpr int kWidth = 4;
  __device__ static void load(const float* p, float* out) {
    const float4 v = *reinterpret_cast<const float4*>(p);
    out[0] = v.x, out[1] = v.y, out[2] = v.z, out[3] = v.w;
  }
};
template <>
struct Vec<__half> {
  static constexpr int kWidth = 8;
  __device__ static void load(const __half* p, float* out) {
    const uint4 v = *reinterpret_cast<const uint4*>(p);
    const __half2* h = reinterpret_cast<const __half2*>(&v);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const float2 f = __half22float2(h[k]);
      out[2 * k] = f.x, out[2 * k + 1] = f.y;
    }
  }
};
template <>
struct Vec<__nv_bfloat16> {
  static constexpr int kWidth = 8;
  __device__ static void load(const __nv_bfloat16* p, float* out) {
    const uint4 v = *reinterpret_cast<const uint4*>(p);
    const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&v);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const float2 f = __bfloat1622float2(h[k]);
      out[2 * k] = f.x, out[2 * k + 1] = f.y;
    }
  }
};

// kVector: 16-byte loads (the host checked the widths and alignments); else one
// element per lane per iteration, for any size and stride.
template <typename T, bool kVector>
__global__ void linear_rows_kernel(const T* plain_w, const float* plain_b, const void* const* group_w,
                                   const float* const* group_b, GroupedRows grouped, int n_plain, int out_dim,
                                   int in_dim, const float* x, int ldx, float* y, int ldy) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int j = blockIdx.x * kWarps + warp;
  if (j >= out_dim) return;  // the whole warp: j depends on the warp only
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
#pragma unroll
    for (int t = 0; t < kRowTile; ++t) {
      const int m = m0 + min(t, tile - 1);  // rows past the tile repeat the last (not written)
      const int row = group_w ? grouped.in_rows[first + m] : m;
      xr[t] = x + size_t(row) * ldx;
    }
    float acc[kRowTile] = {};
    if constexpr (kVector) {
      constexpr int V = Vec<T>::kWidth;
      for (int i = lane * V; i < in_dim; i += 32 * V) {
        float wv[V];
        Vec<T>::load(wj + i, wv);
#pragma unroll
        for (int t = 0; t < kRowTile; ++t) {
#pragma unroll
          for (int q = 0; q < V; q += 4) {
            const float4 xv = *reinterpret_cast<const float4*>(xr[t] + i + q);
            acc[t] += wv[q] * xv.x + wv[q + 1] * xv.y + wv[q + 2] * xv.z + wv[q + 3] * xv.w;
          }
        }
      }
    } else {
      for (int i = lane; i < in_dim; i += 32) {
        const float wv = to_float(wj[i]);
#pragma unroll
        for (int t = 0; t < kRowTile; ++t) acc[t] += wv * xr[t][i];
      }
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

// 16-byte loads need every weight row and every x row 16-byte aligned: rows of a whole
// number of 16-byte vectors from aligned bases (device allocations are 256-aligned).
bool vector_loads(WeightType type, int in_dim, const float* x, int ldx) {
  const int width = type == WeightType::F32 ? 4 : 8;
  return in_dim % width == 0 && ldx % 4 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0;
}

template <typename T>
void launch(cudaStream_t stream, dim3 grid, bool vector, const T* plain_w, const float* plain_b,
            const void* const* group_w, const float* const* group_b, const GroupedRows& grouped, int n_plain,
            int out_dim, int in_dim, const float* x, int ldx, float* y, int ldy) {
  if (vector)
    launch_kernel(linear_rows_kernel<T, true>, grid, kWarps * 32, stream, plain_w, plain_b, group_w, group_b, grouped,
                  n_plain, out_dim, in_dim, x, ldx, y, ldy);
  else
    launch_kernel(linear_rows_kernel<T, false>, grid, kWarps * 32, stream, plain_w, plain_b, group_w, group_b, grouped,
                  n_plain, out_dim, in_dim, x, ldx, y, ldy);
}

}  // namespace

void linear_rows(cudaStream_t stream, const DeviceMatrix& w, const float* bias, const float* x, int ldx, float* y,
                 int ldy, int n) {
  if (n == 0) return;
  const dim3 grid((w.rows + kWarps - 1) / kWarps, 1);
  const bool vector = vector_loads(w.type, int(w.cols), x, ldx) && reinterpret_cast<uintptr_t>(w.data) % 16 == 0;
  with_weight_type(w.type, [&](auto t) {
    using T = decltype(t);
    launch<T>(stream, grid, vector, static_cast<const T*>(w.data), bias, nullptr, nullptr, GroupedRows{}, n,
              int(w.rows), int(w.cols), x, ldx, y, ldy);
  });
  MMB_CUDA_LAUNCHED("linear_rows_kernel");
}

void linear_rows_grouped(cudaStream_t stream, const DeviceMatrix& shape, const void* const* weights,
                         const float* const* biases, int n_groups, const GroupedRows& rows, const float* x, int ldx,
                         float* y, int ldy) {
  if (n_groups == 0) return;
  const dim3 grid((shape.rows + kWarps - 1) / kWarps, n_groups);
  // Every expert's matrix is its own device allocation (256-byte aligned).
  const bool vector = vector_loads(shape.type, int(shape.cols), x, ldx);
  with_weight_type(shape.type, [&](auto t) {
    using T = decltype(t);
    launch<T>(stream, grid, vector, nullptr, nullptr, weights, biases, rows, 0, int(shape.rows), int(shape.cols), x,
              ldx, y, ldy);
  });
  MMB_CUDA_LAUNCHED("linear_rows_kernel (grouped)");
}

}  // namespace mmb::cuda
