// Memory through the host's hooks (mmb_runtime_options.alloc_fn/free_fn), or the C
// library when the host gave none. Every large or long-lived allocation of the
// library goes through here so a host can budget, count and fail allocations.
#pragma once

#include <moemamba/moemamba.h>

#include <cstddef>
#include <cstring>
#include <memory>
#include <new>
#include <utility>

namespace mmb {

class HostAllocator {
 public:
  HostAllocator() = default;
  HostAllocator(mmb_alloc_fn alloc, mmb_free_fn free, void* user) : alloc_(alloc), free_(free), user_(user) {}

  // Throws std::bad_alloc (turned into MMB_ERR_OUT_OF_MEMORY at the API) on failure.
  void* allocate(size_t size, size_t alignment = 64) const;
  void deallocate(void* ptr, size_t size) const noexcept;

 private:
  mmb_alloc_fn alloc_ = nullptr;
  mmb_free_fn free_ = nullptr;
  void* user_ = nullptr;
};

// An owned, aligned, fixed-size array of trivially copyable T from a HostAllocator.
template <typename T>
class HostBuffer {
 public:
  HostBuffer() = default;
  HostBuffer(const HostAllocator& allocator, size_t count, bool zero = true)
      : allocator_(&allocator), count_(count) {
    if (count_ == 0) return;
    if (count_ > size_t(-1) / sizeof(T)) throw std::bad_alloc();
    data_ = static_cast<T*>(allocator.allocate(count_ * sizeof(T), 64));
    if (zero) std::memset(static_cast<void*>(data_), 0, count_ * sizeof(T));
  }
  HostBuffer(HostBuffer&& o) noexcept { swap(o); }
  HostBuffer& operator=(HostBuffer&& o) noexcept { HostBuffer(std::move(o)).swap(*this); return *this; }
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;
  ~HostBuffer() { if (data_) allocator_->deallocate(data_, count_ * sizeof(T)); }

  T* data() { return data_; }
  const T* data() const { return data_; }
  size_t size() const { return count_; }
  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }
  void swap(HostBuffer& o) noexcept {
    std::swap(allocator_, o.allocator_); std::swap(data_, o.data_); std::swap(count_, o.count_);
  }

 private:
  const HostAllocator* allocator_ = nullptr;
  T* data_ = nullptr;
  size_t count_ = 0;
};

// Objects in host memory: make_host<T>(allocator, args...) constructs a T there, and
// HostPtr<T> destroys it and gives the memory back to the same hooks. The hooks must
// stay valid while such an object lives (a copy of them travels with the pointer).
template <typename T>
struct HostDeleter {
  HostAllocator allocator;
  void operator()(T* p) const noexcept {
    p->~T();
    allocator.deallocate(p, sizeof(T));
  }
};
template <typename T>
using HostPtr = std::unique_ptr<T, HostDeleter<T>>;

template <typename T, typename... Args>
HostPtr<T> make_host(const HostAllocator& allocator, Args&&... args) {
  void* p = allocator.allocate(sizeof(T), alignof(T) > 16 ? alignof(T) : 16);
  try {
    return HostPtr<T>(new (p) T(std::forward<Args>(args)...), HostDeleter<T>{allocator});
  } catch (...) {
    allocator.deallocate(p, sizeof(T));
    throw;
  }
}

}  // namespace mmb
