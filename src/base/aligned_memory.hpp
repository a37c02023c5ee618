// Aligned blocks from the C runtime: std::aligned_alloc where the C library has it;
// Windows' C runtime has not (its free cannot release an over-aligned block), and
// pairs _aligned_malloc with _aligned_free instead.
#pragma once

#include <cstddef>
#include <cstdlib>

#ifdef _WIN32
#include <malloc.h>
#endif

namespace mmb {

// `size` is a multiple of `alignment` (a power of two); null when out of memory.
inline void* aligned_memory_allocate(size_t alignment, size_t size) {
#ifdef _WIN32
  return ::_aligned_malloc(size, alignment);
#else
  return std::aligned_alloc(alignment, size);
#endif
}

inline void aligned_memory_free(void* p) {
#ifdef _WIN32
  ::_aligned_free(p);
#else
  std::free(p);
#endif
}

}  // namespace mmb
