// The attention layer on the CPU (DESIGN.md section 5, AttentionConfig).
//
// The rows' queries, keys and values come from three projections over all rows at
// once; RoPE turns queries and keys by each row's position; each row's key and value
// go into its session's KV cache; then each (row, key/value head) pair is one task:
// its g query heads walk the cached tokens 0..position once, each key and value
// widened to f32 once for all g heads, with a running (online) softmax. A prefill
// chunk's rows are stored before any reads, so a row sees exactly the tokens a
// single step at its position would: prefill and steps give the same bits.
#pragma once

#include "backend/cpu/forward.hpp"

namespace mmb::cpu {

// Rows [0, n): reads scratch.normed, writes scratch.out; every row's kv has pages for
// its position.
void attention_layer(const AttentionConfig& config, const LayerWeights& weights, ThreadPool& pool, Row* rows, size_t n);

}  // namespace mmb::cpu
