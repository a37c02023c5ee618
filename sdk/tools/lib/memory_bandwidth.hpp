// Measures this machine's memory bandwidth in the same run as a benchmark, so
// "% of the floor" compares like with like (DESIGN.md section 6).
#pragma once

namespace mmb {

struct Bandwidth {
  double read_gbps;  // streaming reads (what decode does to weights), all threads: the best pattern
  double copy_gbps;  // memcpy, counting bytes read + bytes written
  const char* read_pattern;  // which read pattern gave read_gbps
};

// Streams buffers far larger than the caches with `threads` threads; best of a few runs
// of each read pattern (interleaved rows as the matrix kernels read them, one sequential
// stream; each with the widest vector loads the CPU has), so that no kernel can read
// faster than the floor says memory allows.
Bandwidth measure_bandwidth(int threads);

}  // namespace mmb
