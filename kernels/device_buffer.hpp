// Device memory owned by RAII: a DeviceBuffer frees itself on every path, and counts
// its bytes in the MemoryCounter of the device it lives on (device_bytes_used).
#pragma once

#include "plugin_error.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>

namespace mmb::cuda {

struct MemoryCounter {
  std::atomic<uint64_t> bytes{0};
};

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  // Uninitialized; `what` names the buffer in an out-of-memory message.
  DeviceBuffer(MemoryCounter* counter, size_t bytes, const char* what) : counter_(counter) {
    if (bytes == 0) return;
    const cudaError_t result = cudaMalloc(&data_, bytes);
    if (result != cudaSuccess) {
      data_ = nullptr;
      (void)cudaGetLastError();
      throw PluginError(result == cudaErrorMemoryAllocation ? MMB_ERR_OUT_OF_MEMORY : MMB_ERR_BACKEND,
                        std::string("cudaMalloc of ") + std::to_string(bytes) + " bytes for " + what + " failed: " +
                            cudaGetErrorString(result));
    }
    bytes_ = bytes;
    if (counter_) counter_->bytes += bytes;
  }
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(DeviceBuffer&& o) noexcept { swap(o); }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    DeviceBuffer(std::move(o)).swap(*this);
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void reset() noexcept {
    if (data_) {
      cudaFree(data_);
      if (counter_) counter_->bytes -= bytes_;
    }
    data_ = nullptr;
    bytes_ = 0;
  }
  void swap(DeviceBuffer& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(bytes_, o.bytes_);
    std::swap(counter_, o.counter_);
  }

  void* get() const { return data_; }
  template <typename T>
  T* as() const { return static_cast<T*>(data_); }
  size_t bytes() const { return bytes_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  MemoryCounter* counter_ = nullptr;
};

// Page-locked host memory (the staging area of asynchronous copies).
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  explicit PinnedBuffer(size_t bytes) {
    if (bytes) MMB_CUDA_CHECK(cudaMallocHost(&data_, bytes));
  }
  ~PinnedBuffer() {
    if (data_) cudaFreeHost(data_);
  }
  PinnedBuffer(PinnedBuffer&& o) noexcept : data_(std::exchange(o.data_, nullptr)) {}
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept {
    std::swap(data_, o.data_);
    return *this;
  }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  template <typename T>
  T* as() const { return static_cast<T*>(data_); }

 private:
  void* data_ = nullptr;
};

}  // namespace mmb::cuda
