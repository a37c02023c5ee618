// The CUDA emulator's stand-in for <cuda_runtime.h>: what the plugin's kernels and host
// code use of the CUDA language and runtime, compiled by the host C++ compiler. Kernels
// run on the CPU as cooperative fibers, one per thread (tests/cuda_emu/README.md); the
// runtime calls below are emulated in runtime.cpp, graph.cpp and memory.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cmath>
#include <math.h>

// ---- The language ------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
// One block runs at a time, so one static instance is the block's shared memory.
#define __shared__ static

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct alignas(8) float2 {
  float x, y;
};
struct alignas(16) float4 {
  float x, y, z, w;
};
struct alignas(16) uint4 {
  unsigned x, y, z, w;
};

namespace cuda_emu {

// What a running thread sees of itself; emulator-owned, read-only to kernels.
struct ThreadContext {
  uint3 thread_idx, block_idx;
  dim3 block_dim, grid_dim;
};
// The running thread's, set by the scheduler at each switch: read inline by kernels.
extern const ThreadContext* current_context;
inline const ThreadContext& context() { return *current_context; }

void syncthreads(const char* file, int line);
void syncwarp(unsigned mask, const char* file, int line);
enum class ShuffleKind { Index, Up, Down, Xor };
// The 8 bytes of `value` of the lane that `kind` and `arg` name (width: the segment).
uint64_t shuffle(unsigned mask, uint64_t value, ShuffleKind kind, int arg, int width, const char* file, int line);
unsigned ballot(unsigned mask, bool predicate, const char* file, int line);

template <typename T>
T shuffle_value(unsigned mask, T v, ShuffleKind kind, int arg, int width, const char* file, int line) {
  static_assert(sizeof(T) <= 8, "shuffles move at most 8 bytes");
  uint64_t bits = 0;
  __builtin_memcpy(&bits, &v, sizeof(T));
  bits = shuffle(mask, bits, kind, arg, width, file, line);
  T out;
  __builtin_memcpy(&out, &bits, sizeof(T));
  return out;
}

}  // namespace cuda_emu

#define threadIdx (::cuda_emu::context().thread_idx)
#define blockIdx (::cuda_emu::context().block_idx)
#define blockDim (::cuda_emu::context().block_dim)
#define gridDim (::cuda_emu::context().grid_dim)
constexpr int warpSize = 32;

#define __syncthreads() ::cuda_emu::syncthreads(__FILE__, __LINE__)
#define __syncwarp(...) ::cuda_emu::syncwarp(__VA_ARGS__ + 0 ?: 0xffffffffu, __FILE__, __LINE__)
#define __shfl_sync(mask, v, lane, ...) \
  ::cuda_emu::shuffle_value(mask, v, ::cuda_emu::ShuffleKind::Index, lane, __VA_ARGS__ + 0 ?: 32, __FILE__, __LINE__)
#define __shfl_up_sync(mask, v, d, ...) \
  ::cuda_emu::shuffle_value(mask, v, ::cuda_emu::ShuffleKind::Up, d, __VA_ARGS__ + 0 ?: 32, __FILE__, __LINE__)
#define __shfl_down_sync(mask, v, d, ...) \
  ::cuda_emu::shuffle_value(mask, v, ::cuda_emu::ShuffleKind::Down, d, __VA_ARGS__ + 0 ?: 32, __FILE__, __LINE__)
#define __shfl_xor_sync(mask, v, m, ...) \
  ::cuda_emu::shuffle_value(mask, v, ::cuda_emu::ShuffleKind::Xor, m, __VA_ARGS__ + 0 ?: 32, __FILE__, __LINE__)
#define __ballot_sync(mask, p) ::cuda_emu::ballot(mask, (p), __FILE__, __LINE__)
#define __any_sync(mask, p) (::cuda_emu::ballot(mask, (p), __FILE__, __LINE__) != 0)
#define __all_sync(mask, p) (::cuda_emu::ballot(mask, (p), __FILE__, __LINE__) == (mask))

// Device-side integer min/max (CUDA declares them for device code).
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
using std::isfinite;

// ---- The runtime -------------------------------------------------------------------
enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDevice = 101,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorNotReady = 600,
  cudaErrorStreamCaptureUnsupported = 900,
  cudaErrorStreamCaptureInvalidated = 901,
  cudaErrorStreamCaptureUnmatched = 903,
  cudaErrorLaunchFailure = 719,
};
using cudaError = cudaError_t;

enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4
};
enum cudaStreamCaptureMode {
  cudaStreamCaptureModeGlobal = 0,
  cudaStreamCaptureModeThreadLocal = 1,
  cudaStreamCaptureModeRelaxed = 2
};
constexpr unsigned cudaStreamDefault = 0, cudaStreamNonBlocking = 1;

struct CUstream_st;
struct CUevent_st;
struct CUgraph_st;
struct CUgraphExec_st;
using cudaStream_t = CUstream_st*;
using cudaEvent_t = CUevent_st*;
using cudaGraph_t = CUgraph_st*;
using cudaGraphExec_t = CUgraphExec_st*;

struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  int major, minor;
  int multiProcessorCount;
  int warpSize;
  int maxThreadsPerBlock;
};

cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaGetLastError();
const char* cudaGetErrorName(cudaError_t error);
const char* cudaGetErrorString(cudaError_t error);

cudaError_t cudaMalloc(void** ptr, size_t bytes);
template <typename T>
cudaError_t cudaMalloc(T** ptr, size_t bytes) {
  return cudaMalloc(reinterpret_cast<void**>(ptr), bytes);
}
cudaError_t cudaFree(void* ptr);
cudaError_t cudaMallocHost(void** ptr, size_t bytes);
cudaError_t cudaFreeHost(void* ptr);
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream = 0);
cudaError_t cudaMemcpy2DAsync(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width, size_t height,
                              cudaMemcpyKind kind, cudaStream_t stream = 0);
cudaError_t cudaMemset(void* ptr, int value, size_t bytes);
cudaError_t cudaMemsetAsync(void* ptr, int value, size_t bytes, cudaStream_t stream = 0);

cudaError_t cudaStreamCreate(cudaStream_t* stream);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaEventCreate(cudaEvent_t* event);
cudaError_t cudaEventDestroy(cudaEvent_t event);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream = 0);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end);

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode);
cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph);
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long flags = 0);
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream);
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec);
cudaError_t cudaGraphDestroy(cudaGraph_t graph);

// ---- Launches (kernels/launch.cuh) -------------------------------------------------
#include <functional>

namespace cuda_emu {

// Runs body once per thread of each block of `grid` on `stream` (in stream order);
// a bad configuration sets the error cudaGetLastError returns.
void launch(dim3 grid, dim3 block, cudaStream_t stream, std::function<void()> body);

}  // namespace cuda_emu
