// The host's allocator hooks as a std::pmr::memory_resource, so that the library's
// long-lived containers (the tokenizer's tables, handles) take their memory where the
// large buffers do and a host that budgets or fails allocations sees all of it.
#pragma once

#include "base/host_allocator.hpp"

#include <cstddef>
#include <memory_resource>

namespace mmb {

class HostMemoryResource final : public std::pmr::memory_resource {
 public:
  explicit HostMemoryResource(const HostAllocator& allocator) : allocator_(allocator) {}

 private:
  void* do_allocate(size_t bytes, size_t alignment) override {
    return allocator_.allocate(bytes, alignment < alignof(std::max_align_t) ? alignof(std::max_align_t) : alignment);
  }
  void do_deallocate(void* p, size_t bytes, size_t) override { allocator_.deallocate(p, bytes); }
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override { return this == &other; }

  HostAllocator allocator_;
};

}  // namespace mmb
