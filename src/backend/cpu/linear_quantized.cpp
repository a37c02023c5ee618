#include "backend/cpu/linear_quantized.hpp"

#include "backend/cpu/quantized_input.hpp"
#include "backend/cpu/row_chunks.hpp"
#include "backend/cpu/simd_dispatch.hpp"
#include "backend/cpu/weight_load.hpp"

#include <algorithm>
#include <cmath>
#include <memory>
#include <new>

namespace mmb::cpu {

namespace {

#define MMB_KERNEL __attribute__((always_inline)) inline
#define MMB_KERNEL_ENTRY MMB_HOT_CLONES

// One lane per group: each group's exact integer sum (its four lanes' offsets
// together), converted and multiplied by the group's product of scales in one fused
// step, the groups in order.
struct Scalar {
  static constexpr size_t kStep = 2;
  using Acc = float;
  struct Codes {
    const uint8_t* bytes;
    size_t n;  // bytes of codes
  };
  struct Ints {
    int32_t g0, g1;
  };
  static constexpr size_t kRowsFor4 = 2, kRowsFor3 = 2, kRowsFor2 = 2, kRowsFor1 = 4;
  static MMB_KERNEL Acc zero() { return 0.0f; }
  static MMB_KERNEL Codes unpack(const uint8_t* p, size_t n) { return {p, n}; }
  static MMB_KERNEL Acc fma(const Ints& a, const float* p, Acc acc) {
    return __builtin_fmaf(float(a.g1), p[1], __builtin_fmaf(float(a.g0), p[0], acc));
  }
  static MMB_KERNEL float sum(Acc a) { return a; }
  static MMB_KERNEL void prefetch_l2(const void*) {}
  static MMB_KERNEL void multiply_run(const float* a, const float* b, float* out) {
    for (size_t k = 0; k < kInputScaleRun; ++k) out[k] = a[k] * b[k];
  }
  static MMB_KERNEL void scales(const std::byte* s, size_t g, size_t n, float* out) {
    for (size_t k = 0; k < kInputScaleRun; ++k) out[k] = k < n ? q8_scale_at(s, g + k) : 0.0f;
  }
  static MMB_KERNEL float quantize_group(const float* x, size_t n, int8_t* q) {
    return quantize_input_group(x, n, q);
  }
  static MMB_KERNEL void store_group(const QuantizedInput& a, size_t v, size_t g, const int8_t* q, int32_t zero) {
    store_input_group(a, v, g, q, zero);
  }
  static MMB_KERNEL int32_t lanes(const int32_t* o) { return o[0] + o[1] + o[2] + o[3]; }
  // The step's two groups, each its codes' products (Group::group_dot) plus its lanes'
  // offsets.
  template <typename Group>
  static MMB_KERNEL Ints two_groups(const Codes& c, const int8_t* low, const int8_t* high, const int32_t* o) {
    static_assert(kInputLanesPerGroup == 4, "lanes()");
    const size_t gb = Group::kGroupBytes;
    return {Group::group_dot(c.bytes, std::min(c.n, gb), low, high) + lanes(o),
            c.n <= gb ? 0 : Group::group_dot(c.bytes + gb, c.n - gb, low + 16, high + 16) + lanes(o + kInputLanesPerGroup)};
  }
};

struct Q4 : Scalar {
  static constexpr size_t kGroupBytes = kQ4GroupBytes;
  static constexpr size_t row_bytes(size_t cols) { return q4_row_bytes(cols); }
  // One group's codes (16 bytes) against its columns 0-15 and 16-31.
  static MMB_KERNEL int32_t group_dot(const uint8_t* c, size_t, const int8_t* low, const int8_t* high) {
    int32_t s = 0;
    for (size_t k = 0; k < kQ4GroupBytes; ++k) s += int32_t(c[k] & 0x0f) * low[k] + int32_t(c[k] >> 4) * high[k];
    return s;
  }
  static MMB_KERNEL Ints dot(const Codes& c, const int8_t* low, const int8_t* high, const int32_t* o) {
    return two_groups<Q4>(c, low, high, o);
  }
};

// q8's signed bytes as they are: no offsets.
struct Q8 : Scalar {
  static constexpr size_t kGroupBytes = kQ8Group;
  static constexpr size_t row_bytes(size_t cols) { return cols; }
  // One group's n <= 32 values against its columns 0-15 and 16-31.
  static MMB_KERNEL int32_t group_dot(const uint8_t* c, size_t n, const int8_t* low, const int8_t* high) {
    int32_t s = 0;
    const auto* v = reinterpret_cast<const int8_t*>(c);
    for (size_t k = 0; k < std::min<size_t>(n, 16); ++k) s += int32_t(v[k]) * low[k];
    for (size_t k = 16; k < n; ++k) s += int32_t(v[k]) * high[k - 16];
    return s;
  }
  static MMB_KERNEL Ints dot(const Codes& c, const int8_t* low, const int8_t* high, const int32_t*) {
    static constexpr int32_t none[2 * kInputLanesPerGroup] = {};
    return two_groups<Q8>(c, low, high, none);
  }
};

#include "backend/cpu/linear_quantized_dot.inc"

#undef MMB_KERNEL
#undef MMB_KERNEL_ENTRY

}  // namespace

void q8_rows_portable(const Matrix& W, size_t r0, size_t r1, const QuantizedInput& x, float* const* ys) {
  q8_rows(W, r0, r1, x, ys);
}

void q4_rows_portable(const Matrix& W, size_t r0, size_t r1, const QuantizedInput& x, float* const* ys) {
  q4_rows(W, r0, r1, x, ys);
}

QuantizedInput quantize_inputs_portable(const float* const* xs, size_t n, size_t cols, int32_t zero, void* buffer) {
  return quantize(xs, n, cols, zero, buffer);
}

}  // namespace mmb::cpu
