#include "support/failing_heap.hpp"

#include "base/aligned_memory.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>

namespace mmb::testing {

void FailingHeap::arm(uint64_t nth) {
  std::lock_guard lock(mutex_);
  fail_at_ = calls_ + nth;
  failed_ = false;
}

bool FailingHeap::disarm() {
  std::lock_guard lock(mutex_);
  fail_at_ = 0;
  return failed_;
}

size_t FailingHeap::outstanding() {
  std::lock_guard lock(mutex_);
  return live_.size();
}

size_t FailingHeap::misuses() {
  std::lock_guard lock(mutex_);
  return misuses_;
}

void* FailingHeap::alloc(void* user, size_t size, size_t alignment) {
  auto* heap = static_cast<FailingHeap*>(user);
  std::lock_guard lock(heap->mutex_);
  if (++heap->calls_ == heap->fail_at_) {
    heap->failed_ = true;
    return nullptr;
  }
  void* p = mmb::aligned_memory_allocate(alignment, (size + alignment - 1) / alignment * alignment);
  if (p) heap->live_.emplace(p, size);
  return p;
}

void FailingHeap::release(void* user, void* ptr, size_t size) {
  auto* heap = static_cast<FailingHeap*>(user);
  std::lock_guard lock(heap->mutex_);
  auto it = heap->live_.find(ptr);
  if (it == heap->live_.end() || it->second != size) {
    ++heap->misuses_;
    return;
  }
  heap->live_.erase(it);
  mmb::aligned_memory_free(ptr);
}

RuntimePtr runtime_on(FailingHeap& heap) {
  return make_runtime([&](mmb_runtime_options& o) {
    o.alloc_fn = &FailingHeap::alloc;
    o.free_fn = &FailingHeap::release;
    o.alloc_user_data = &heap;
  });
}

size_t inject_each(FailingHeap& heap, const std::function<mmb_status()>& op, const std::function<void()>& after_failure) {
  for (uint64_t n = 1; n < 100000; ++n) {
    INFO("hook allocation " << n << " fails");
    const size_t before = heap.outstanding();
    heap.arm(n);
    const mmb_status status = op();
    const bool reached = heap.disarm();
    if (!reached) {
      REQUIRE(status == MMB_OK);
      return size_t(n - 1);
    }
    CHECK(status == MMB_ERR_OUT_OF_MEMORY);
    CHECK(heap.outstanding() == before);
    after_failure();
  }
  FAIL("the operation never completed");
  return 0;
}

}  // namespace mmb::testing
