// Eight floats as one value: GCC and clang turn its arithmetic into one AVX register in
// the x86-64-v3 clone and two SSE or NEON registers elsewhere, without reassociating
// floats. Unaligned loads and stores go through memcpy. Shared by the layers whose
// inner loops are short dot products and axpys (Mamba-2 heads, attention heads).
#pragma once

#include <cstddef>
#include <cstring>

namespace mmb::cpu {

typedef float Vec8 __attribute__((vector_size(32)));

inline Vec8 load8(const float* p) {
  Vec8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store8(float* p, Vec8 v) { std::memcpy(p, &v, sizeof v); }
inline float total8(Vec8 v) { return ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7])); }

inline float dot(const float* a, const float* b, size_t n) {
  Vec8 acc = {};
  size_t i = 0;
  for (; i + 8 <= n; i += 8) acc += load8(a + i) * load8(b + i);
  float tail = 0.0f;
  for (; i < n; ++i) tail += a[i] * b[i];
  return total8(acc) + tail;
}

}  // namespace mmb::cpu
