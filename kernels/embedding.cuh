// Embedding gather: out[r, :] = f32(embed[tokens[r], :]) for r in [0, n).
#pragma once

#include "device_matrix.hpp"

#include <cuda_runtime.h>

namespace mmb::cuda {

void embedding_gather(cudaStream_t stream, const DeviceMatrix& embed, const int32_t* tokens, float* out, int n);

}  // namespace mmb::cuda
