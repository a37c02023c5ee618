// Routing on the device (DESIGN.md section 5), for MoE layers and routed projections.
//
// route_rows: per row r, p = act(scores[r, :]) (softmax, sigmoid or relu; scores are
// the router's logits, router bias included); the top_k experts by p + sel_bias (ties
// to the lower index; sel_bias only chooses); gate = p of each chosen, renormalized to
// sum 1 when renorm (and the sum > 0), times routed_scale. Writes the choices in
// ascending expert order (the order the CPU sums them): experts[r, k], gates[r, k].
// scores[r, :] is overwritten with p.
//
// group_by_expert: from experts[n, top_k], the members of each expert in ascending
// (row, k) order: counts[e], offsets[e] (exclusive prefix sum), and for member m
// in_rows[m] = r, pair_rows[m] = r * top_k + k (the row of that choice's output in a
// [n * top_k, *] buffer). One block; no host synchronisation.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace mmb::cuda {

enum class RouterActivation : uint8_t { Softmax = 0, Sigmoid = 1, ReLU = 2 };

struct RouteArgs {
  float* scores;           // [n, n_experts]
  const float* sel_bias;   // [n_experts] or null
  int32_t* experts;        // [n, top_k]
  float* gates;            // [n, top_k]
  int n_experts, top_k;
  RouterActivation act;
  bool renorm;
  float routed_scale;
};

void route_rows(cudaStream_t stream, const RouteArgs& args, int n);

struct ExpertGroups {
  int32_t* counts;     // [n_experts]
  int32_t* offsets;    // [n_experts]
  int32_t* in_rows;    // [n * top_k]
  int32_t* pair_rows;  // [n * top_k]
};

void group_by_expert(cudaStream_t stream, const int32_t* experts, int n, int top_k, int n_experts,
                     const ExpertGroups& groups);

}  // namespace mmb::cuda
