// f16 <-> f32 over a span, on the CPU's conversion instructions where it has them
// (F16C on x86-64, NEON on arm64), else dtype.hpp's portable conversions. Both give the
// same values: round to nearest even.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mmb::cpu {

void f16_to_f32_span(const uint16_t* in, float* out, size_t count);
void f32_to_f16_span(const float* in, uint16_t* out, size_t count);

}  // namespace mmb::cpu
