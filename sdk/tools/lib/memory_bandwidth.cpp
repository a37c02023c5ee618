#include "memory_bandwidth.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

namespace mmb {

namespace {

constexpr size_t kBytes = size_t(512) << 20;

template <typename Work>
double best_seconds(int threads, Work work) {
  double best = 1e30;
  for (int rep = 0; rep < 4; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) pool.emplace_back(work, t);
    for (auto& th : pool) th.join();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::min(best, s);
  }
  return best;
}

}  // namespace

Bandwidth measure_bandwidth(int threads) {
  threads = std::max(1, threads);
  std::vector<float> src(kBytes / sizeof(float), 1.0f), dst(kBytes / sizeof(float), 0.0f);
  const size_t per = src.size() / size_t(threads);
  std::vector<double> sums(static_cast<size_t>(threads));
  // Each thread reads its part as kStreams interleaved streams, as the matrix kernels
  // read several weight rows at once: one stream per thread leaves memory-level
  // parallelism unused and understates what the kernels can reach.
  constexpr size_t kStreams = 8, kLanes = 8, kPrefetchAhead = 1024;
  double read_s = best_seconds(threads, [&](int t) {
    const size_t part = per / kStreams / kLanes * kLanes;
    const float* p = src.data() + size_t(t) * per;
    float acc[kStreams][kLanes] = {};
    for (size_t i = 0; i < part; i += kLanes) {
      // Ahead of each stream, as the kernels prefetch the rows they read next.
      if (i % 16 == 0)
        for (size_t s = 0; s < kStreams; ++s) __builtin_prefetch(p + s * part + i + kPrefetchAhead);
      for (size_t s = 0; s < kStreams; ++s)
        for (size_t j = 0; j < kLanes; ++j) acc[s][j] += p[s * part + i + j];
    }
    double sum = 0;
    for (const auto& stream : acc)
      for (float a : stream) sum += a;
    sums[size_t(t)] = sum;  // keeps the loop from being optimized away
  });
  double copy_s = best_seconds(threads, [&](int t) {
    std::memcpy(dst.data() + size_t(t) * per, src.data() + size_t(t) * per, per * sizeof(float));
  });
  volatile double sink = sums[0] + dst[per / 2];
  (void)sink;
  const double read_bytes = double(per / kStreams / kLanes * kLanes * kStreams) * sizeof(float) * threads;
  return {read_bytes / read_s / 1e9, 2.0 * double(kBytes) / copy_s / 1e9};
}

}  // namespace mmb
