#include "backend/cpu/linear.hpp"

#include "backend/cpu/linear_simd.hpp"
#include "backend/cpu/linear_quantized.hpp"
#include "backend/cpu/simd_dispatch.hpp"
#include "backend/cpu/weight_load.hpp"
#include "base/q4.hpp"
#include "base/q8.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace mmb::cpu {

namespace {

// 16 independent partial sums let the compiler keep several vector accumulators
// in flight; the fixed order keeps results identical for any batch size.
template <typename T, typename Convert>
[[gnu::always_inline]] inline float dot(const T* w, const float* x, size_t n, Convert convert) {
  constexpr size_t L = 16;
  float acc[L] = {};
  size_t i = 0;
  for (; i + L <= n; i += L)
    for (size_t j = 0; j < L; ++j) acc[j] += convert(w[i + j]) * x[i + j];
  float tail = 0.0f;
  for (; i < n; ++i) tail += convert(w[i]) * x[i];
  for (size_t s = L / 2; s > 0; s /= 2)
    for (size_t j = 0; j < s; ++j) acc[j] += acc[j + s];
  return acc[0] + tail;
}

template <typename T, typename Convert>
[[gnu::always_inline]] inline void rows_kernel(const T* w, size_t cols, size_t r0, size_t r1, const float* const* xs,
                                               float* const* ys, size_t n, Convert convert) {
  for (size_t r = r0; r < r1; ++r) {
    const T* row = w + r * cols;
    for (size_t b = 0; b < n; ++b) ys[b][r] = dot(row, xs[b], cols, convert);
  }
}

MMB_HOT_CLONES void rows_f32(const float* w, size_t cols, size_t r0, size_t r1, const float* const* xs,
                             float* const* ys, size_t n) {
  rows_kernel(w, cols, r0, r1, xs, ys, n, [](float v) { return v; });
}

MMB_HOT_CLONES void rows_f16(const uint16_t* w, size_t cols, size_t r0, size_t r1, const float* const* xs,
                             float* const* ys, size_t n) {
  rows_kernel(w, cols, r0, r1, xs, ys, n, [](uint16_t v) { return half_bits_to_float(v); });
}

MMB_HOT_CLONES void rows_bf16(const uint16_t* w, size_t cols, size_t r0, size_t r1, const float* const* xs,
                              float* const* ys, size_t n) {
  rows_kernel(w, cols, r0, r1, xs, ys, n, [](uint16_t v) { return bfloat_to_float(v); });
}

void rows_portable(const Matrix& W, size_t r0, size_t r1, const float* const* xs, float* const* ys, size_t n) {
  const auto* halves = reinterpret_cast<const uint16_t*>(W.data);
  if (W.dtype == DType::F32) return rows_f32(reinterpret_cast<const float*>(W.data), W.cols, r0, r1, xs, ys, n);
  if (W.dtype == DType::F16) return rows_f16(halves, W.cols, r0, r1, xs, ys, n);
  if (W.dtype == DType::BF16) return rows_bf16(halves, W.cols, r0, r1, xs, ys, n);
}

QuantizedInput quantize_inputs(const float* const* xs, size_t n, size_t cols, int32_t zero, void* buffer) {
  switch (kernel_path()) {
#if MMB_HAVE_AVX2_PATH
    case KernelPath::AVX512:
    case KernelPath::AVX2: return quantize_inputs_x86(xs, n, cols, zero, buffer);
#endif
#if MMB_HAVE_NEON_PATH
    case KernelPath::NEON: return quantize_inputs_neon(xs, n, cols, zero, buffer);
#endif
    default: return quantize_inputs_portable(xs, n, cols, zero, buffer);
  }
}

// W (q8 or q4) against the quantized vectors x.
void quantized_rows(const Matrix& W, size_t r0, size_t r1, const QuantizedInput& x, float* const* ys) {
  const bool q8 = W.dtype == DType::Q8;
  switch (kernel_path()) {
#if MMB_HAVE_AVX2_PATH
    case KernelPath::AVX512: return (q8 ? q8_rows_avx512 : q4_rows_avx512)(W, r0, r1, x, ys);
    case KernelPath::AVX2: return (q8 ? q8_rows_avx2 : q4_rows_avx2)(W, r0, r1, x, ys);
#endif
#if MMB_HAVE_NEON_PATH
    case KernelPath::NEON: return (q8 ? q8_rows_neon : q4_rows_neon)(W, r0, r1, x, ys);
#endif
    default: return (q8 ? q8_rows_portable : q4_rows_portable)(W, r0, r1, x, ys);
  }
}

// The quantized input in a buffer on this frame's stack, for f. Not inlined: a caller
// that takes the other way (each task quantizing on its own stack) keeps one buffer's
// worth of stack, not two.
[[gnu::noinline]] void with_quantized_input(const Matrix& W, const float* const* xs, size_t n,
                                            FunctionRef<void(const LinearInput&)> f) {
  alignas(64) std::byte buffer[kQuantizedInputStackBytes];
  const QuantizedInput x = quantize_inputs(xs, n, W.cols, input_zero(W.dtype), buffer);
  f(LinearInput{xs, n, &x});
}

// Without a prepared input (too many vectors for one buffer): the vectors quantized as
// many at a time as a buffer on the stack holds; a vector too wide for it (over ~21,000
// columns) gives NaN.
void quantized_rows_in_batches(const Matrix& W, size_t r0, size_t r1, const float* const* xs, float* const* ys,
                               size_t n) {
  if (W.cols == 0) {  // an empty sum (and nothing to divide the buffer by)
    for (size_t v = 0; v < n; ++v) std::fill(ys[v] + r0, ys[v] + r1, 0.0f);
    return;
  }
  alignas(64) std::byte buffer[kQuantizedInputStackBytes];
  const size_t batch = sizeof buffer / quantized_input_bytes(W.cols);
  if (batch == 0) {
    for (size_t v = 0; v < n; ++v) std::fill(ys[v] + r0, ys[v] + r1, NAN);
    return;
  }
  for (size_t v0 = 0; v0 < n; v0 += batch) {
    const size_t nv = std::min(batch, n - v0);
    quantized_rows(W, r0, r1, quantize_inputs(xs + v0, nv, W.cols, input_zero(W.dtype), buffer), ys + v0);
  }
}

}  // namespace

