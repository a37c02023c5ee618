#include "backend/cpu/linear_q4.hpp"

#include "backend/cpu/q4_activations.hpp"
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
struct QVec {
  static constexpr size_t kStep = 2;
  using Acc = float;
  struct Codes {
    const uint8_t* bytes;
    size_t groups;
  };
  struct Ints {
    int32_t g0, g1;
  };
  static constexpr size_t kRowsFor4 = 2, kRowsFor3 = 2, kRowsFor2 = 2, kRowsFor1 = 4;
  static MMB_KERNEL Acc zero() { return 0.0f; }
  static MMB_KERNEL Codes unpack(const uint8_t* p, size_t n) { return {p, n}; }
  // One group's codes (16 bytes) against its columns 0-15 and 16-31.
  static MMB_KERNEL int32_t group_dot(const uint8_t* c, const int8_t* low, const int8_t* high) {
    int32_t s = 0;
    for (size_t k = 0; k < kQ4GroupBytes; ++k) s += int32_t(c[k] & 0x0f) * low[k] + int32_t(c[k] >> 4) * high[k];
    return s;
  }
  static MMB_KERNEL Ints dot(const Codes& c, const int8_t* low, const int8_t* high, const int32_t* o) {
    const int32_t lanes = int32_t(kQ4LanesPerGroup);
    return {group_dot(c.bytes, low, high) + lanes * o[0],
            c.groups < 2 ? 0 : group_dot(c.bytes + kQ4GroupBytes, low + 16, high + 16) + lanes * o[kQ4LanesPerGroup]};
  }
  static MMB_KERNEL Acc fma(const Ints& a, const float* p, Acc acc) {
    return __builtin_fmaf(float(a.g1), p[1], __builtin_fmaf(float(a.g0), p[0], acc));
  }
  static MMB_KERNEL float sum(Acc a) { return a; }
  static MMB_KERNEL void prefetch_l2(const void*) {}
  static MMB_KERNEL void multiply_run(const float* a, const float* b, float* out) {
    for (size_t k = 0; k < kQ4ScaleRun; ++k) out[k] = a[k] * b[k];
  }
  static MMB_KERNEL void scales(const std::byte* s, size_t g, size_t n, float* out) {
    for (size_t k = 0; k < kQ4ScaleRun; ++k) out[k] = k < n ? q8_scale_at(s, g + k) : 0.0f;
  }
  static MMB_KERNEL float quantize_group(const float* x, size_t n, int8_t* q, int32_t* sum) {
    return quantize_q4_group(x, n, q, sum);
  }
};

#include "backend/cpu/linear_q4_dot.inc"

#undef MMB_KERNEL
#undef MMB_KERNEL_ENTRY

// A group's 32 codes as signed values, in column order: the low nibbles of its 16
// bytes, then the high ones.
void unpack_group(const uint8_t* g, float* q) {
  for (size_t j = 0; j < kQ4GroupBytes; ++j) {
    q[j] = float(int(g[j] & 0x0f) - kQ4Zero);
    q[j + kQ4GroupBytes] = float(int(g[j] >> 4) - kQ4Zero);
  }
}

}  // namespace

void q4_rows_portable(const Matrix& W, size_t r0, size_t r1, const float* const* xs, float* const* ys, size_t n) {
  q4_rows(W, r0, r1, xs, ys, n);
}

void q4_load_row(const Matrix& W, uint64_t r, float* out) {
  const auto* codes = reinterpret_cast<const uint8_t*>(W.data) + r * q4_row_bytes(W.cols);
  const std::byte* scales = W.scales + 2 * r * q4_groups(W.cols);
  for (uint64_t c0 = 0, g = 0; c0 < W.cols; c0 += kQ4Group, ++g) {
    float q[kQ4Group];
    unpack_group(codes + g * kQ4GroupBytes, q);
    const float s = q8_scale_at(scales, g);
    for (uint64_t c = c0; c < std::min<uint64_t>(W.cols, c0 + kQ4Group); ++c) out[c] = q[c - c0] * s;
  }
}

}  // namespace mmb::cpu
