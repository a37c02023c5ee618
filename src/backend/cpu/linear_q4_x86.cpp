// The q4 matrix kernel on x86 (linear_q4_dot.inc): integer dot products, two groups a
// step with VPMADDUBSW + VPMADDWD on AVX2 (VPDPBUSD where the CPU has AVX-VNNI), four
// a step with VPDPBUSD on the AVX-512 path where the CPU has VNNI (else the AVX2
// kernel). No product saturates: a code is
// at most 15 and |q| at most 127.
#include "backend/cpu/linear_simd.hpp"

#include "backend/cpu/avx512_warnings.hpp"
#include "backend/cpu/q4_activations.hpp"
#include "backend/cpu/simd_dispatch.hpp"
#include "backend/cpu/weight_load.hpp"

#include <algorithm>
#include <cstring>
#include <cmath>
#include <cstdint>
#include <memory>
#include <new>

#if MMB_HAVE_AVX2_PATH

namespace mmb::cpu {

namespace {

// What the two kernels share: the scales, the quantizer, the last sum. AVX2 functions, inlined
// into the AVX-512 kernel too (its target includes AVX2's).
#define MMB_X86_COMMON __attribute__((target("avx2,fma,f16c"), always_inline)) inline
struct X86Common {
  // The eight lanes' sum, pairwise (4, 2, 1).
  static MMB_X86_COMMON float sum8(__m256 a) {
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
  }
  static MMB_X86_COMMON void prefetch_l2(const void* p) { _mm_prefetch(static_cast<const char*>(p), _MM_HINT_T1); }
  static MMB_X86_COMMON void multiply_run(const float* a, const float* b, float* out) {
    _mm256_storeu_ps(out, _mm256_mul_ps(_mm256_loadu_ps(a), _mm256_loadu_ps(b)));
  }
  static MMB_X86_COMMON void scales(const std::byte* s, size_t g, size_t n, float* out) {
    static_assert(kQ4ScaleRun == 8, "one conversion of eight");
    if (n == 8) return _mm256_storeu_ps(out, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + 2 * g))));
    _mm256_storeu_ps(out, _mm256_setzero_ps());
    for (size_t k = 0; k < n; ++k) {
      uint16_t h;
      std::memcpy(&h, s + 2 * (g + k), 2);
      out[k] = _cvtsh_ss(h);
    }
  }
  // quantize_q4_group's rule on a whole group of finite values, not all zero; the
  // others go to it.
  static MMB_X86_COMMON float quantize_group(const float* x, size_t n, int8_t* q, int32_t* sum) {
    if (n != kQ4Group) return quantize_q4_group(x, n, q, sum);
    const __m256 sign = _mm256_set1_ps(-0.0f), inf = _mm256_set1_ps(INFINITY);
    __m256 v[4], m = _mm256_setzero_ps(), bad = _mm256_setzero_ps();
    for (size_t k = 0; k < 4; ++k) {
      v[k] = _mm256_loadu_ps(x + 8 * k);
      const __m256 a = _mm256_andnot_ps(sign, v[k]);
      m = _mm256_max_ps(m, a);
      bad = _mm256_or_ps(bad, _mm256_cmp_ps(a, inf, _CMP_NLT_UQ));  // NaN or an infinity
    }
    if (_mm256_movemask_ps(bad)) return quantize_q4_group(x, n, q, sum);
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    const float d = _mm_cvtss_f32(h) / 127.0f;
    if (d == 0.0f) return quantize_q4_group(x, n, q, sum);
    const __m256 dv = _mm256_set1_ps(d), top = _mm256_set1_ps(127.0f), bottom = _mm256_set1_ps(-127.0f);
    __m256i iv[4];
    for (size_t k = 0; k < 4; ++k) {
      const __m256 r = _mm256_round_ps(_mm256_div_ps(v[k], dv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      iv[k] = _mm256_cvttps_epi32(_mm256_min_ps(_mm256_max_ps(r, bottom), top));
    }
    // packs interleaves the 128-bit lanes: dwords come out as 0a 1a 2a 3a 0b 1b 2b 3b.
    const __m256i packed = _mm256_packs_epi16(_mm256_packs_epi32(iv[0], iv[1]), _mm256_packs_epi32(iv[2], iv[3]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q),
                        _mm256_permutevar8x32_epi32(packed, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
    const __m256i t = _mm256_add_epi32(_mm256_add_epi32(iv[0], iv[1]), _mm256_add_epi32(iv[2], iv[3]));
    __m128i u = _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
    u = _mm_add_epi32(u, _mm_shuffle_epi32(u, 0x4e));
    u = _mm_add_epi32(u, _mm_shuffle_epi32(u, 0xb1));
    *sum = _mm_cvtsi128_si32(u);
    return d;
  }
};
#undef MMB_X86_COMMON

namespace avx2 {
#define MMB_KERNEL __attribute__((target("avx2,fma,f16c"), always_inline)) inline
#define MMB_KERNEL_ENTRY __attribute__((target("avx2,fma,f16c")))
// Two groups a step: lanes 0-3 group g, 4-7 group g + 1.
struct QVec : X86Common {
  static constexpr size_t kStep = 2;
  using Acc = __m256;
  struct Codes {
    __m256i low, high;  // low nibbles: g's columns 0-15, g + 1's 0-15; high: their 16-31
  };
  using Ints = __m256i;
  static constexpr size_t kRowsFor4 = 2, kRowsFor3 = 2, kRowsFor2 = 2, kRowsFor1 = 4;
  static MMB_KERNEL Acc zero() { return _mm256_setzero_ps(); }
  static MMB_KERNEL Codes unpack(const uint8_t* p, size_t n) {
    const __m256i b = n == 2 ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))
                             : _mm256_inserti128_si256(_mm256_setzero_si256(),
                                                       _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), 0);
    const __m256i low = _mm256_set1_epi8(0x0f);
    return {_mm256_and_si256(b, low), _mm256_and_si256(_mm256_srli_epi16(b, 4), low)};
  }
  // Pairs of u8 x s8 products into 16 bits (low and high nibbles added: at most
  // 4 x 15 x 127), then pairs of those into 32.
  static MMB_KERNEL Ints dot(const Codes& c, const int8_t* lo, const int8_t* hi, const int32_t* o) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lo));
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(hi));
    const __m256i pairs = _mm256_add_epi16(_mm256_maddubs_epi16(c.low, a), _mm256_maddubs_epi16(c.high, b));
    return _mm256_add_epi32(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)),
                            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(o)));
  }
  static MMB_KERNEL Acc fma(Ints a, const float* p, Acc acc) {
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(a), _mm256_set_m128(_mm_broadcast_ss(p + 1), _mm_broadcast_ss(p)), acc);
  }
  static MMB_KERNEL float sum(Acc a) { return sum8(a); }
};
#include "backend/cpu/linear_q4_dot.inc"
#undef MMB_KERNEL
#undef MMB_KERNEL_ENTRY
}  // namespace avx2

