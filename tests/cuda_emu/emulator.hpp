// What the emulator's parts share (not for kernels: they see include/cuda_runtime.h).
#pragma once

#include "cuda_emu.hpp"

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

namespace cuda_emu {

// Reports an error of the program under test (errors.cpp): to the handler, else
// printed with the seed and abort().
void report(const std::string& message);
// The seed of the launch running now (MMB_CUDA_EMU_SEED, then one per launch).
uint64_t launch_seed();

// ---- Memory (memory.cpp) ----
enum class Space { Device, Pinned, Pageable };
Space space_of(const void* p, size_t bytes);
bool is_device(const void* p);

// ---- Streams (stream.cpp): work runs lazily, in order, when something waits ----
using Op = std::function<void()>;
struct Graph;
struct Stream {
  std::deque<Op> pending;
  Graph* capture = nullptr;  // non-null while capturing
  cudaStreamCaptureMode mode = cudaStreamCaptureModeGlobal;
  bool invalidated = false;  // an illegal call happened during the capture
};
Stream* resolve(cudaStream_t s);
// Queues op on s, or records it into s's capture.
void enqueue(cudaStream_t s, Op op);
void flush(Stream* s);
void flush_all();
// For a call that would synchronize or allocate: when a capture forbids it, invalidates
// that capture, reports, and returns the error the call must give.
cudaError_t check_not_capturing(const char* call);
bool capturing(cudaStream_t s);
void set_last_error(cudaError_t e);

// ---- Graphs (graph.cpp) ----
struct Graph {
  std::vector<Op> ops;
};

// ---- Kernel execution (block_runner.cpp), read by the race detector ----
struct KernelView {
  bool running = false;
  int thread = 0;              // linear thread index in the block
  uint32_t barrier_epoch = 0;  // __syncthreads passed by the block
  const uint32_t* warp_gen = nullptr;  // per warp: collectives completed
  const char* stack_lo = nullptr;      // the running fiber's stack
  const char* stack_hi = nullptr;
};
extern KernelView kernel_view;
void race_reset();  // a new block or a barrier: forget the accesses seen
void race_new_launch();  // modules may have been loaded since the last launch

}  // namespace cuda_emu
