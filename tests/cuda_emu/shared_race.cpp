// Memory checks inside kernels. The kernels are compiled with ThreadSanitizer's
// instrumentation but without its runtime: every load and store calls __tsan_readN or
// __tsan_writeN, defined here. While a kernel runs:
// - an access AddressSanitizer has poisoned (past a cudaMalloc'd block, freed memory)
//   is reported by AddressSanitizer as if the access itself had been instrumented;
// - shared memory (a __shared__ array is a static, so: a writable data segment of a
//   loaded module) is race-checked: two threads of the block touching one address
//   between two barriers, at least one of them writing, is an error, unless both are
//   lanes of one warp and a warp collective (__syncwarp, a shuffle, a ballot) completed
//   between the two accesses. This is compute-sanitizer's racecheck for our kernels.
// Outside kernels (host code in the same files) the hooks do nothing.
#include "emulator.hpp"

#include <dlfcn.h>
#include <link.h>

#include <algorithm>
#include <cstdio>
#include <utility>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CUDA_EMU_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define CUDA_EMU_ASAN 1
#endif
#ifdef CUDA_EMU_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

namespace cuda_emu {

namespace {

struct Access {
  int thread;
  uint32_t warp_gen;  // the thread's warp's collectives completed at the access
};
struct Cell {
  uintptr_t word = 0;
  uint32_t stamp = 0;  // the cell is live when it equals the table's
  Access writer{-1, 0};
  std::vector<Access> readers;  // capacity kept when a cell is reused
};

// The 4-byte words touched since the last barrier: an open-addressed table whose cells
// all die at once when the stamp moves on (a barrier clears it in O(1)).
class Cells {
 public:
  void clear() {
    if (++stamp_ == 0) {  // wrapped: no old stamp may look live
      for (Cell& c : table_) c.stamp = 0;
      stamp_ = 1;
    }
    live_ = 0;
  }
  Cell& at(uintptr_t word) {
    if ((live_ + 1) * 4 > table_.size() * 3) grow();
    Cell& c = probe(table_, word);
    if (c.stamp != stamp_) {
      c.stamp = stamp_;
      c.word = word;
      c.writer = {-1, 0};
      c.readers.clear();
      ++live_;
    }
    return c;
  }

 private:
  Cell& probe(std::vector<Cell>& table, uintptr_t word) const {
    const size_t mask = table.size() - 1;
    for (size_t i = size_t((word >> 2) * 0x9e3779b97f4a7c15ull >> 40) & mask;; i = (i + 1) & mask) {
      Cell& c = table[i];
      if (c.stamp != stamp_ || c.word == word) return c;
    }
  }
  void grow() {
    std::vector<Cell> bigger(table_.size() * 2);
    for (Cell& c : table_)
      if (c.stamp == stamp_) probe(bigger, c.word) = std::move(c);
    table_ = std::move(bigger);
  }
  std::vector<Cell> table_ = std::vector<Cell>(size_t(1) << 12);
  uint32_t stamp_ = 1;
  size_t live_ = 0;
};

Cells cells;
bool reported = false;
std::vector<std::pair<uintptr_t, uintptr_t>> data_segments;  // sorted by start

int collect_segments(dl_phdr_info* info, size_t, void* self) {
  // The emulator's own variables are never a kernel's shared memory.
  if (info->dlpi_addr == reinterpret_cast<uintptr_t>(self)) return 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type == PT_LOAD && (ph.p_flags & PF_W)) {
      const uintptr_t lo = info->dlpi_addr + ph.p_vaddr;
      data_segments.emplace_back(lo, lo + ph.p_memsz);
    }
  }
  return 0;
}

void read_segments() {
  data_segments.clear();
  Dl_info self{};
  dladdr(reinterpret_cast<void*>(&read_segments), &self);
  // dlpi_addr is the load bias; for a shared library that is its base address.
  dl_iterate_phdr(collect_segments, self.dli_fbase);
  std::sort(data_segments.begin(), data_segments.end());
}

bool is_shared(uintptr_t a) {
  auto it = std::upper_bound(data_segments.begin(), data_segments.end(), std::make_pair(a, ~uintptr_t(0)));
  return it != data_segments.begin() && a < std::prev(it)->second;
}

bool ordered(const Access& earlier, int t) {
  if (earlier.thread == t) return true;
  return earlier.thread / 32 == t / 32 && kernel_view.warp_gen[t / 32] != earlier.warp_gen;
}

std::string location(void* pc) {
#ifdef CUDA_EMU_ASAN
  char buf[512];
  __sanitizer_symbolize_pc(pc, "%f at %L", buf, sizeof buf);
  return buf;
#else
  char buf[32];
  std::snprintf(buf, sizeof buf, "pc %p", pc);
  return buf;
#endif
}

