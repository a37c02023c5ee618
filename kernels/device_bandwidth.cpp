#include "device_bandwidth.hpp"

#include "cuda_handles.hpp"

#include <algorithm>

namespace mmb::cuda {

double measure_copy_bandwidth(MemoryCounter* memory) {
  // Far larger than any L2 (50 MB on an H100), small beside device memory.
  constexpr size_t kBytes = size_t(256) << 20;
  DeviceBuffer from(memory, kBytes, "the bandwidth test's source"), to(memory, kBytes, "the bandwidth test's target");
  Stream stream;
  Event start, stop;
  MMB_CUDA_CHECK(cudaMemsetAsync(from.get(), 1, kBytes, stream.get()));
  float best_ms = 0.0f;
  for (int run = 0; run < 6; ++run) {  // the first run warms up
    MMB_CUDA_CHECK(cudaEventRecord(start.get(), stream.get()));
    MMB_CUDA_CHECK(cudaMemcpyAsync(to.get(), from.get(), kBytes, cudaMemcpyDeviceToDevice, stream.get()));
    MMB_CUDA_CHECK(cudaEventRecord(stop.get(), stream.get()));
    MMB_CUDA_CHECK(cudaEventSynchronize(stop.get()));
    float ms = 0.0f;
    MMB_CUDA_CHECK(cudaEventElapsedTime(&ms, start.get(), stop.get()));
    if (run > 0 && (best_ms == 0.0f || ms < best_ms)) best_ms = ms;
  }
  return 2.0 * double(kBytes) / (double(best_ms) * 1e-3);
}

}  // namespace mmb::cuda
