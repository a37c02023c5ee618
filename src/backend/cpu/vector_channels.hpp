// The per-channel work of a row as vectors (vector_channels.inc), one entry per
// instruction set: the selective scan's step over a run of channels (16, 8 or 4 at a
// time), the conv's silu and attention's exp over a span. Only where kernel_path_supported() says so;
// selective_scan.cpp and conv_step.cpp dispatch to them.
#pragma once

#include "backend/cpu/selective_scan.hpp"
#include "backend/cpu/simd_dispatch.hpp"

#include <cstddef>

namespace mmb::cpu {

#if MMB_HAVE_AVX2_PATH
void scan_channels_avx512(const ScanStep& step, size_t c0, size_t c1, size_t d_state);
void scan_channels_avx2(const ScanStep& step, size_t c0, size_t c1, size_t d_state);
void silu_avx512(float* v, size_t count);
void silu_avx2(float* v, size_t count);
void exp_avx512(float* v, size_t count);
void exp_avx2(float* v, size_t count);
#endif
#if MMB_HAVE_NEON_PATH
void scan_channels_neon(const ScanStep& step, size_t c0, size_t c1, size_t d_state);
void silu_neon(float* v, size_t count);
void exp_neon(float* v, size_t count);
#endif

}  // namespace mmb::cpu
