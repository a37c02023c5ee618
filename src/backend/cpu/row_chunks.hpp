// How many weight rows the matrix kernels (linear_blocked.inc, linear_quantized_dot.inc)
// take at a time: a chunk of about `target_bytes` stays in L1/L2 while every block of
// vectors passes over it, and holds a whole number of every block height, so that no
// chunk ends in short blocks (a block of fewer rows has fewer accumulators and waits on
// its FMAs' latency).
#pragma once

#include <algorithm>
#include <cstddef>
#include <numeric>

namespace mmb::cpu {

// Blocks: the kernel's traits, with kRowsFor4/3/2/1 (rows per block against 4/3/2/1
// vectors).
template <typename Blocks>
size_t chunk_rows(size_t row_bytes, size_t target_bytes) {
  constexpr size_t kBlockRows =
      std::lcm(std::lcm(Blocks::kRowsFor4, Blocks::kRowsFor3), std::lcm(Blocks::kRowsFor2, Blocks::kRowsFor1));
  if (row_bytes == 0) return kBlockRows;  // rows of no columns: nothing to divide by
  return std::max<size_t>(1, (target_bytes / row_bytes + kBlockRows / 2) / kBlockRows) * kBlockRows;
}

}  // namespace mmb::cpu
