// The q8 and q4 matrix kernels on x86 (linear_quantized_dot.inc): integer dot
// products, two groups a step on AVX2 (VPMADDUBSW + VPMADDWD, or VPDPBUSD where the CPU
// has AVX-VNNI), four a step with VPDPBUSD on the AVX-512 path where the CPU has VNNI
// (else the AVX2 kernels). No product saturates: a q4 code is at most 15, a q8 byte
// made unsigned at most 255 (VPDPBUSD widens before it adds), |q| at most 127, and
// VPMADDUBSW takes q8 as |value| times q with value's sign (at most 2 x 128 x 127).
#include "backend/cpu/linear_simd.hpp"

#include "backend/cpu/avx512_warnings.hpp"
#include "backend/cpu/quantized_input.hpp"
#include "backend/cpu/row_chunks.hpp"
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
    static_assert(kInputScaleRun == 8, "one conversion of eight");
    if (n == 8) return _mm256_storeu_ps(out, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + 2 * g))));
    _mm256_storeu_ps(out, _mm256_setzero_ps());
    for (size_t k = 0; k < n; ++k) {
      uint16_t h;
      std::memcpy(&h, s + 2 * (g + k), 2);
      out[k] = _cvtsh_ss(h);
    }
  }
  // store_input_group's bytes, the offsets' lane sums by VPMADDUBSW against ones (a
  // pair at most 2 x 127) and VPMADDWD.
  static MMB_X86_COMMON void store_group(const QuantizedInput& a, size_t v, size_t g, const int8_t* q, int32_t zero) {
    const __m128i low = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
    const __m128i high = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + 16));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(a.low_of(v, g)), low);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(a.high_of(v, g)), high);
    const __m128i ones = _mm_set1_epi8(1);
    const __m128i pairs = _mm_add_epi16(_mm_maddubs_epi16(ones, low), _mm_maddubs_epi16(ones, high));
    const __m128i lanes = _mm_madd_epi16(pairs, _mm_set1_epi16(1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(a.offsets_of(v, g)), _mm_mullo_epi32(lanes, _mm_set1_epi32(-zero)));
  }
  // quantize_input_group's rule on a whole group of finite values, not all zero; the
  // others go to it.
  static MMB_X86_COMMON float quantize_group(const float* x, size_t n, int8_t* q) {
    if (n != kInputGroup) return quantize_input_group(x, n, q);
    const __m256 sign = _mm256_set1_ps(-0.0f), inf = _mm256_set1_ps(INFINITY);
    __m256 v[4], m = _mm256_setzero_ps(), bad = _mm256_setzero_ps();
    for (size_t k = 0; k < 4; ++k) {
      v[k] = _mm256_loadu_ps(x + 8 * k);
      const __m256 a = _mm256_andnot_ps(sign, v[k]);
      m = _mm256_max_ps(m, a);
      bad = _mm256_or_ps(bad, _mm256_cmp_ps(a, inf, _CMP_NLT_UQ));  // NaN or an infinity
    }
    if (_mm256_movemask_ps(bad)) return quantize_input_group(x, n, q);
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    const float d = _mm_cvtss_f32(h) / 127.0f;
    if (d == 0.0f) return quantize_input_group(x, n, q);
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
    return d;
  }
};
#undef MMB_X86_COMMON

