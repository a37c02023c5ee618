// Chooses the next token from a row of logits: greedy, or a seeded draw after
// penalties, top-k, temperature, top-p and min-p (in that order, as moemamba.h says).
//
// Determinism: the RNG is our own (xoshiro256** seeded through splitmix64); candidates
// are ordered by one strict total order (higher logit first, then lower token id), and
// every reordering the draw depends on is either a sort by that order (whose result is
// unique) or our own partition code. So the same seed and logits give the same tokens on
// every run, machine and thread count, whatever the standard library.
// Only finite logits can be chosen: NaN and +-inf never are.
//
// Speed at a 50k vocabulary: one pass over the logits (greedy keeps a running argmax,
// top-k a heap of k), one exp per candidate left, and top-p found by selection rather
// than by sorting.
//
// Memory: the penalty window (a ring of the last penalty_window tokens plus two scratch
// arrays of that size to count repeats) is allocated by the constructor. The candidate
// scratch has one entry per logit and is allocated by reserve(), or by the first
// sample() whose n is larger than any before; otherwise sample() allocates nothing.
#pragma once

#include "base/host_allocator.hpp"

#include <moemamba/moemamba.h>

#include <cstddef>
#include <cstdint>

namespace mmb {

// xoshiro256** (Blackman and Vigna), its 256-bit state filled from a 64-bit seed by
// splitmix64 as its authors recommend. Small, fast, and identical everywhere.
class Xoshiro256 {
 public:
  explicit Xoshiro256(uint64_t seed);
  // Starts from a given state (for checks against the authors' published outputs).
  static Xoshiro256 from_state(uint64_t s0, uint64_t s1, uint64_t s2, uint64_t s3);
  uint64_t next();
  // Uniform in [0, 1) with 53 random bits.
  double uniform();

 private:
  uint64_t s_[4];
};

class Sampler {
 public:
  // Throws MMB_ERR_INVALID_ARGUMENT when a field is out of range (see validate()).
  explicit Sampler(const mmb_sampler_params& params);
  // A copy with the same parameters, RNG state and penalty window (a job samples
  // with its own copy, so the host's sampler stays free).
  Sampler(const Sampler& other);
  Sampler& operator=(const Sampler&) = delete;

  // The rules of moemamba.h plus what makes arithmetic safe: every float finite,
  // temperature any finite value (<= 0 greedy), top_k >= 0, top_p in (0, 1],
  // min_p in [0, 1], repetition_penalty > 0, presence and frequency penalties >= 0,
  // penalty_window in [0, 65536]. Throws MMB_ERR_INVALID_ARGUMENT naming the field.
  static void validate(const mmb_sampler_params& params);

  const mmb_sampler_params& params() const { return params_; }

  // Empties the penalty window and restarts the RNG from the original seed.
  void reset();

  // Records a token (>= 0) in the penalty window. Ids beyond the logits given later
  // are remembered but cannot be penalized.
  void accept(int32_t token);

  // Chooses a token among logits[0, n) (left unchanged) and records it in the window.
  // Throws MMB_ERR_INVALID_ARGUMENT when n is 0 or above INT32_MAX or no logit is finite.
  int32_t sample(const float* logits, size_t n);

  // Makes the candidate scratch hold n entries, so that sample() with up to n logits
  // never allocates.
  void reserve(size_t n);
  size_t scratch_capacity() const { return candidates_.size(); }

  // Tokens the penalties currently see, oldest first.
  size_t window_size() const { return window_count_; }
  int32_t window_token(size_t i) const;

  struct Candidate {
    float value;  // a logit, then after temperature the unnormalized probability
    int32_t id;
  };

 private:
  size_t penalize(const float* logits, size_t n);
  int32_t draw(Candidate* c, size_t m, float max_logit, bool sorted);

  mmb_sampler_params params_;
  HostAllocator allocator_;
  HostBuffer<int32_t> window_;         // ring: the newest token at (window_head_ - 1)
  HostBuffer<int32_t> window_sorted_;  // scratch: the window sorted, to count repeats
  HostBuffer<Candidate> penalized_;    // scratch: penalized logits of recent tokens, by id
  size_t window_head_ = 0;
  size_t window_count_ = 0;
  HostBuffer<Candidate> candidates_;
  Xoshiro256 rng_;
};

}  // namespace mmb
