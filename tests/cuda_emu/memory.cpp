// Device and pinned memory. cudaMalloc is the host allocator's malloc, so
// AddressSanitizer's redzones and quarantine catch out-of-bounds and use-after-free
// accesses from kernels and copies alike; fresh device memory is filled with 0xff bytes
// (NaN as f32, f16 and bf16) so a read of memory nobody wrote shows in the results.
// Allocations are 256-byte aligned, as on a device.
#include "emulator.hpp"

#include <cstdlib>
#include <cstring>
#include <map>

namespace cuda_emu {

namespace {

std::map<const char*, size_t> device_blocks, pinned_blocks;
constexpr size_t kDeviceBytes = size_t(16) << 30;
size_t device_used = 0;

bool inside(const std::map<const char*, size_t>& blocks, const void* p, size_t bytes) {
  const char* c = static_cast<const char*>(p);
  auto it = blocks.upper_bound(c);
  if (it == blocks.begin()) return false;
  --it;
  return c >= it->first && c + bytes <= it->first + it->second + (it->second == 0);
}

// A copy between host and device memory, checked against the spaces it names.
cudaError_t check_kind(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (bytes == 0) return cudaSuccess;
  const bool dst_dev = is_device(dst), src_dev = is_device(src);
  bool ok = true;
  switch (kind) {
    case cudaMemcpyHostToDevice: ok = dst_dev && !src_dev; break;
    case cudaMemcpyDeviceToHost: ok = !dst_dev && src_dev; break;
    case cudaMemcpyDeviceToDevice: ok = dst_dev && src_dev; break;
    case cudaMemcpyHostToHost: ok = !dst_dev && !src_dev; break;
    case cudaMemcpyDefault: break;
  }
  if (!ok) report("a copy's direction does not match its pointers (kind " + std::to_string(int(kind)) + ")");
  if ((dst_dev && !inside(device_blocks, dst, bytes)) || (src_dev && !inside(device_blocks, src, bytes)))
    report("a copy of " + std::to_string(bytes) + " bytes runs past the end of a device allocation");
  return ok ? cudaSuccess : cudaErrorInvalidValue;
}

}  // namespace

bool is_device(const void* p) { return inside(device_blocks, p, 1); }

Space space_of(const void* p, size_t bytes) {
  if (is_device(p)) return Space::Device;
  return inside(pinned_blocks, p, bytes ? bytes : 1) ? Space::Pinned : Space::Pageable;
}

}  // namespace cuda_emu

using namespace cuda_emu;

cudaError_t cudaMalloc(void** ptr, size_t bytes) {
  if (cudaError_t e = check_not_capturing("cudaMalloc")) return e;
  *ptr = nullptr;
  if (bytes > kDeviceBytes - device_used) return cudaErrorMemoryAllocation;
  void* p = nullptr;
  if (posix_memalign(&p, 256, bytes ? bytes : 1) != 0) return cudaErrorMemoryAllocation;
  std::memset(p, 0xff, bytes);
  device_blocks[static_cast<const char*>(p)] = bytes;
  device_used += bytes;
  *ptr = p;
  return cudaSuccess;
}

cudaError_t cudaFree(void* ptr) {
  if (!ptr) return cudaSuccess;
  if (cudaError_t e = check_not_capturing("cudaFree")) return e;
  flush_all();  // cudaFree waits for the device
  auto it = device_blocks.find(static_cast<const char*>(ptr));
  if (it == device_blocks.end()) {
    report("cudaFree of a pointer cudaMalloc did not return");
    return cudaErrorInvalidValue;
  }
  device_used -= it->second;
  device_blocks.erase(it);
  std::free(ptr);
  return cudaSuccess;
}

cudaError_t cudaMallocHost(void** ptr, size_t bytes) {
  if (cudaError_t e = check_not_capturing("cudaMallocHost")) return e;
  *ptr = std::malloc(bytes ? bytes : 1);
  if (!*ptr) return cudaErrorMemoryAllocation;
  pinned_blocks[static_cast<const char*>(*ptr)] = bytes;
  return cudaSuccess;
}

cudaError_t cudaFreeHost(void* ptr) {
  if (!ptr) return cudaSuccess;
  flush_all();
  if (!pinned_blocks.erase(static_cast<const char*>(ptr))) {
    report("cudaFreeHost of a pointer cudaMallocHost did not return");
    return cudaErrorInvalidValue;
  }
  std::free(ptr);
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  *free_bytes = kDeviceBytes - device_used;
  *total_bytes = kDeviceBytes;
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (cudaError_t e = check_not_capturing("cudaMemcpy")) return e;
  flush_all();
  if (cudaError_t e = check_kind(dst, src, bytes, kind)) return e;
  if (bytes) std::memmove(dst, src, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemset(void* ptr, int value, size_t bytes) {
  if (cudaError_t e = check_not_capturing("cudaMemset")) return e;
  flush_all();
  if (cudaError_t e = check_kind(ptr, ptr, bytes, cudaMemcpyDeviceToDevice)) return e;
  if (bytes) std::memset(ptr, value, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void* ptr, int value, size_t bytes, cudaStream_t stream) {
  if (cudaError_t e = check_kind(ptr, ptr, bytes, cudaMemcpyDeviceToDevice)) return e;
  enqueue(stream, [=] { std::memset(ptr, value, bytes); });
  return cudaSuccess;
}

// Asynchronous copies: with pinned host memory (or none) they run in stream order. A
// pageable source is staged when the call is made and a pageable destination makes the
// call synchronous, as the CUDA runtime does; in a capture both are illegal.
cudaError_t cudaMemcpy2DAsync(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width, size_t height,
                              cudaMemcpyKind kind, cudaStream_t stream) {
  if (width > dpitch || width > spitch) return cudaErrorInvalidValue;
  if (height == 0 || width == 0) return cudaSuccess;
  const size_t dspan = dpitch * (height - 1) + width, sspan = spitch * (height - 1) + width;
  if (cudaError_t e = check_kind(dst, src, width, kind)) return e;
  if (is_device(dst) && !is_device(static_cast<const char*>(dst) + dspan - 1))
    report("a 2-D copy runs past the end of its device destination");
  if (is_device(src) && !is_device(static_cast<const char*>(src) + sspan - 1))
    report("a 2-D copy runs past the end of its device source");
  const Space ds = space_of(dst, dspan), ss = space_of(src, sspan);
  if ((ds == Space::Pageable || ss == Space::Pageable) && capturing(stream)) {
    report("an asynchronous copy with pageable host memory inside a stream capture");
    return cudaErrorStreamCaptureUnsupported;
  }
  auto copy = [=](const char* from) {
    for (size_t r = 0; r < height; ++r)
      std::memmove(static_cast<char*>(dst) + r * dpitch, from + r * spitch, width);
  };
  if (ss == Space::Pageable) {
    std::vector<char> staged(static_cast<const char*>(src), static_cast<const char*>(src) + sspan);
    enqueue(stream, [copy, staged = std::move(staged)] { copy(staged.data()); });
  } else {
    enqueue(stream, [copy, src] { copy(static_cast<const char*>(src)); });
  }
  if (ds == Space::Pageable) flush(resolve(stream));
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
  if (bytes == 0) return cudaSuccess;
  if (cudaError_t e = check_kind(dst, src, bytes, kind)) return e;
  return cudaMemcpy2DAsync(dst, bytes, src, bytes, bytes, 1, kind, stream);
}
