// The Mamba-2 (SSD) layer on the CPU (DESIGN.md section 5, Mamba2Config).
//
// A decode batch has one row per session: each head's state takes one fused step
// (decay, update, read-out in one pass over the state). A run of rows sharing a state
// (a prefill chunk of up to kMaxLinearBatch tokens) goes through the chunked SSD form
// instead: within the chunk, y = (L o C B^T) (dt x) + decayed C s0 with the causal
// decay matrix L, as matrix products; the chunk's final state is the decayed s0 plus
// the chunk's decayed outer products. It equals stepping token by token up to the
// order of the float sums.
#pragma once

#include "backend/cpu/forward.hpp"

#include <memory_resource>
#include <vector>

namespace mmb::cpu {

// Rows [0, n): reads scratch.normed, writes scratch.out; A holds -exp(A_log) per head.
void mamba2_layer(const Mamba2Config& config, const LayerWeights& weights, const std::pmr::vector<float>& A,
                  ThreadPool& pool, Row* rows, size_t n);

}  // namespace mmb::cpu
