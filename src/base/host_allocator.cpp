#include "base/host_allocator.hpp"

#include "base/aligned_memory.hpp"

namespace mmb {

void* HostAllocator::allocate(size_t size, size_t alignment) const {
  if (size == 0) size = 1;
  void* p;
  if (alloc_) {
    p = alloc_(user_, size, alignment);
  } else {
    size_t rounded = (size + alignment - 1) / alignment * alignment;
    p = rounded < size ? nullptr : aligned_memory_allocate(alignment, rounded);
  }
  if (!p) throw std::bad_alloc();
  return p;
}

void HostAllocator::deallocate(void* ptr, size_t size) const noexcept {
  if (!ptr) return;
  if (free_) free_(user_, ptr, size == 0 ? 1 : size);
  else aligned_memory_free(ptr);
}

}  // namespace mmb