namespace avx2 {
#define MMB_KERNEL __attribute__((target("avx2,fma,f16c"), always_inline)) inline
#define MMB_KERNEL_ENTRY __attribute__((target("avx2,fma,f16c")))
// Two groups a step: lanes 0-3 group g, 4-7 group g + 1; codes as 32 bytes of each
// group's columns 0-15 (g's, then g + 1's) and 32 of their columns 16-31.
//
// A run's four steps are summed in integers before any conversion: pairwise lane sums
// (VPHADDD) of steps 0 and 1, of 2 and 3, then of those two leave one lane per group
// (lanes g0 g2 g4 g6 g1 g3 g5 g7 of the run), and the run costs one conversion and one
// fused multiply-add instead of one per step: those two had been a quarter of the work
// on ports 0 and 1, which the multiplies also need; the pairwise sums run on port 5. A
// group's sum is at most 32 x 128 x 127 in magnitude: exact in int32 and in f32.
struct Vec : X86Common {
  static constexpr size_t kStep = 2;
  using Acc = __m256;
  struct Codes {
    __m256i low, high;
  };
  using Ints = __m256i;
  static constexpr size_t kRowsFor4 = 2, kRowsFor3 = 2, kRowsFor2 = 2, kRowsFor1 = 4;
  static MMB_KERNEL Acc zero() { return _mm256_setzero_ps(); }
  struct Run {
    __m256i first, second;  // steps 0-1 and 2-3, lanes summed in pairs
    Acc acc;
  };
  static MMB_KERNEL Run begin(Acc acc) { return {_mm256_setzero_si256(), _mm256_setzero_si256(), acc}; }
  template <size_t K>
  static MMB_KERNEL void add(Run& run, Ints s, const float*) {
    static_assert(K < 4, "four steps a run");
    if constexpr (K == 0) run.first = s;
    if constexpr (K == 1) run.first = _mm256_hadd_epi32(run.first, s);
    if constexpr (K == 2) run.second = s;
    if constexpr (K == 3) run.second = _mm256_hadd_epi32(run.second, s);
  }
  // A run of N steps: the missing ones as zeros. `product` in the lanes' order
  // (multiply_run).
  template <size_t N>
  static MMB_KERNEL Acc end(const Run& run, const float* product) {
    const __m256i none = _mm256_setzero_si256();
    const __m256i first = N >= 2 ? run.first : _mm256_hadd_epi32(run.first, none);
    const __m256i second = N >= 4 ? run.second : N == 3 ? _mm256_hadd_epi32(run.second, none) : none;
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_hadd_epi32(first, second)), _mm256_load_ps(product), run.acc);
  }
  static MMB_KERNEL void multiply_run(const float* a, const float* b, float* out) {
    const __m256 p = _mm256_mul_ps(_mm256_loadu_ps(a), _mm256_loadu_ps(b));
    _mm256_store_ps(out, _mm256_permutevar8x32_ps(p, _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7)));
  }
  static MMB_KERNEL float sum(Acc a) { return sum8(a); }
  static MMB_KERNEL __m256i load(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
};

struct Q4 : Vec {
  static constexpr size_t kGroupBytes = kQ4GroupBytes;
  static constexpr size_t row_bytes(size_t cols) { return q4_row_bytes(cols); }
  static MMB_KERNEL Codes unpack(const uint8_t* p, size_t bytes) {
    const __m256i b = bytes == 2 * kGroupBytes
                          ? load(p)
                          : _mm256_inserti128_si256(_mm256_setzero_si256(),
                                                    _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), 0);
    const __m256i low = _mm256_set1_epi8(0x0f);
    return {_mm256_and_si256(b, low), _mm256_and_si256(_mm256_srli_epi16(b, 4), low)};
  }
  // Pairs of u8 x s8 products into 16 bits (low and high nibbles added: at most
  // 4 x 15 x 127), then pairs of those into 32.
  static MMB_KERNEL Ints dot(const Codes& c, const int8_t* lo, const int8_t* hi, const int32_t* o) {
    const __m256i pairs = _mm256_add_epi16(_mm256_maddubs_epi16(c.low, load(lo)), _mm256_maddubs_epi16(c.high, load(hi)));
    return _mm256_add_epi32(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)), load(o));
  }
};

