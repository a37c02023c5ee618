#include "backend/cpu/silu_span.hpp"

#include "backend/cpu/activations.hpp"
#include "backend/cpu/vector_channels.hpp"

#include <cmath>

namespace mmb::cpu {

void silu_span(float* v, size_t count) {
  switch (kernel_path()) {
#if MMB_HAVE_AVX2_PATH
    case KernelPath::AVX512: return silu_avx512(v, count);
    case KernelPath::AVX2: return silu_avx2(v, count);
#endif
#if MMB_HAVE_NEON_PATH
    case KernelPath::NEON: return silu_neon(v, count);
#endif
    default: break;
  }
  for (size_t i = 0; i < count; ++i) v[i] = silu(v[i]);
}

void exp_span(float* v, size_t count) {
  switch (kernel_path()) {
#if MMB_HAVE_AVX2_PATH
    case KernelPath::AVX512: return exp_avx512(v, count);
    case KernelPath::AVX2: return exp_avx2(v, count);
#endif
#if MMB_HAVE_NEON_PATH
    case KernelPath::NEON: return exp_neon(v, count);
#endif
    default: break;
  }
  for (size_t i = 0; i < count; ++i) v[i] = std::exp(v[i]);
}

}  // namespace mmb::cpu