namespace avx_vnni {
#define MMB_KERNEL __attribute__((target("avxvnni,avx2,fma,f16c"), always_inline)) inline
#define MMB_KERNEL_ENTRY __attribute__((target("avxvnni,avx2,fma,f16c")))
// The AVX2 kernel with its products summed by the VEX form of VPDPBUSD (AVX-VNNI, in
// CPUs with AVX2 and no AVX-512): the same exact lanes, so the same bits.
struct QVec : avx2::QVec {
  static MMB_KERNEL Ints dot(const Codes& c, const int8_t* lo, const int8_t* hi, const int32_t* o) {
    const __m256i start = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(o));
    return _mm256_dpbusd_avx_epi32(
        _mm256_dpbusd_avx_epi32(start, c.low, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lo))), c.high,
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(hi)));
  }
};
#include "backend/cpu/linear_q4_dot.inc"
#undef MMB_KERNEL
#undef MMB_KERNEL_ENTRY
}  // namespace avx_vnni

namespace vnni {
#define MMB_KERNEL \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c"), always_inline)) inline
#define MMB_KERNEL_ENTRY __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
// Four groups a step in 512-bit registers: lanes 4h to 4h + 3 group g + h; VPDPBUSD sums
// four u8 x s8 products into each 32-bit lane in one instruction, starting from the
// offsets.
struct QVec : X86Common {
  static constexpr size_t kStep = 4;
  using Acc = __m512;
  struct Codes {
    __m512i low, high;  // low nibbles: groups g .. g + 3's columns 0-15; high: their 16-31
  };
  using Ints = __m512i;
  static constexpr size_t kRowsFor4 = 4, kRowsFor3 = 4, kRowsFor2 = 4, kRowsFor1 = 4;
  static MMB_KERNEL Acc zero() { return _mm512_setzero_ps(); }
  // A masked load reads only the n groups' bytes.
  static MMB_KERNEL Codes unpack(const uint8_t* p, size_t n) {
    const __m512i b = n == 4 ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi8((__mmask64(1) << (16 * n)) - 1, p);
    const __m512i low = _mm512_set1_epi8(0x0f);
    return {_mm512_and_si512(b, low), _mm512_and_si512(_mm512_srli_epi16(b, 4), low)};
  }
  static MMB_KERNEL Ints dot(const Codes& c, const int8_t* lo, const int8_t* hi, const int32_t* o) {
    const __m512i start = _mm512_loadu_si512(o);
    return _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(start, c.low, _mm512_loadu_si512(lo)), c.high,
                               _mm512_loadu_si512(hi));
  }
  static MMB_KERNEL Acc fma(Ints a, const float* p, Acc acc) {
    const __m512 each = _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3),
                                              _mm512_castps128_ps512(_mm_loadu_ps(p)));
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(a), each, acc);
  }
  static MMB_KERNEL float sum(Acc a) {
    return sum8(_mm256_add_ps(_mm512_castps512_ps256(a), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1))));
  }
};
#include "backend/cpu/linear_q4_dot.inc"
#undef MMB_KERNEL
#undef MMB_KERNEL_ENTRY
}  // namespace vnni