struct Q8 : Vec {
  static constexpr size_t kGroupBytes = kQ8Group;
  static constexpr size_t row_bytes(size_t cols) { return cols; }
  // Two groups' 64 bytes (fewer at a row's end, the rest zeros) as the input's layout
  // wants them: each 128-bit half of `low` one group's columns 0-15.
  static MMB_KERNEL Codes unpack(const uint8_t* p, size_t bytes) {
    if (bytes == 2 * kGroupBytes) return in_input_order(load(p), load(p + kGroupBytes));
    if (bytes % 4 == 0)  // whole dwords: masked loads (a row of 48 columns, dt_proj's, ends so every time)
      return in_input_order(bytes >= kGroupBytes ? load(p) : load_dwords(p, bytes / 4),
                            bytes > kGroupBytes ? load_dwords(p + kGroupBytes, (bytes - kGroupBytes) / 4)
                                                : _mm256_setzero_si256());
    alignas(32) uint8_t tail[2 * kGroupBytes] = {};
    std::memcpy(tail, p, bytes);
    return in_input_order(load(tail), load(tail + kGroupBytes));
  }
  // The first n < 8 dwords at p, zeros after; nothing past them is read.
  static MMB_KERNEL __m256i load_dwords(const uint8_t* p, size_t n) {
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    return _mm256_maskload_epi32(reinterpret_cast<const int*>(p), mask);
  }
  static MMB_KERNEL Codes in_input_order(__m256i a, __m256i b) {
    return {_mm256_permute2x128_si256(a, b, 0x20), _mm256_permute2x128_si256(a, b, 0x31)};
  }
  // |value| (unsigned) times q with value's sign: the same products, none above
  // 128 x 127 in magnitude, so a pair fits 16 bits; low and high go to 32 bits apart.
  // No offsets: the values are multiplied as they are.
  static MMB_KERNEL Ints dot(const Codes& c, const int8_t* lo, const int8_t* hi, const int32_t*) {
    const __m256i one = _mm256_set1_epi16(1);
    const __m256i l = _mm256_maddubs_epi16(_mm256_abs_epi8(c.low), _mm256_sign_epi8(load(lo), c.low));
    const __m256i h = _mm256_maddubs_epi16(_mm256_abs_epi8(c.high), _mm256_sign_epi8(load(hi), c.high));
    return _mm256_add_epi32(_mm256_madd_epi16(l, one), _mm256_madd_epi16(h, one));
  }
};
#include "backend/cpu/linear_quantized_dot.inc"
#undef MMB_KERNEL
#undef MMB_KERNEL_ENTRY
}  // namespace avx2

namespace avx_vnni {
#define MMB_KERNEL __attribute__((target("avxvnni,avx2,fma,f16c"), always_inline)) inline
#define MMB_KERNEL_ENTRY __attribute__((target("avxvnni,avx2,fma,f16c")))
// The AVX2 kernels with their products summed by the VEX form of VPDPBUSD (AVX-VNNI, in
// CPUs with AVX2 and no AVX-512), from the offsets: the same exact lanes, so the same
// bits. q8's bytes are made unsigned (value + 128, kQ8InputZero) for it.
template <typename Codes>
MMB_KERNEL __m256i vnni_dot(const Codes& c, const int8_t* lo, const int8_t* hi, const int32_t* o) {
  return _mm256_dpbusd_avx_epi32(_mm256_dpbusd_avx_epi32(avx2::Vec::load(o), c.low, avx2::Vec::load(lo)), c.high,
                                 avx2::Vec::load(hi));
}
struct Q4 : avx2::Q4 {
  static MMB_KERNEL Ints dot(const Codes& c, const int8_t* lo, const int8_t* hi, const int32_t* o) {
    return vnni_dot(c, lo, hi, o);
  }
};
struct Q8 : avx2::Q8 {
  static MMB_KERNEL Codes unpack(const uint8_t* p, size_t bytes) {
    const Codes c = avx2::Q8::unpack(p, bytes);
    const __m256i flip = _mm256_set1_epi8(char(0x80));
    return {_mm256_xor_si256(c.low, flip), _mm256_xor_si256(c.high, flip)};
  }
  static MMB_KERNEL Ints dot(const Codes& c, const int8_t* lo, const int8_t* hi, const int32_t* o) {
    return vnni_dot(c, lo, hi, o);
  }
};
#include "backend/cpu/linear_quantized_dot.inc"
#undef MMB_KERNEL
#undef MMB_KERNEL_ENTRY
}  // namespace avx_vnni

