// The emulator's self-test: copies of plugin kernels, each with a bug put in behind a
// flag, run once as written (no error allowed) and once with the bug (the named error
// required). `mmb_cuda_emu_selftest <case>`; ctest runs every case.
//   missing_syncthreads  norm.cu's block sum without the barrier between the warps'
//                        writes of their partial sums and the reads: a shared race
//   off_by_one           residual_add.cu's add_rows with j <= d: AddressSanitizer
//                        reports the read past the end (the test expects its report)
//   shuffle_exited       linear_gemm.cu's row maximum with lanes past d returning
//                        before the shuffle reduction
//   divergent_barrier    router.cu's group_by_expert with thread 0 alone at a barrier
#include "launch.cuh"

#include <cuda_emu.hpp>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr int kThreads = 256;

__global__ void inverse_rms_copy(const float* x, int d, float* inv, bool bug) {
  __shared__ double shared[kThreads / 32];
  const float* xr = x + size_t(blockIdx.x) * d;
  double v = 0.0;
  for (int j = threadIdx.x; j < d; j += kThreads) v += double(xr[j]) * xr[j];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  if (!bug) __syncthreads();
  double total = 0.0;
  for (int w = 0; w < kThreads / 32; ++w) total += shared[w];
  if (threadIdx.x == 0) inv[blockIdx.x] = float(1.0 / sqrt(total / double(d) + 1e-5));
}

__global__ void add_rows_copy(float* y, const float* x, int d, bool bug) {
  const int r = blockIdx.y;
  for (int j = blockIdx.x * blockDim.x + threadIdx.x; bug ? j <= d : j < d; j += gridDim.x * blockDim.x)
    y[size_t(r) * d + j] += x[size_t(r) * d + j];
}

__global__ void row_max_copy(const float* x, int d, float* out, bool bug) {
  if (bug && int(threadIdx.x) >= d) return;
  float mx = 0.0f;
  for (int j = threadIdx.x; j < d; j += 32) mx = fmaxf(mx, fabsf(x[j]));
  for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
  if (threadIdx.x == 0) *out = mx;
}

__global__ void group_counts_copy(const int32_t* experts, int pairs, int n_experts, int32_t* counts,
                                  int32_t* offsets, bool bug) {
  for (int e = threadIdx.x; e < n_experts; e += blockDim.x) {
    int count = 0;
    for (int p = 0; p < pairs; ++p) count += experts[p] == e;
    counts[e] = count;
  }
  if (!bug) __syncthreads();
  if (threadIdx.x == 0) {
    if (bug) __syncthreads();
    int offset = 0;
    for (int e = 0; e < n_experts; ++e) {
      offsets[e] = offset;
      offset += counts[e];
    }
  }
}

template <typename T>
T* device(const std::vector<T>& host) {
  T* p = nullptr;
  cudaMalloc(&p, host.size() * sizeof(T));
  cudaMemcpy(p, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice);
  return p;
}

void run(const std::string& which, bool bug) {
  using mmb::cuda::launch_kernel;
  std::vector<float> xs(3 * 300);
  for (size_t i = 0; i < xs.size(); ++i) xs[i] = float(int(i % 17) - 8) * 0.25f;
  if (which == "missing_syncthreads") {
    float *x = device(xs), *inv = device(std::vector<float>(3));
    launch_kernel(inverse_rms_copy, 3, kThreads, nullptr, x, 300, inv, bug);
  } else if (which == "off_by_one") {
    float *x = device(xs), *y = device(xs);
    launch_kernel(add_rows_copy, dim3(2, 3), 256, nullptr, y, x, 300, bug);
  } else if (which == "shuffle_exited") {
    float *x = device(xs), *out = device(std::vector<float>(1));
    launch_kernel(row_max_copy, 1, 32, nullptr, x, 20, out, bug);
  } else if (which == "divergent_barrier") {
    std::vector<int32_t> experts(40);
    for (size_t i = 0; i < experts.size(); ++i) experts[i] = int32_t(i * 7 % 5);
    int32_t *e = device(experts), *counts = device(std::vector<int32_t>(5)), *offsets = device(std::vector<int32_t>(5));
    launch_kernel(group_counts_copy, 1, 64, nullptr, e, 40, 5, counts, offsets, bug);
  } else {
    std::fprintf(stderr, "unknown case %s\n", which.c_str());
    std::exit(2);
  }
  cudaDeviceSynchronize();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  std::vector<std::string> errors;
  cuda_emu::set_error_handler([&](const std::string& e) { errors.push_back(e); });
  run(argv[1], false);
  if (!errors.empty()) {
    std::printf("FAIL: the kernel as written gave: %s\n", errors[0].c_str());
    return 1;
  }
  run(argv[1], true);
  if (errors.empty()) {
    std::printf("FAIL: the bug in %s went unreported\n", argv[1]);
    return 1;
  }
  std::printf("reported as expected: %s\n", errors[0].c_str());
  return 0;
}
