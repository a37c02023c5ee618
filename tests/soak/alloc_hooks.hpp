// The runtime's allocator hooks (mmb_runtime_options.alloc_fn / free_fn): they count
// the bytes the library holds through them, so a run can watch them over time and
// check that everything comes back when the runtime is gone.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace mmb_soak {

struct AllocCounter {
  std::atomic<int64_t> live{0};   // bytes handed out and not yet freed
  std::atomic<int64_t> peak{0};   // most bytes live at once
  std::atomic<uint64_t> allocs{0};
  std::atomic<uint64_t> frees{0};
};

// mmb_alloc_fn and mmb_free_fn over the C library's aligned allocator; user_data is
// an AllocCounter.
void* counting_alloc(void* user_data, size_t size, size_t alignment);
void counting_free(void* user_data, void* ptr, size_t size);

}  // namespace mmb_soak
