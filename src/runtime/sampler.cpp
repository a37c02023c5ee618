#include "runtime/sampler.hpp"

#include "base/error.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
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
// The sorted prefix grows by at least this many candidates at a time when top-p or
// min-p need more of the order than top-k gave (doubling after that).
constexpr size_t kFirstSortChunk = 64;

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
  window_ = HostBuffer<int32_t>(allocator_, size_t(params_.penalty_window), false);
  window_sorted_ = HostBuffer<int32_t>(allocator_, size_t(params_.penalty_window), false);
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

int32_t Sampler::sample(const float* logits, size_t n) {
  if (n == 0) fail(MMB_ERR_INVALID_ARGUMENT, "no logits (n is 0)");
  if (n > size_t(std::numeric_limits<int32_t>::max()))
    fail(MMB_ERR_INVALID_ARGUMENT, "n is ", n, "; token ids are int32, so at most ", std::numeric_limits<int32_t>::max());
  reserve(n);
  Candidate* c = candidates_.data();
  for (size_t i = 0; i < n; ++i) c[i] = {logits[i], int32_t(i)};
  apply_penalties(c, n);
  float max_logit = 0.0f;
  const size_t m = keep_finite(c, n, &max_logit);
  if (m == 0) fail(MMB_ERR_INVALID_ARGUMENT, "none of the ", n, " logits is finite");

  const int32_t token = params_.temperature <= 0.0f ? c[argmax(c, m)].id : draw(c, m, max_logit);
  accept(token);
  return token;
}

// Repetition first (divide a positive logit, multiply a negative one), then presence
// (once per distinct recent token) and frequency (once per occurrence). Candidates are
// still indexed by token id here. Counting sorts a copy of the window instead of
// keeping a vocabulary-sized table, so the window never depends on the vocabulary.
void Sampler::apply_penalties(Candidate* all, size_t n) {
  const float repetition = params_.repetition_penalty;
  const float presence = params_.presence_penalty;
  const float frequency = params_.frequency_penalty;
  if (window_count_ == 0 || (repetition == 1.0f && presence == 0.0f && frequency == 0.0f)) return;

  int32_t* recent = window_sorted_.data();
  for (size_t i = 0; i < window_count_; ++i) recent[i] = window_token(i);
  std::sort(recent, recent + window_count_);
  for (size_t i = 0; i < window_count_;) {
    size_t j = i;
    while (j < window_count_ && recent[j] == recent[i]) ++j;
    const size_t token = size_t(recent[i]);
    const size_t occurrences = j - i;
    i = j;
    if (token >= n) continue;
    float v = all[token].value;
    if (!std::isfinite(v)) continue;  // stays excluded
    if (repetition != 1.0f) v = v > 0.0f ? v / repetition : v * repetition;
    v -= presence + float(occurrences) * frequency;
    // A penalty must not turn a finite logit into an excluded one.
    all[token].value = std::clamp(v, -FLT_MAX, FLT_MAX);
  }
}

// Drops NaN and +-inf in place, keeping id order; returns how many remain.
size_t Sampler::keep_finite(Candidate* all, size_t n, float* max_logit) const {
  size_t m = 0;
  float best = -FLT_MAX;
  for (size_t i = 0; i < n; ++i) {
    const float v = all[i].value;
    if (!std::isfinite(v)) continue;
    all[m++] = all[i];
    best = std::max(best, v);
  }
  *max_logit = best;
  return m;
}

// Candidates are in id order: the first maximum is the lowest id among ties.
size_t Sampler::argmax(const Candidate* c, size_t m) {
  size_t best = 0;
  for (size_t i = 1; i < m; ++i)
    if (c[i].value > c[best].value) best = i;
  return best;
}

namespace {
// The one order every filter uses: larger value first, lower id on ties. Being a
// strict total order, it makes nth_element and sort give the same result everywhere.
struct Before {
  template <typename C>
  bool operator()(const C& a, const C& b) const {
    return a.value > b.value || (a.value == b.value && a.id < b.id);
  }
};
}  // namespace

// Makes c[0, end) the best `end` candidates of c[0, m) in order, end = min(m, sorted +
// want), given that c[0, sorted) already is. Partial selection, never a full sort
// unless the filters really need the whole order.
size_t Sampler::sorted_prefix(Candidate* c, size_t m, size_t sorted, size_t want) const {
  const size_t end = std::min(m, sorted + want);
  if (end < m) std::nth_element(c + sorted, c + end, c + m, Before{});
  std::sort(c + sorted, c + end, Before{});
  return end;
}

// Top-k, temperature, top-p, min-p, then one draw by inverse CDF. The walk goes over
// the candidates in id order when no filter needs an order, else in sorted order.
int32_t Sampler::draw(Candidate* c, size_t m, float max_logit) {
  size_t sorted = 0;
  if (params_.top_k > 0 && size_t(params_.top_k) < m) {
    m = sorted = sorted_prefix(c, m, 0, size_t(params_.top_k));
    max_logit = c[0].value;
  }

  // Temperature: the unnormalized probability exp((l - max) / T), 1 for the best.
  // d < 0 is tested so that a tiny T (1/T = inf) gives 0 and never inf * 0.
  const float inv_temperature = 1.0f / params_.temperature;
  double total = 0.0;
  for (size_t i = 0; i < m; ++i) {
    const float d = c[i].value - max_logit;
    const float w = d < 0.0f ? std::exp(d * inv_temperature) : 1.0f;
    c[i].value = w;
    total += w;
  }

  // Top-p keeps the smallest prefix of the order whose mass reaches top_p of the total;
  // min-p then drops what is below min_p times the best probability (w < min_p, as the
  // best has w = 1). Both cut the same order, so one walk applies them in turn.
  size_t kept = m;
  double kept_mass = total;
  const bool top_p_on = params_.top_p < 1.0f;
  const bool min_p_on = params_.min_p > 0.0f;
  if (top_p_on || min_p_on) {
    const double target = double(params_.top_p) * total;
    double mass = 0.0;
    size_t i = 0;
    while (i < m) {
      if (i == sorted) sorted = sorted_prefix(c, m, sorted, std::max(kFirstSortChunk, sorted));
      if (min_p_on && c[i].value < params_.min_p) break;
      mass += c[i].value;
      ++i;
      if (top_p_on && mass >= target) break;
    }
    kept = i;
    kept_mass = mass;
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
