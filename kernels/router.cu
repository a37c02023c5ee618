#include "launch.cuh"
#include "plugin_error.hpp"
#include "router.cuh"

namespace mmb::cuda {

namespace {

// One thread per row: expert counts are small, and the sequential loops are the
// CPU's own, so choices and ties match it exactly for the same scores.
__global__ void route_rows_kernel(RouteArgs a, int n) {
  const int r = blockIdx.x * blockDim.x + threadIdx.x;
  if (r >= n) return;
  const int E = a.n_experts;
  float* p = a.scores + size_t(r) * E;
  switch (a.act) {
    case RouterActivation::Softmax: {
      float mx = p[0];
      for (int e = 1; e < E; ++e) mx = fmaxf(mx, p[e]);
      float sum = 0.0f;
      for (int e = 0; e < E; ++e) sum += (p[e] = expf(p[e] - mx));
      for (int e = 0; e < E; ++e) p[e] /= sum;
      break;
    }
    case RouterActivation::Sigmoid:
      for (int e = 0; e < E; ++e) p[e] = 1.0f / (1.0f + expf(-p[e]));
      break;
    case RouterActivation::ReLU:
      for (int e = 0; e < E; ++e) p[e] = p[e] > 0.0f ? p[e] : 0.0f;
      break;
  }
  int32_t* chosen = a.experts + size_t(r) * a.top_k;
  float* gates = a.gates + size_t(r) * a.top_k;
  float selected_sum = 0.0f;
  for (int k = 0; k < a.top_k; ++k) {
    int best = E;
    float best_key = 0.0f;
    for (int e = 0; e < E; ++e) {
      bool taken = false;
      for (int q = 0; q < k; ++q) taken |= chosen[q] == e;
      if (taken) continue;
      const float key = p[e] + (a.sel_bias ? a.sel_bias[e] : 0.0f);
      if (best == E || key > best_key) {
        best = e;
        best_key = key;
      }
    }
    chosen[k] = best;
    selected_sum += p[best];
  }
  // Ascending expert order (insertion sort of top_k entries).
  for (int k = 1; k < a.top_k; ++k)
    for (int q = k; q > 0 && chosen[q - 1] > chosen[q]; --q) {
      const int32_t t = chosen[q];
      chosen[q] = chosen[q - 1];
      chosen[q - 1] = t;
    }
  for (int k = 0; k < a.top_k; ++k) {
    float g = p[chosen[k]];
    if (a.renorm && selected_sum > 0.0f) g /= selected_sum;
    gates[k] = g * a.routed_scale;
  }
}

__global__ void group_by_expert_kernel(const int32_t* experts, int n, int top_k, int n_experts, ExpertGroups g) {
  const int pairs = n * top_k;
  for (int e = threadIdx.x; e < n_experts; e += blockDim.x) {
    int count = 0;
    for (int p = 0; p < pairs; ++p) count += experts[p] == e;
    g.counts[e] = count;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    int offset = 0;
    for (int e = 0; e < n_experts; ++e) {
      g.offsets[e] = offset;
      offset += g.counts[e];
    }
  }
  __syncthreads();
  for (int e = threadIdx.x; e < n_experts; e += blockDim.x) {
    int m = g.offsets[e];
    for (int p = 0; p < pairs; ++p)
      if (experts[p] == e) {
        g.in_rows[m] = p / top_k;
        g.pair_rows[m] = p;
        ++m;
      }
  }
}

}  // namespace

void route_rows(cudaStream_t stream, const RouteArgs& args, int n) {
  if (n == 0) return;
  launch_kernel(route_rows_kernel, (n + 63) / 64, 64, stream, args, n);
  MMB_CUDA_LAUNCHED("route_rows_kernel");
}

void group_by_expert(cudaStream_t stream, const int32_t* experts, int n, int top_k, int n_experts,
                     const ExpertGroups& groups) {
  launch_kernel(group_by_expert_kernel, 1, 256, stream, experts, n, top_k, n_experts, groups);
  MMB_CUDA_LAUNCHED("group_by_expert_kernel");
}

}  // namespace mmb::cuda