void load_row(const Matrix& m, uint64_t r, float* out) {
  if (m.dtype == DType::Q8) return dequantize_q8_row(m.data, m.rows, m.cols, r, out);
  if (m.dtype == DType::Q4) return dequantize_q4_row(m.data, m.rows, m.cols, r, out);
  for (uint64_t c = 0; c < m.cols; ++c) out[c] = load(m, r * m.cols + c);
}

void linear(ThreadPool& pool, const Matrix& W, const Matrix& bias, const float* const* xs, float* const* ys,
            size_t n) {
  linear(pool, W, bias, 0, W.rows, xs, ys, n);
}

void linear(ThreadPool& pool, const Matrix& W, const Matrix& bias, size_t r0, size_t r1, const float* const* xs,
            float* const* ys, size_t n) {
  const size_t rows = r1 - r0, cols = W.cols;
  // Blocks of at least 16 rows, and enough blocks for the pool to balance.
  const size_t min_block = 16;
  const size_t threads = size_t(pool.size());
  size_t n_tasks = std::max<size_t>(1, std::min<size_t>(rows / min_block, threads * 4));
  if (n_tasks > threads) n_tasks -= n_tasks % threads;  // even over the threads (x_proj's 80 rows: 4 tasks, not 5)
  if (rows * cols * n < (1u << 17)) n_tasks = 1;  // too little work to be worth waking threads
  with_linear_input(W, xs, n, [&](const LinearInput& in) {
    // q8/q4 vectors too many to quantize once for all tasks: the tasks take them in groups
    // as many as one task quantizes at a time, each group against part of the rows, so
    // that they are quantized once per part of the rows rather than once per task (a
    // prefill chunk against x_proj's 80 rows: once instead of five times).
    const size_t per_task = dtype_quantized(W.dtype) && !in.quantized && W.cols > 0
                                ? kQuantizedInputStackBytes / quantized_input_bytes(W.cols)
                                : 0;
    // As many groups as a multiple of the threads (where there are vectors enough), so
    // that the tasks come out even: 64 vectors of 768 columns in 4 groups of 16 and 2
    // parts of the rows, not 3 groups of 22 and 3 parts (9 tasks on 2 threads).
    const size_t fewest = per_task > 0 ? (n + per_task - 1) / per_task : 1;
    const size_t groups = per_task > 0 ? std::min(n, (fewest + threads - 1) / threads * threads) : 1;
    const size_t group = (n + groups - 1) / groups;
    const size_t parts = groups > 1 ? std::max<size_t>(1, (n_tasks + groups - 1) / groups) : n_tasks;
    const size_t block = (rows + parts - 1) / parts;
    pool.run(groups * parts, [&](size_t task, int) {
      const size_t v0 = task % groups * group, b0 = r0 + task / groups * block, b1 = std::min(r1, b0 + block);
      if (b0 >= b1 || v0 >= n) return;  // (the last groups are empty where n is not a multiple)
      if (groups == 1) return linear_rows(W, bias, b0, b1, in, ys);
      linear_rows(W, bias, b0, b1, LinearInput{xs + v0, std::min(group, n - v0)}, ys + v0);
    });
  });
}

void with_linear_input(const Matrix& W, const float* const* xs, size_t n, FunctionRef<void(const LinearInput&)> f) {
  if (dtype_quantized(W.dtype) && n > 0 && n * quantized_input_bytes(W.cols) <= kQuantizedInputStackBytes)
    return with_quantized_input(W, xs, n, f);
  f(LinearInput{xs, n});
}

void linear_rows(const Matrix& W, const Matrix& bias, size_t r0, size_t r1, const LinearInput& in, float* const* ys) {
  const size_t n = in.n;
  if (in.quantized) {
    quantized_rows(W, r0, r1, *in.quantized, ys);
  } else if (dtype_quantized(W.dtype)) {
    quantized_rows_in_batches(W, r0, r1, in.xs, ys, n);
  } else {
    switch (kernel_path()) {
#if MMB_HAVE_AVX2_PATH
      case KernelPath::AVX512: rows_avx512(W, r0, r1, in.xs, ys, n); break;
      case KernelPath::AVX2: rows_avx2(W, r0, r1, in.xs, ys, n); break;
#endif
#if MMB_HAVE_NEON_PATH
      case KernelPath::NEON: rows_neon(W, r0, r1, in.xs, ys, n); break;
#endif
      default: rows_portable(W, r0, r1, in.xs, ys, n); break;
    }
  }
  if (bias)
    for (size_t r = r0; r < r1; ++r) {
      const float bv = load(bias, r);
      for (size_t b = 0; b < n; ++b) ys[b][r] += bv;
    }
}

}  // namespace mmb::cpu
