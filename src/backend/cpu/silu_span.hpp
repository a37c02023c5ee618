// silu(x) = x / (1 + exp(-x)) and e^x over a span, in place, on the best kernel path the CPU
// has (vector_channels.inc's exp on AVX-512, AVX2 and NEON; libm on the portable path).
#pragma once

#include <cstddef>

namespace mmb::cpu {

void silu_span(float* v, size_t count);

// e^x over a span, in place, for x <= 88 (attention's shifted scores); the vector
// paths give e^-87 for inputs below -87 instead of less.
void exp_span(float* v, size_t count);

}  // namespace mmb::cpu
