#include "memory_bandwidth.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__)
#include "backend/cpu/avx512_warnings.hpp"

#include <immintrin.h>
#define MMB_BANDWIDTH_X86 1
#endif

namespace mmb {

namespace {

constexpr size_t kBytes = size_t(512) << 20;
// Rows read at once, as the blocked matrix kernels do: one stream per thread leaves
// memory-level parallelism unused and understates what the kernels can reach.
constexpr size_t kStreams = 8;
constexpr size_t kPrefetchAhead = 4096;  // bytes ahead of each stream, as the kernels prefetch

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

// A read pattern: sums `n` floats (a multiple of 16 * kStreams) starting at `p`.
using ReadFn = float (*)(const float* p, size_t n);

float read_interleaved_scalar(const float* p, size_t n) {
  const size_t part = n / kStreams;
  float acc[kStreams][8] = {};
  for (size_t i = 0; i < part; i += 8) {
    if (i % 16 == 0)
      for (size_t s = 0; s < kStreams; ++s) __builtin_prefetch(p + s * part + i + kPrefetchAhead / 4);
    for (size_t s = 0; s < kStreams; ++s)
      for (size_t j = 0; j < 8; ++j) acc[s][j] += p[s * part + i + j];
  }
  float sum = 0;
  for (const auto& stream : acc)
    for (float a : stream) sum += a;
  return sum;
}

float read_sequential_scalar(const float* p, size_t n) {
  float acc[16] = {};
  for (size_t i = 0; i < n; i += 16)
    for (size_t j = 0; j < 16; ++j) acc[j] += p[i + j];
  float sum = 0;
  for (float a : acc) sum += a;
  return sum;
}

#if MMB_BANDWIDTH_X86
__attribute__((target("avx2"))) float read_interleaved_avx2(const float* p, size_t n) {
  const size_t part = n / kStreams;
  __m256 acc[kStreams];
  for (auto& a : acc) a = _mm256_setzero_ps();
  for (size_t i = 0; i < part; i += 16) {
    for (size_t s = 0; s < kStreams; ++s) {
      const float* row = p + s * part + i;
      _mm_prefetch(reinterpret_cast<const char*>(row) + kPrefetchAhead, _MM_HINT_T0);
      acc[s] = _mm256_add_ps(acc[s], _mm256_add_ps(_mm256_loadu_ps(row), _mm256_loadu_ps(row + 8)));
    }
  }
  __m256 total = _mm256_setzero_ps();
  for (auto& a : acc) total = _mm256_add_ps(total, a);
  float lanes[8];
  _mm256_storeu_ps(lanes, total);
  return lanes[0] + lanes[7];
}

__attribute__((target("avx2"))) float read_sequential_avx2(const float* p, size_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i < n; i += 32) {
    a0 = _mm256_add_ps(a0, _mm256_loadu_ps(p + i));
    a1 = _mm256_add_ps(a1, _mm256_loadu_ps(p + i + 8));
    a2 = _mm256_add_ps(a2, _mm256_loadu_ps(p + i + 16));
    a3 = _mm256_add_ps(a3, _mm256_loadu_ps(p + i + 24));
  }
  float lanes[8];
  _mm256_storeu_ps(lanes, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  return lanes[0] + lanes[7];
}

__attribute__((target("avx512f"))) float read_interleaved_avx512(const float* p, size_t n) {
  const size_t part = n / kStreams;
  __m512 acc[kStreams];
  for (auto& a : acc) a = _mm512_setzero_ps();
  for (size_t i = 0; i < part; i += 16) {
    for (size_t s = 0; s < kStreams; ++s) {
      const float* row = p + s * part + i;
      _mm_prefetch(reinterpret_cast<const char*>(row) + kPrefetchAhead, _MM_HINT_T0);
      acc[s] = _mm512_add_ps(acc[s], _mm512_loadu_ps(row));
    }
  }
  __m512 total = _mm512_setzero_ps();
  for (auto& a : acc) total = _mm512_add_ps(total, a);
  return _mm512_reduce_add_ps(total);
}

__attribute__((target("avx512f"))) float read_sequential_avx512(const float* p, size_t n) {
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i < n; i += 64) {
    a0 = _mm512_add_ps(a0, _mm512_loadu_ps(p + i));
    a1 = _mm512_add_ps(a1, _mm512_loadu_ps(p + i + 16));
    a2 = _mm512_add_ps(a2, _mm512_loadu_ps(p + i + 32));
    a3 = _mm512_add_ps(a3, _mm512_loadu_ps(p + i + 48));
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}
#endif

struct ReadPattern {
  const char* name;
  ReadFn fn;
};

// The patterns this CPU can run: the widest loads it has, and the plain loops (which
// the compiler vectorizes for the baseline architecture).
std::vector<ReadPattern> read_patterns() {
  std::vector<ReadPattern> patterns = {{"interleaved", read_interleaved_scalar},
                                       {"sequential", read_sequential_scalar}};
#if MMB_BANDWIDTH_X86
  if (__builtin_cpu_supports("avx2")) {
    patterns.push_back({"interleaved avx2", read_interleaved_avx2});
    patterns.push_back({"sequential avx2", read_sequential_avx2});
  }
  if (__builtin_cpu_supports("avx512f")) {
    patterns.push_back({"interleaved avx512", read_interleaved_avx512});
    patterns.push_back({"sequential avx512", read_sequential_avx512});
  }
#endif
  return patterns;
}

}  // namespace

Bandwidth measure_bandwidth(int threads) {
  threads = std::max(1, threads);
  std::vector<float> src(kBytes / sizeof(float), 1.0f), dst(kBytes / sizeof(float), 0.0f);
  const size_t per = src.size() / size_t(threads);
  const size_t per_read = per / (64 * kStreams) * (64 * kStreams);  // whole steps of every pattern
  std::vector<float> sums(static_cast<size_t>(threads));
  Bandwidth bw{0, 0, ""};
  for (const ReadPattern& pattern : read_patterns()) {
    const double s = best_seconds(threads, [&](int t) { sums[size_t(t)] += pattern.fn(src.data() + size_t(t) * per, per_read); });
    const double gbps = double(per_read) * sizeof(float) * threads / s / 1e9;
    if (gbps > bw.read_gbps) bw = {gbps, 0, pattern.name};
  }
  const double copy_s = best_seconds(threads, [&](int t) {
    std::memcpy(dst.data() + size_t(t) * per, src.data() + size_t(t) * per, per * sizeof(float));
  });
  volatile float sink = sums[0] + dst[per / 2];  // keeps the loops from being optimized away
  (void)sink;
  bw.copy_gbps = 2.0 * double(per) * sizeof(float) * threads / copy_s / 1e9;
  return bw;
}

}  // namespace mmb