void race(const char* kind, uintptr_t word, const Access& other, int t, void* pc) {
  if (reported) return;
  reported = true;
  char address[32];
  std::snprintf(address, sizeof address, "%#llx", static_cast<unsigned long long>(word));
  report(std::string("shared-memory race (") + kind + ") at " + address + ": threads " +
         std::to_string(other.thread) + " and " + std::to_string(t) + " of the block, no barrier between; in " +
         location(pc));
}

void check_shared(uintptr_t addr, size_t size, bool write, void* pc) {
  const int t = kernel_view.thread;
  const Access me{t, kernel_view.warp_gen[t / 32]};
  for (uintptr_t w = addr & ~uintptr_t(3); w < addr + size; w += 4) {
    Cell& c = cells.at(w);
    if (c.writer.thread >= 0 && !ordered(c.writer, t)) race(write ? "write after write" : "read after write", w, c.writer, t, pc);
    if (write) {
      for (const Access& r : c.readers)
        if (!ordered(r, t)) race("write after read", w, r, t, pc);
      c.readers.clear();
      c.writer = me;
    } else if (!c.readers.empty() && c.readers.back().thread == t) {
      c.readers.back() = me;  // its earlier read there is ordered before this one
    } else {
      // A thread reading again after others keeps both entries: a write checks all.
      c.readers.push_back(me);
    }
  }
}

#ifdef CUDA_EMU_ASAN
// The common case without a call into the runtime: an access within one 8-byte granule
// whose shadow byte is 0 (fully addressable). Anything else asks the runtime.
__attribute__((no_sanitize("address"))) inline bool unpoisoned_granule(uintptr_t a, size_t size) {
#if defined(__x86_64__) && defined(__linux__)
  if ((a & 7) + size > 8) return false;
  return *reinterpret_cast<const volatile int8_t*>((a >> 3) + 0x7fff8000) == 0;  // ASan's x86-64 Linux mapping
#else
  (void)a, (void)size;
  return false;
#endif
}
#endif

void on_access(void* addr, size_t size, bool write, void* pc) {
  if (!kernel_view.running) return;
  const char* a = static_cast<const char*>(addr);
  if (a >= kernel_view.stack_lo && a < kernel_view.stack_hi) return;  // the thread's own locals
#ifdef CUDA_EMU_ASAN
  if (!unpoisoned_granule(uintptr_t(a), size) && __asan_region_is_poisoned(addr, size))
    __asan_report_error(pc, __builtin_frame_address(0), __builtin_frame_address(0), addr, write, size);
#endif
  if (is_shared(uintptr_t(a))) check_shared(uintptr_t(a), size, write, pc);
}

}  // namespace

void race_reset() {
  cells.clear();
  reported = false;
  if (data_segments.empty()) read_segments();
}

// A module loaded since (the plugin) may hold kernels: re-read the segments per launch.
void race_new_launch() { read_segments(); }

}  // namespace cuda_emu

using cuda_emu::on_access;

#define CUDA_EMU_HOOKS(n)                                                                                    \
  extern "C" void __tsan_read##n(void* a) { on_access(a, n, false, __builtin_return_address(0)); }           \
  extern "C" void __tsan_write##n(void* a) { on_access(a, n, true, __builtin_return_address(0)); }           \
  extern "C" void __tsan_unaligned_read##n(void* a) { on_access(a, n, false, __builtin_return_address(0)); } \
  extern "C" void __tsan_unaligned_write##n(void* a) { on_access(a, n, true, __builtin_return_address(0)); }
CUDA_EMU_HOOKS(1)
CUDA_EMU_HOOKS(2)
CUDA_EMU_HOOKS(4)
CUDA_EMU_HOOKS(8)
CUDA_EMU_HOOKS(16)

extern "C" {
void __tsan_init() {}
void __tsan_func_entry(void*) {}
void __tsan_func_exit() {}
void __tsan_read_range(void* a, size_t n) { on_access(a, n, false, __builtin_return_address(0)); }
void __tsan_write_range(void* a, size_t n) { on_access(a, n, true, __builtin_return_address(0)); }
void __tsan_vptr_update(void**, void*) {}
void __tsan_vptr_read(void**) {}
void* __tsan_memcpy(void* d, const void* s, size_t n) {
  on_access(const_cast<void*>(s), n, false, __builtin_return_address(0));
  on_access(d, n, true, __builtin_return_address(0));
  return __builtin_memcpy(d, s, n);
}
void* __tsan_memmove(void* d, const void* s, size_t n) {
  on_access(const_cast<void*>(s), n, false, __builtin_return_address(0));
  on_access(d, n, true, __builtin_return_address(0));
  return __builtin_memmove(d, s, n);
}
void* __tsan_memset(void* d, int v, size_t n) {
  on_access(d, n, true, __builtin_return_address(0));
  return __builtin_memset(d, v, n);
}
}
