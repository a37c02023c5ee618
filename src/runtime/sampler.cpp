#include "runtime/sampler.hpp"

#include "base/error.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>

namespace mmb {

namespace {

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

constexpr int32_t kMaxPenaltyWindow = 65536;

void require_finite(float v, const char* field) {
  if (!std::isfinite(v)) fail(MMB_ERR_INVALID_ARGUMENT, "sampler params: ", field, " is ", v, "; expected a finite value");
}

}  // namespace

Xoshiro256::Xoshiro256(uint64_t seed) {
  for (uint64_t& word : s_) word = splitmix64(seed);
}

Xoshiro256 Xoshiro256::from_state(uint64_t s0, uint64_t s1, uint64_t s2, uint64_t s3) {
  Xoshiro256 rng(0);
  rng.s_[0] = s0;
  rng.s_[1] = s1;
  rng.s_[2] = s2;
  rng.s_[3] = s3;
  return rng;
}

uint64_t Xoshiro256::next() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Xoshiro256::uniform() { return double(next() >> 11) * 0x1.0p-53; }

void Sampler::validate(const mmb_sampler_params& p) {
  require_finite(p.temperature, "temperature");
  require_finite(p.top_p, "top_p");
  require_finite(p.min_p, "min_p");
  require_finite(p.repetition_penalty, "repetition_penalty");
  require_finite(p.presence_penalty, "presence_penalty");
  require_finite(p.frequency_penalty, "frequency_penalty");
  if (p.top_k < 0) fail(MMB_ERR_INVALID_ARGUMENT, "sampler params: top_k is ", p.top_k, "; expected >= 0 (0 = off)");
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f))
    fail(MMB_ERR_INVALID_ARGUMENT, "sampler params: top_p is ", p.top_p, "; expected a value in (0, 1] (1 = off)");
  if (!(p.min_p >= 0.0f && p.min_p <= 1.0f))
    fail(MMB_ERR_INVALID_ARGUMENT, "sampler params: min_p is ", p.min_p, "; expected a value in [0, 1] (0 = off)");
  if (!(p.repetition_penalty > 0.0f))
    fail(MMB_ERR_INVALID_ARGUMENT, "sampler params: repetition_penalty is ", p.repetition_penalty,
         "; expected > 0 (1 = off)");
  if (p.presence_penalty < 0.0f)
    fail(MMB_ERR_INVALID_ARGUMENT, "sampler params: presence_penalty is ", p.presence_penalty, "; expected >= 0 (0 = off)");
  if (p.frequency_penalty < 0.0f)
    fail(MMB_ERR_INVALID_ARGUMENT, "sampler params: frequency_penalty is ", p.frequency_penalty,
         "; expected >= 0 (0 = off)");
  if (p.penalty_window < 0 || p.penalty_window > kMaxPenaltyWindow)
    fail(MMB_ERR_INVALID_ARGUMENT, "sampler params: penalty_window is ", p.penalty_window, "; expected 0..",
         kMaxPenaltyWindow);
}

Sampler::Sampler(const mmb_sampler_params& params) : params_(params), rng_(params.seed) {
  validate(params_);
  const size_t window = size_t(params_.penalty_window);
  window_ = HostBuffer<int32_t>(allocator_, window, false);
  window_sorted_ = HostBuffer<int32_t>(allocator_, window, false);
  penalized_ = HostBuffer<Candidate>(allocator_, window, false);
}

Sampler::Sampler(const Sampler& other) : Sampler(other.params_) {
  if (window_.size()) std::memcpy(window_.data(), other.window_.data(), window_.size() * sizeof(int32_t));
  window_head_ = other.window_head_;
  window_count_ = other.window_count_;
  rng_ = other.rng_;
}

void Sampler::reset() {
  window_head_ = 0;
  window_count_ = 0;
  rng_ = Xoshiro256(params_.seed);
}

void Sampler::accept(int32_t token) {
  if (token < 0) fail(MMB_ERR_INVALID_ARGUMENT, "token ", token, " is negative");
  const size_t capacity = window_.size();
  if (capacity == 0) return;
  window_[window_head_] = token;
  window_head_ = (window_head_ + 1) % capacity;
  window_count_ = std::min(window_count_ + 1, capacity);
}

int32_t Sampler::window_token(size_t i) const {
  if (i >= window_count_) fail(MMB_ERR_INVALID_ARGUMENT, "window index ", i, " is beyond its ", window_count_, " tokens");
  const size_t capacity = window_.size();
  return window_[(window_head_ + capacity - window_count_ + i) % capacity];
}

void Sampler::reserve(size_t n) {
  if (n > candidates_.size()) candidates_ = HostBuffer<Candidate>(allocator_, n, false);
}

