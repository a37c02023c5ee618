#include "input_rounding.cuh"
#include "launch.cuh"
#include "plugin_error.hpp"

namespace mmb::cuda {

namespace {

constexpr int kGroup = 32;          // one warp per group
constexpr int kGroupsPerBlock = 8;

__global__ void round_input_groups_kernel(const float* x, int ldx, float* out, int cols) {
  const int r = blockIdx.y;
  const int c = (blockIdx.x * kGroupsPerBlock + threadIdx.x / kGroup) * kGroup + threadIdx.x % kGroup;
  // Lanes past the row's end stand for zeros, as a short last group is padded.
  const float v = c < cols ? x[size_t(r) * ldx + c] : 0.0f;
  float m = fabsf(v);
  bool finite = isfinite(v);
  for (int o = 16; o > 0; o >>= 1) {
    m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    finite = __shfl_xor_sync(0xffffffffu, int(finite), o) != 0 && finite;
  }
  const float d = m / 127.0f;
  float q = 0.0f;
  if (!finite) q = NAN;
  else if (d != 0.0f) q = d * fminf(fmaxf(rintf(v / d), -127.0f), 127.0f);
  if (c < cols) out[size_t(r) * cols + c] = q;
}

}  // namespace

void round_input_groups(cudaStream_t stream, const float* x, int ldx, float* out, int cols, int rows) {
  if (rows == 0 || cols == 0) return;
  const int groups = (cols + kGroup - 1) / kGroup;
  launch_kernel(round_input_groups_kernel, dim3((groups + kGroupsPerBlock - 1) / kGroupsPerBlock, rows),
                kGroup * kGroupsPerBlock, stream, x, ldx, out, cols);
  MMB_CUDA_LAUNCHED("round_input_groups_kernel");
}

}  // namespace mmb::cuda
