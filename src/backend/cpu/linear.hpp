// Matrix times many vectors: y_b = W x_b (+ bias) for b in [0, n). The weights are
// read once for all n vectors (a decode batch or a prefill chunk), which is what
// turns matrix-vector into matrix-matrix work. f32 accumulation for every dtype.
#pragma once

#include "base/thread_pool.hpp"
#include "model/model_weights.hpp"

#include <cstddef>

namespace mmb::cpu {

// Most vectors per call; callers with more split them.
inline constexpr size_t kMaxLinearBatch = 64;

// ys[b][r] = sum_c W[r, c] * xs[b][c] (+ bias[r]) for r < W.rows. Rows are spread
// over the pool. Each output is computed by the same code whatever n is, so a batch
// gives bit-identical results to single vectors.
void linear(ThreadPool& pool, const Matrix& W, const Matrix& bias, const float* const* xs,
            float* const* ys, size_t n);
// Rows [r0, r1) of linear(), spread over the pool the same way (the head's parts).
void linear(ThreadPool& pool, const Matrix& W, const Matrix& bias, size_t r0, size_t r1, const float* const* xs,
            float* const* ys, size_t n);

// Rows [r0, r1) of linear(), on the calling thread: for callers that split the work
// themselves and do more with their rows in the same task. The same bits as linear().
void linear_rows(const Matrix& W, const Matrix& bias, size_t r0, size_t r1, const float* const* xs,
                 float* const* ys, size_t n);

}  // namespace mmb::cpu