namespace {

using Candidate = Sampler::Candidate;

// The one order every filter uses: larger value first, lower id on ties. A strict total
// order, so a sort by it has one possible result on every standard library.
bool before(const Candidate& a, const Candidate& b) {
  return a.value > b.value || (a.value == b.value && a.id < b.id);
}

// Calls fn(value, id) for every finite logit in id order, the penalized value replacing
// the logit of each recent token (`penalized`: finite values, ascending ids). The inner
// loop runs over the stretches between penalized ids, so it tests nothing else.
template <typename Fn>
void for_each_finite(const float* logits, size_t n, const Candidate* penalized, size_t n_penalized, Fn&& fn) {
  size_t i = 0;
  for (size_t p = 0; p <= n_penalized; ++p) {
    const size_t end = p < n_penalized ? size_t(penalized[p].id) : n;
    for (; i < end; ++i)
      if (std::isfinite(logits[i])) fn(logits[i], int32_t(i));
    if (p == n_penalized) break;
    fn(penalized[p].value, penalized[p].id);
    i = end + 1;
  }
}

// Reorders c[0, m) so that a prefix of it is the smallest set, in the total order,
// whose mass reaches `target`; returns that prefix's length and writes its mass. A
// quickselect on mass with our own partition, so the resulting order is ours, not the
// standard library's; after too many rounds (a hostile order) it sorts the rest.
size_t smallest_prefix_reaching(Candidate* c, size_t m, double target, double* mass) {
  size_t lo = 0, hi = m;  // c[0, lo) is kept, c[hi, m) dropped, [lo, hi) undecided
  double kept = 0.0;      // mass of c[0, lo), below target
  for (int rounds = 0; hi - lo > 32 && rounds < 64; ++rounds) {
    const size_t mid = lo + (hi - lo) / 2;
    Candidate a = c[lo], b = c[mid], d = c[hi - 1];
    if (before(b, a)) std::swap(a, b);
    if (before(d, b)) b = before(d, a) ? a : d;
    const Candidate pivot = b;  // the median of three
    size_t j = lo;
    double left = 0.0;
    for (size_t i = lo; i < hi; ++i) {
      if (!before(c[i], pivot)) continue;
      std::swap(c[i], c[j]);
      left += c[j].value;
      ++j;
    }
    for (size_t i = j; i < hi; ++i) {
      if (c[i].id == pivot.id) {
        std::swap(c[i], c[j]);
        break;
      }
    }
    if (kept + left >= target) {
      hi = j;
    } else {
      kept += left + pivot.value;
      lo = j + 1;
      if (kept >= target) {
        *mass = kept;
        return lo;
      }
    }
  }
  std::sort(c + lo, c + hi, before);
  for (size_t i = lo; i < hi; ++i) {
    kept += c[i].value;
    if (kept >= target) {
      *mass = kept;
      return i + 1;
    }
  }
  *mass = kept;
  return hi;  // rounding kept the sum just short: keep everything undecided too
}

}  // namespace

int32_t Sampler::sample(const float* logits, size_t n) {
  if (n == 0) fail(MMB_ERR_INVALID_ARGUMENT, "no logits (n is 0)");
  if (n > size_t(std::numeric_limits<int32_t>::max()))
    fail(MMB_ERR_INVALID_ARGUMENT, "n is ", n, "; token ids are int32, so at most ", std::numeric_limits<int32_t>::max());
  reserve(n);
  const size_t n_penalized = penalize(logits, n);
  const Candidate* penalized = penalized_.data();
  Candidate* c = candidates_.data();
  size_t m = 0;
  float max_logit = -FLT_MAX;
  bool sorted = false;

  if (params_.temperature <= 0.0f) {
    // Greedy: a running argmax (in locals: a store to c could alias the logits); the
    // first maximum is the lowest id among ties.
    float best = -INFINITY;
    int32_t best_id = -1;
    for_each_finite(logits, n, penalized, n_penalized, [&](float v, int32_t id) {
      if (v > best) {
        best = v;
        best_id = id;
      }
    });
    if (best_id < 0) fail(MMB_ERR_INVALID_ARGUMENT, "none of the ", n, " logits is finite");
    accept(best_id);
    return best_id;
  } else if (params_.top_k > 0 && size_t(params_.top_k) < n) {
    // Top-k: a heap whose front is the worst of the best k seen so far; most logits
    // only meet one comparison with it.
    const size_t k = size_t(params_.top_k);
    for_each_finite(logits, n, penalized, n_penalized, [&](float v, int32_t id) {
      const Candidate x{v, id};
      if (m < k) {
        c[m++] = x;
        std::push_heap(c, c + m, before);
      } else if (before(x, c[0])) {
        std::pop_heap(c, c + m, before);
        c[m - 1] = x;
        std::push_heap(c, c + m, before);
      }
    });
    std::sort(c, c + m, before);
    sorted = true;
    if (m > 0) max_logit = c[0].value;
  } else {
    for_each_finite(logits, n, penalized, n_penalized, [&](float v, int32_t id) {
      c[m++] = {v, id};
      max_logit = std::max(max_logit, v);
    });
  }
  if (m == 0) fail(MMB_ERR_INVALID_ARGUMENT, "none of the ", n, " logits is finite");

  const int32_t token = draw(c, m, max_logit, sorted);
  accept(token);
  return token;
}