namespace vnni {
#define MMB_KERNEL \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c"), always_inline)) inline
#define MMB_KERNEL_ENTRY __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
// Four groups a step in 512-bit registers: lanes 4h to 4h + 3 group g + h; VPDPBUSD sums
// four u8 x s8 products into each 32-bit lane in one instruction, starting from the
// offsets. Codes: groups g .. g + 3's columns 0-15 in `low`, their 16-31 in `high`.
struct Vec : X86Common {
  static constexpr size_t kStep = 4;
  using Acc = __m512;
  struct Codes {
    __m512i low, high;
  };
  using Ints = __m512i;
  static constexpr size_t kRowsFor4 = 4, kRowsFor3 = 4, kRowsFor2 = 4, kRowsFor1 = 4;
  static MMB_KERNEL Acc zero() { return _mm512_setzero_ps(); }
  // A masked load reads only the first n < 64 bytes.
  static MMB_KERNEL __m512i load(const uint8_t* p, size_t n) {
    return n >= 64 ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi8((__mmask64(1) << n) - 1, p);
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

struct Q4 : Vec {
  static constexpr size_t kGroupBytes = kQ4GroupBytes;
  static constexpr size_t row_bytes(size_t cols) { return q4_row_bytes(cols); }
  static MMB_KERNEL Codes unpack(const uint8_t* p, size_t bytes) {
    const __m512i b = load(p, bytes);
    const __m512i low = _mm512_set1_epi8(0x0f);
    return {_mm512_and_si512(b, low), _mm512_and_si512(_mm512_srli_epi16(b, 4), low)};
  }
};

// q8's bytes made unsigned (value + 128), the 128-bit quarters of four groups'
// 128 bytes put in the input's order.
struct Q8 : Vec {
  static constexpr size_t kGroupBytes = kQ8Group;
  static constexpr size_t row_bytes(size_t cols) { return cols; }
  static MMB_KERNEL Codes unpack(const uint8_t* p, size_t bytes) {
    const __m512i a = load(p, bytes);
    const __m512i b = bytes > 64 ? load(p + 64, bytes - 64) : _mm512_setzero_si512();
    const __m512i flip = _mm512_set1_epi8(char(0x80));
    const __m512i low = _mm512_permutex2var_epi64(a, _mm512_setr_epi64(0, 1, 4, 5, 8, 9, 12, 13), b);
    const __m512i high = _mm512_permutex2var_epi64(a, _mm512_setr_epi64(2, 3, 6, 7, 10, 11, 14, 15), b);
    return {_mm512_xor_si512(low, flip), _mm512_xor_si512(high, flip)};
  }
};
#include "backend/cpu/linear_quantized_dot.inc"
#undef MMB_KERNEL
#undef MMB_KERNEL_ENTRY
}  // namespace vnni

}  // namespace

void q4_rows_avx2(const Matrix& w, size_t r0, size_t r1, const QuantizedInput& x, float* const* ys) {
  if (cpu_has_avx_vnni()) return avx_vnni::q4_rows(w, r0, r1, x, ys);
  avx2::q4_rows(w, r0, r1, x, ys);
}

void q8_rows_avx2(const Matrix& w, size_t r0, size_t r1, const QuantizedInput& x, float* const* ys) {
  if (cpu_has_avx_vnni()) return avx_vnni::q8_rows(w, r0, r1, x, ys);
  avx2::q8_rows(w, r0, r1, x, ys);
}

void quantized_rows_avx2_without_vnni(const Matrix& w, size_t r0, size_t r1, const QuantizedInput& x,
                                      float* const* ys) {
  if (w.dtype == DType::Q8) return avx2::q8_rows(w, r0, r1, x, ys);
  avx2::q4_rows(w, r0, r1, x, ys);
}

bool quantized_uses_vnni() {
  const KernelPath path = kernel_path();
  return (path == KernelPath::AVX2 && cpu_has_avx_vnni()) || (path == KernelPath::AVX512 && cpu_has_avx512_vnni());
}

void q4_rows_avx512(const Matrix& w, size_t r0, size_t r1, const QuantizedInput& x, float* const* ys) {
  if (cpu_has_avx512_vnni()) return vnni::q4_rows(w, r0, r1, x, ys);
  q4_rows_avx2(w, r0, r1, x, ys);
}

void q8_rows_avx512(const Matrix& w, size_t r0, size_t r1, const QuantizedInput& x, float* const* ys) {
  if (cpu_has_avx512_vnni()) return vnni::q8_rows(w, r0, r1, x, ys);
  q8_rows_avx2(w, r0, r1, x, ys);
}

QuantizedInput quantize_inputs_x86(const float* const* xs, size_t n, size_t cols, int32_t zero, void* buffer) {
  return avx2::quantize(xs, n, cols, zero, buffer);
}

}  // namespace mmb::cpu

#endif
