// splitmix64: seeded numbers that are the same on every platform, unlike the standard
// distributions; what the tests draw random models, tokens and values from.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <vector>

namespace mmb::testing {

class SplitMixRng {
 public:
  explicit SplitMixRng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  uint32_t below(uint32_t n) { return uint32_t(next() % n); }
  bool coin() { return next() & 1; }
  template <typename T>
  T pick(std::initializer_list<T> options) { return *(options.begin() + below(uint32_t(options.size()))); }
  template <typename T>
  T pick(const std::vector<T>& options) { return options[below(uint32_t(options.size()))]; }
  // Uniform in [lo, hi), 24 bits of resolution.
  float uniform(float lo, float hi) { return lo + (hi - lo) * float(next() >> 40) / float(1ull << 24); }
  std::vector<float> values(size_t n, float lo = -1.0f, float hi = 1.0f) {
    std::vector<float> v(n);
    for (float& x : v) x = uniform(lo, hi);
    return v;
  }

 private:
  uint64_t state_;
};

}  // namespace mmb::testing
