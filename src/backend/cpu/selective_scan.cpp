#include "backend/cpu/selective_scan.hpp"

#include "backend/cpu/activations.hpp"
#include "backend/cpu/simd_dispatch.hpp"
#include "backend/cpu/vector_channels.hpp"
#include "backend/cpu/weight_load.hpp"

#include <cmath>

namespace mmb::cpu {

float scan_channel_portable(float* s, const float* A, const float* B, const float* C, float dt, float dtx,
                            size_t d_state) {
  float y = 0.0f;
  for (size_t k = 0; k < d_state; ++k) {
    s[k] = s[k] * std::exp(dt * A[k]) + dtx * B[k];
    y += s[k] * C[k];
  }
  return y;
}

void scan_channels(const ScanStep& st, size_t c0, size_t c1, size_t d_state) {
  switch (kernel_path()) {
#if MMB_HAVE_AVX2_PATH
    case KernelPath::AVX512: return scan_channels_avx512(st, c0, c1, d_state);
    case KernelPath::AVX2: return scan_channels_avx2(st, c0, c1, d_state);
#endif
#if MMB_HAVE_NEON_PATH
    case KernelPath::NEON: return scan_channels_neon(st, c0, c1, d_state);
#endif
    default: break;
  }
  for (size_t c = c0; c < c1; ++c) {
    const float dt = softplus(st.dt_raw[c]);
    const float x = st.x[c];
    const float y = scan_channel_portable(st.state + c * d_state, st.A + c * d_state, st.B, st.C, dt, dt * x, d_state);
    st.y[c] = (y + load(st.D, c) * x) * silu(st.z[c]);
  }
}

}  // namespace mmb::cpu