// Fills penalized_ with the penalized logit of each distinct recent token below n, by
// ascending id, and returns how many. Repetition first (divide a positive logit,
// multiply a negative one), then presence (once per distinct token) and frequency (once
// per occurrence). Counting sorts a copy of the window instead of keeping a
// vocabulary-sized table, so nothing here depends on the vocabulary.
size_t Sampler::penalize(const float* logits, size_t n) {
  const float repetition = params_.repetition_penalty;
  const float presence = params_.presence_penalty;
  const float frequency = params_.frequency_penalty;
  if (window_count_ == 0 || (repetition == 1.0f && presence == 0.0f && frequency == 0.0f)) return 0;

  int32_t* recent = window_sorted_.data();
  for (size_t i = 0; i < window_count_; ++i) recent[i] = window_token(i);
  std::sort(recent, recent + window_count_);
  size_t count = 0;
  for (size_t i = 0; i < window_count_;) {
    size_t j = i;
    while (j < window_count_ && recent[j] == recent[i]) ++j;
    const size_t token = size_t(recent[i]);
    const size_t occurrences = j - i;
    i = j;
    if (token >= n) break;  // sorted: the rest are beyond the logits too
    float v = logits[token];
    if (!std::isfinite(v)) continue;  // stays excluded
    if (repetition != 1.0f) v = v > 0.0f ? v / repetition : v * repetition;
    v -= presence + float(occurrences) * frequency;
    // A penalty must not turn a finite logit into an excluded one.
    penalized_[count++] = {std::clamp(v, -FLT_MAX, FLT_MAX), int32_t(token)};
  }
  return count;
}

// Temperature, top-p, min-p, then one draw by inverse CDF over the kept candidates in
// their current order: id order when no filter reordered them, else the order that top-k
// sorted or that smallest_prefix_reaching() left.
int32_t Sampler::draw(Candidate* c, size_t m, float max_logit, bool sorted) {
  // Temperature: the unnormalized probability w = exp((l - max) / T), 1 for the best.
  // A tiny T (1/T = inf) gives -inf for the others, never inf * 0, as l - max < 0.
  const float inv_temperature = 1.0f / params_.temperature;
  const bool top_p_on = params_.top_p < 1.0f;
  const bool min_p_on = params_.min_p > 0.0f;
  // Min-p keeps w >= min_p (the best has w = 1); the same pass moves what it keeps to
  // the front, in order. Without top-p the mass of what min-p drops is never needed, so
  // a first pass, without branches, drops the logits clearly below the cut before any exp
  // (one nat of margin keeps rounding from deciding).
  if (min_p_on && !top_p_on) {
    const float cut = std::log(params_.min_p) - 1.0f;
    size_t left = 0;
    for (size_t i = 0; i < m; ++i) {
      const Candidate x = c[i];
      c[left] = x;
      left += (x.value - max_logit) * inv_temperature >= cut;
    }
    m = left;
  }
  const float min_w = min_p_on ? params_.min_p : 0.0f;
  double total = 0.0, kept_mass = 0.0;
  size_t kept = 0;
  for (size_t i = 0; i < m; ++i) {
    const float x = (c[i].value - max_logit) * inv_temperature;
    const float w = x < 0.0f ? std::exp(x) : 1.0f;
    const bool keep = w >= min_w;
    total += w;
    kept_mass += keep ? w : 0.0f;
    c[kept] = {w, c[i].id};
    kept += keep;
  }

  // Top-p and min-p both keep a prefix of the total order, so applying top-p (its mass
  // measured against the whole total) to what min-p kept gives the same set as top-p
  // first, min-p second.
  const double target = double(params_.top_p) * total;
  if (top_p_on && kept_mass >= target) {
    if (sorted) {
      double mass = 0.0;
      size_t i = 0;
      while (i < kept && mass < target) mass += c[i++].value;
      kept = i;
      kept_mass = mass;
    } else {
      kept = smallest_prefix_reaching(c, kept, target, &kept_mass);
    }
  }

  const double u = rng_.uniform() * kept_mass;
  double mass = 0.0;
  size_t last_positive = 0;
  for (size_t i = 0; i < kept; ++i) {
    if (c[i].value <= 0.0f) continue;
    mass += c[i].value;
    last_positive = i;
    if (u < mass) return c[i].id;
  }
  return c[last_positive].id;  // u rounded up to the whole mass
}

}  // namespace mmb
