#include "embedding.cuh"
#include "launch.cuh"
#include "plugin_error.hpp"
#include "weight_element.cuh"

namespace mmb::cuda {

namespace {

template <typename T>
__global__ void embedding_gather_kernel(const T* embed, uint32_t d, const int32_t* tokens, float* out) {
  const int r = blockIdx.y;
  const T* row = embed + size_t(tokens[r]) * d;
  for (uint32_t j = blockIdx.x * blockDim.x + threadIdx.x; j < d; j += gridDim.x * blockDim.x)
    out[size_t(r) * d + j] = to_float(row[j]);
}

}  // namespace

void embedding_gather(cudaStream_t stream, const DeviceMatrix& embed, const int32_t* tokens, float* out, int n) {
  if (n == 0) return;
  const dim3 grid((embed.cols + 255) / 256, n);
  with_weight_type(embed.type, [&](auto t) {
    using T = decltype(t);
    launch_kernel(embedding_gather_kernel<T>, grid, 256, stream, static_cast<const T*>(embed.data), embed.cols, tokens,
                  out);
  });
  MMB_CUDA_LAUNCHED("embedding_gather_kernel");
}

}  // namespace mmb::cuda
