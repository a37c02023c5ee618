#include "launch.cuh"
#include "plugin_error.hpp"
#include "selective_scan.cuh"

namespace mmb::cuda {

namespace {

__device__ __forceinline__ float silu(float v) { return v / (1.0f + expf(-v)); }
__device__ __forceinline__ float softplus(float v) { return v > 20.0f ? v : log1pf(expf(v)); }

// d_state > 32: one thread per channel walks the state's entries.
__global__ void selective_scan_kernel(ScanArgs a, int n, bool sequential) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= a.d_inner) return;
  const int ds = a.d_state;
  const int dbc_dim = a.dt_rank + 2 * ds;
  const float* Ac = a.A + size_t(c) * ds;
  const float Dc = a.D[c];
  const int r0 = sequential ? 0 : blockIdx.y;
  const int r1 = sequential ? n : blockIdx.y + 1;
  for (int r = r0; r < r1; ++r) {
    float* s = a.states[r] + a.scan_offset + size_t(c) * ds;
    const float dt = softplus(a.dt_raw[size_t(r) * a.d_inner + c]);
    const float x = a.xc[size_t(r) * a.d_inner + c];
    const float* B = a.dbc + size_t(r) * dbc_dim + a.dt_rank;
    const float* C = B + ds;
    float y = 0.0f;
    for (int k = 0; k < ds; ++k) {
      const float v = s[k] * expf(dt * Ac[k]) + dt * x * B[k];
      s[k] = v;
      y += v * C[k];
    }
    a.y[size_t(r) * a.d_inner + c] = (y + Dc * x) * silu(a.z[size_t(r) * a.ldz + c]);
  }
}

// d_state <= 32: kSeg lanes (a power of two >= d_state) per channel, lane k owning
// state entry k in a register across the rows it walks (all rows of one launch share
// the state: a sequential chunk, or a single row of a batch); the C contraction is a
// shuffle sum inside the segment.
template <int kSeg>
__global__ void selective_scan_pairs_kernel(ScanArgs a, int n, bool sequential) {
  const int thread = blockIdx.x * blockDim.x + threadIdx.x;
  const int c = thread / kSeg, k = thread % kSeg;
  const bool channel = c < a.d_inner;
  const bool entry = channel && k < a.d_state;  // no early return: every lane joins the shuffles
  const int ds = a.d_state;
  const int dbc_dim = a.dt_rank + 2 * ds;
  const int r0 = sequential ? 0 : blockIdx.y;
  const int r1 = sequential ? n : blockIdx.y + 1;
  float* sp = entry ? a.states[r0] + a.scan_offset + size_t(c) * ds + k : nullptr;
  float s = entry ? *sp : 0.0f;
  const float Ak = entry ? a.A[size_t(c) * ds + k] : 0.0f;
  const float Dc = channel ? a.D[c] : 0.0f;
  for (int r = r0; r < r1; ++r) {
    float dt = 0.0f, x = 0.0f, part = 0.0f;
    if (channel) {
      dt = softplus(a.dt_raw[size_t(r) * a.d_inner + c]);
      x = a.xc[size_t(r) * a.d_inner + c];
    }
    if (entry) {
      const float* B = a.dbc + size_t(r) * dbc_dim + a.dt_rank;
      s = s * expf(dt * Ak) + dt * x * B[k];
      part = s * B[ds + k];
    }
#pragma unroll
    for (int o = kSeg / 2; o > 0; o >>= 1) part += __shfl_xor_sync(0xffffffffu, part, o);
    if (channel && k == 0) a.y[size_t(r) * a.d_inner + c] = (part + Dc * x) * silu(a.z[size_t(r) * a.ldz + c]);
  }
  if (entry) *sp = s;
}

template <int kSeg>
void launch_pairs(cudaStream_t stream, const ScanArgs& args, int n, bool sequential) {
  const size_t threads = size_t(args.d_inner) * kSeg;
  const dim3 grid(unsigned((threads + 127) / 128), sequential ? 1 : n);
  launch_kernel(selective_scan_pairs_kernel<kSeg>, grid, 128, stream, args, n, sequential);
}

}  // namespace

void selective_scan(cudaStream_t stream, const ScanArgs& args, int n, bool sequential) {
  if (n == 0) return;
  const int ds = args.d_state;
  if (ds <= 1) launch_pairs<1>(stream, args, n, sequential);
  else if (ds <= 2) launch_pairs<2>(stream, args, n, sequential);
  else if (ds <= 4) launch_pairs<4>(stream, args, n, sequential);
  else if (ds <= 8) launch_pairs<8>(stream, args, n, sequential);
  else if (ds <= 16) launch_pairs<16>(stream, args, n, sequential);
  else if (ds <= 32) launch_pairs<32>(stream, args, n, sequential);
  else {
    const dim3 grid((args.d_inner + 127) / 128, sequential ? 1 : n);
    launch_kernel(selective_scan_kernel, grid, 128, stream, args, n, sequential);
  }
  MMB_CUDA_LAUNCHED("selective_scan_kernel");
}

}  // namespace mmb::cuda
