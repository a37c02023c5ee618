#include "alloc_hooks.hpp"

#include <cstdlib>

namespace mmb_soak {

void* counting_alloc(void* user_data, size_t size, size_t alignment) {
  auto* counter = static_cast<AllocCounter*>(user_data);
  if (alignment < alignof(std::max_align_t)) alignment = alignof(std::max_align_t);
  // aligned_alloc wants a size that is a multiple of the alignment.
  const size_t rounded = size == 0 ? alignment : (size + alignment - 1) / alignment * alignment;
  void* p = std::aligned_alloc(alignment, rounded);
  if (!p) return nullptr;
  const int64_t now = counter->live.fetch_add(int64_t(size), std::memory_order_relaxed) + int64_t(size);
  int64_t peak = counter->peak.load(std::memory_order_relaxed);
  while (now > peak && !counter->peak.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
  counter->allocs.fetch_add(1, std::memory_order_relaxed);
  return p;
}

void counting_free(void* user_data, void* ptr, size_t size) {
  if (!ptr) return;
  auto* counter = static_cast<AllocCounter*>(user_data);
  counter->live.fetch_sub(int64_t(size), std::memory_order_relaxed);
  counter->frees.fetch_add(1, std::memory_order_relaxed);
  std::free(ptr);
}

}  // namespace mmb_soak
