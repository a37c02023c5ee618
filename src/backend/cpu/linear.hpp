// Matrix times many vectors: y_b = W x_b (+ bias) for b in [0, n). The weights are
// read once for all n vectors (a decode batch or a prefill chunk), which is what
// turns matrix-vector into matrix-matrix work. f32 accumulation for every dtype.
#pragma once

#include "backend/cpu/quantized_input.hpp"
#include "base/function_ref.hpp"
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

// The vectors a product multiplies, prepared once for every task of it: for q8 and q4
// weights quantized per group (quantized_input.hpp), so that the tasks do not each
// quantize the same vectors; other dtypes take them as they are.
struct LinearInput {
  const float* const* xs;
  size_t n;
  const QuantizedInput* quantized = nullptr;  // null: not q8 or q4, or each task quantizes
};

// Whether each task of a product of W would quantize the input for itself (q8 or q4
// vectors too many for one buffer): a caller splitting the work its own way then does
// better through linear(), which quantizes them once per part of the rows.
inline bool quantized_per_task(const Matrix& W, const LinearInput& in) {
  return dtype_quantized(W.dtype) && !in.quantized;
}

// Runs f with W's input xs[0..n) prepared: for q8 and q4, quantized on this thread into
// a buffer on its stack (kQuantizedInputStackBytes) when they fit, else left for each
// task to quantize in turn (same bits). Nothing is allocated: steps do not allocate.
void with_linear_input(const Matrix& W, const float* const* xs, size_t n, FunctionRef<void(const LinearInput&)> f);

// Rows [r0, r1) of linear(), on the calling thread: for callers that split the work
// themselves and do more with their rows in the same task. The same bits as linear().
void linear_rows(const Matrix& W, const Matrix& bias, size_t r0, size_t r1, const LinearInput& in, float* const* ys);

}  // namespace mmb::cpu
