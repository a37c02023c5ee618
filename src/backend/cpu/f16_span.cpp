#include "backend/cpu/f16_span.hpp"

#include "backend/cpu/simd_dispatch.hpp"
#include "base/dtype.hpp"

namespace mmb::cpu {

namespace {

#if MMB_HAVE_AVX2_PATH
__attribute__((target("avx,f16c"))) size_t widen_f16c(const uint16_t* in, float* out, size_t count) {
  size_t i = 0;
  for (; i + 8 <= count; i += 8)
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i))));
  return i;
}

__attribute__((target("avx,f16c"))) size_t narrow_f16c(const float* in, uint16_t* out, size_t count) {
  size_t i = 0;
  for (; i + 8 <= count; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  return i;
}
#endif

#if MMB_HAVE_NEON_PATH
size_t widen_neon(const uint16_t* in, float* out, size_t count) {
  size_t i = 0;
  for (; i + 4 <= count; i += 4) vst1q_f32(out + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(in + i))));
  return i;
}

size_t narrow_neon(const float* in, uint16_t* out, size_t count) {
  size_t i = 0;
  for (; i + 4 <= count; i += 4) vst1_u16(out + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(in + i))));
  return i;
}
#endif

}  // namespace

void f16_to_f32_span(const uint16_t* in, float* out, size_t count) {
  size_t done = 0;
  switch (kernel_path()) {
#if MMB_HAVE_AVX2_PATH
    case KernelPath::AVX512: case KernelPath::AVX2: done = widen_f16c(in, out, count); break;
#endif
#if MMB_HAVE_NEON_PATH
    case KernelPath::NEON: done = widen_neon(in, out, count); break;
#endif
    default: break;
  }
  for (size_t i = done; i < count; ++i) out[i] = f16_to_f32(in[i]);
}

void f32_to_f16_span(const float* in, uint16_t* out, size_t count) {
  size_t done = 0;
  switch (kernel_path()) {
#if MMB_HAVE_AVX2_PATH
    case KernelPath::AVX512: case KernelPath::AVX2: done = narrow_f16c(in, out, count); break;
#endif
#if MMB_HAVE_NEON_PATH
    case KernelPath::NEON: done = narrow_neon(in, out, count); break;
#endif
    default: break;
  }
  for (size_t i = done; i < count; ++i) out[i] = f32_to_f16(in[i]);
}

}  // namespace mmb::cpu
