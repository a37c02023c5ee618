// The gated sum of the chosen experts' outputs for each row:
//   out[r, j] = sum_k gates[r, k] * scale[r * top_k + k] * pair_out[r * top_k + k, j]
// with k in ascending expert order (route_rows' order), scale = 1 when inv_rms is
// null, else inv_rms (normalize_expert_output: 1 / rms of that expert's output).
#pragma once

#include <cuda_runtime.h>

namespace mmb::cuda {

void expert_combine(cudaStream_t stream, const float* pair_out, int ld_pair, const float* gates,
                    const float* inv_rms, int top_k, float* out, int ldo, int d, int n);

}  // namespace mmb::cuda
