// Measures this machine's memory bandwidth in the same run as a benchmark, so
// "% of the floor" compares like with like (DESIGN.md section 6).
#pragma once

namespace mmb {

struct Bandwidth {
  double read_gbps;  // streaming reads (what decode does to weights), all threads
  double copy_gbps;  // memcpy, counting bytes read + bytes written
};

// Streams buffers far larger than the caches with `threads` threads; best of a few runs.
Bandwidth measure_bandwidth(int threads);

}  // namespace mmb