// AVX-512 VNNI (CPUID leaf 7, ECX bit 11: the builtin's name for it differs between
// compilers), BW and VL; the AVX-512 path already checked that the OS saves the
// registers.
bool cpu_has_avx512_vnni() {
  static const bool has = [] {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    return vnni_allowed() && __get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) != 0 && (ecx & (1u << 11)) != 0 &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
  }();
  return has;
}

// AVX-VNNI: CPUID leaf 7, sub-leaf 1, EAX bit 4.
bool cpu_has_avx_vnni() {
  static const bool has = [] {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    return vnni_allowed() && __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) != 0 && (eax & (1u << 4)) != 0;
  }();
  return has;
}

}  // namespace

void q4_rows_avx2(const Matrix& w, size_t r0, size_t r1, const float* const* xs, float* const* ys, size_t n) {
  if (cpu_has_avx_vnni()) return avx_vnni::q4_rows(w, r0, r1, xs, ys, n);
  avx2::q4_rows(w, r0, r1, xs, ys, n);
}

void q4_rows_avx2_without_vnni(const Matrix& w, size_t r0, size_t r1, const float* const* xs, float* const* ys,
                               size_t n) {
  avx2::q4_rows(w, r0, r1, xs, ys, n);
}

bool q4_avx2_uses_vnni() { return cpu_has_avx_vnni(); }

bool q4_uses_vnni() {
  const KernelPath path = kernel_path();
  return (path == KernelPath::AVX2 && cpu_has_avx_vnni()) || (path == KernelPath::AVX512 && cpu_has_avx512_vnni());
}

void q4_rows_avx512(const Matrix& w, size_t r0, size_t r1, const float* const* xs, float* const* ys, size_t n) {
  if (cpu_has_avx512_vnni()) return vnni::q4_rows(w, r0, r1, xs, ys, n);
  q4_rows_avx2(w, r0, r1, xs, ys, n);
}

}  // namespace mmb::cpu

#endif
