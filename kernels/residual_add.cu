#include "launch.cuh"
#include "plugin_error.hpp"
#include "residual_add.cuh"

namespace mmb::cuda {

namespace {

__global__ void add_rows_kernel(float* y, int ldy, const float* x, int ldx, int d) {
  const int r = blockIdx.y;
  for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < d; j += gridDim.x * blockDim.x)
    y[size_t(r) * ldy + j] += x[size_t(r) * ldx + j];
}

}  // namespace

void add_rows(cudaStream_t stream, float* y, int ldy, const float* x, int ldx, int d, int n) {
  if (n == 0) return;
  launch_kernel(add_rows_kernel, dim3((d + 255) / 256, n), 256, stream, y, ldy, x, ldx, d);
  MMB_CUDA_LAUNCHED("add_rows_kernel");
}

}  // namespace mmb::cuda
