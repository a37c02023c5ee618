// What every layer of the CPU forward uses to work over a batch of rows: pointer
// arrays of one scratch field per row (the form linear() takes), and the split of a
// layer's channels over the thread pool.
#pragma once

#include "backend/cpu/forward.hpp"
#include "backend/cpu/linear.hpp"

#include <algorithm>
#include <cstddef>

namespace mmb::cpu {

using MutablePointers = float* [kMaxLinearBatch];

// Gathers one scratch field of every row into a pointer array for linear().
template <typename Field>
void gather(Row* rows, size_t n, Field field, float** out) {
  for (size_t b = 0; b < n; ++b) out[b] = field(*rows[b].scratch);
}

// Splits [0, channels) over the pool as body(c0, c1) calls. Channels go in runs of 16
// (the vector paths' width) and a task takes whole runs, so the split never depends on
// the threads.
template <typename Body>
void for_channel_runs(ThreadPool& pool, size_t channels, Body body) {
  constexpr size_t kRun = 16;
  const size_t runs = (channels + kRun - 1) / kRun;
  if (runs == 0) return;
  const size_t tasks = std::min(runs, size_t(pool.size()) * 4);
  const size_t per_task = (runs + tasks - 1) / tasks * kRun;
  pool.run(tasks, [&](size_t task, int) {
    const size_t c0 = std::min(channels, task * per_task), c1 = std::min(channels, c0 + per_task);
    if (c0 < c1) body(c0, c1);
  });
}

}  // namespace mmb::cpu
