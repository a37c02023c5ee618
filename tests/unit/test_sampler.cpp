// The sampler: its RNG against published outputs, greedy choice, seeded draws whose
// frequencies follow a filtered softmax computed naively here, penalties against a naive
// implementation, the penalty window, non-finite logits, parameter checks and the C API.
#include <catch2/catch.hpp>

#include "base/error.hpp"
#include "runtime/sampler.hpp"

#include <moemamba/moemamba.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// Temperature only: no top-k, top-p, min-p or penalty.
mmb_sampler_params plain_params(float temperature, uint64_t seed = 1) {
  mmb_sampler_params p;
  REQUIRE(mmb_sampler_params_init(&p, sizeof p) == MMB_OK);
  p.temperature = temperature;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = seed;
  return p;
}

// Test data from std::mt19937, whose output the C++ standard fixes.
std::vector<float> random_logits(size_t n, uint32_t seed, float scale) {
  std::mt19937 gen(seed);
  std::vector<float> v(n);
  for (float& x : v) x = scale * float(double(gen()) / 4294967296.0 * 2.0 - 1.0);
  return v;
}

std::vector<float> logits_of(const std::vector<double>& probabilities) {
  std::vector<float> v;
  for (double p : probabilities) v.push_back(float(std::log(p)));
  return v;
}

// Logits after the penalties, the obvious way: for every token, count it in the window.
// Non-finite logits become NaN (excluded).
std::vector<double> naive_penalized(const std::vector<float>& logits, const mmb_sampler_params& p,
                                    const std::vector<int32_t>& recent) {
  std::vector<double> l(logits.size());
  for (size_t t = 0; t < logits.size(); ++t) {
    if (!std::isfinite(logits[t])) {
      l[t] = std::nan("");
      continue;
    }
    l[t] = logits[t];
    const auto count = std::count(recent.begin(), recent.end(), int32_t(t));
    if (count == 0) continue;
    l[t] = l[t] > 0 ? l[t] / p.repetition_penalty : l[t] * p.repetition_penalty;
    l[t] -= p.presence_penalty + double(count) * p.frequency_penalty;
  }
  return l;
}

// The distribution the sampler should draw from, in double, straight from moemamba.h:
// penalties, top-k, temperature, top-p, min-p. It refuses (REQUIRE) cases where a
// top-p or min-p boundary is so close that float rounding could decide it.
std::vector<double> naive_distribution(const std::vector<float>& logits, const mmb_sampler_params& p,
                                       const std::vector<int32_t>& recent = {}) {
  const std::vector<double> l = naive_penalized(logits, p, recent);
  std::vector<size_t> order;
  for (size_t t = 0; t < l.size(); ++t)
    if (!std::isnan(l[t])) order.push_back(t);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return l[a] > l[b] || (l[a] == l[b] && a < b); });
  if (p.top_k > 0 && order.size() > size_t(p.top_k)) order.resize(size_t(p.top_k));

  std::vector<double> prob(l.size(), 0.0);
  double z = 0.0;
  for (size_t t : order) z += std::exp((l[t] - l[order[0]]) / p.temperature);
  for (size_t t : order) prob[t] = std::exp((l[t] - l[order[0]]) / p.temperature) / z;

  if (p.top_p < 1.0f) {
    double mass = 0.0;
    size_t keep = 0;
    while (keep < order.size()) {
      mass += prob[order[keep++]];
      REQUIRE(std::abs(mass - p.top_p) > 1e-4);
      if (mass >= p.top_p) break;
    }
    for (size_t i = keep; i < order.size(); ++i) prob[order[i]] = 0.0;
    order.resize(keep);
  }
  const double best = prob[order[0]];
  for (size_t t : order) {
    REQUIRE(std::abs(prob[t] - p.min_p * best) > 1e-4 * best);
    if (prob[t] < p.min_p * best) prob[t] = 0.0;
  }
  double kept = 0.0;
  for (double q : prob) kept += q;
  for (double& q : prob) q /= kept;
  return prob;
}

// Draws `draws` tokens and compares their frequencies with `expected`. A token of
// probability 0 must never appear. Each frequency must lie within 5 standard errors,
// 5 * sqrt(p (1 - p) / draws), of its probability, and Pearson's chi-square (categories
// with fewer than 5 expected draws pooled) below its upper 1e-6 quantile (Wilson-Hilferty
// approximation, z = 4.753). A correct sampler fails either bound with odds of about
// one in a million; the RNG is seeded, so each check is deterministic.
void check_draws(mmb::Sampler& sampler, const std::vector<float>& logits, const std::vector<double>& expected,
                 int draws) {
  std::vector<double> counts(logits.size(), 0.0);
  for (int i = 0; i < draws; ++i) counts[size_t(sampler.sample(logits.data(), logits.size()))] += 1.0;

  double chi2 = 0.0, pooled_expected = 0.0, pooled_count = 0.0;
  int categories = 0;
  for (size_t t = 0; t < logits.size(); ++t) {
    const double p = expected[t];
    const double freq = counts[t] / draws;
    INFO("token " << t << ": probability " << p << ", frequency " << freq);
    if (p == 0.0) {
      CHECK(counts[t] == 0.0);
      continue;
    }
    CHECK(std::abs(freq - p) <= 5.0 * std::sqrt(p * (1.0 - p) / draws));
    const double e = p * draws;
    if (e < 5.0) {
      pooled_expected += e;
      pooled_count += counts[t];
      continue;
    }
    chi2 += (counts[t] - e) * (counts[t] - e) / e;
    ++categories;
  }
  if (pooled_expected > 0.0) {
    chi2 += (pooled_count - pooled_expected) * (pooled_count - pooled_expected) / pooled_expected;
    ++categories;
  }
  if (categories < 2) return;
  const double df = categories - 1;
  const double a = 2.0 / (9.0 * df);
  const double critical = df * std::pow(1.0 - a + 4.753 * std::sqrt(a), 3.0);
  INFO("chi-square " << chi2 << " with " << df << " degrees of freedom; critical " << critical);
  CHECK(chi2 < critical);
}

std::vector<int32_t> draw_sequence(mmb_sampler_params p, const std::vector<float>& logits, int count) {
  mmb::Sampler s(p);
  std::vector<int32_t> out;
  for (int i = 0; i < count; ++i) out.push_back(s.sample(logits.data(), logits.size()));
  return out;
}

}  // namespace

TEST_CASE("the RNG matches xoshiro256** and splitmix64 reference outputs", "[sampler]") {
  // xoshiro256** from the state {1, 2, 3, 4}: the first outputs of the authors' C code.
  auto rng = mmb::Xoshiro256::from_state(1, 2, 3, 4);
  CHECK(rng.next() == 11520u);
  CHECK(rng.next() == 0u);
  CHECK(rng.next() == 1509978240u);
  CHECK(rng.next() == 1215971899390074240u);
  // Seeding fills the state with splitmix64's first four outputs for that seed; for seed
  // 0 those are published: e220a8397b1dcdaf 6e789e6aa1b965f4 06c45d188009454f f88bb8a8724c81ec.
  mmb::Xoshiro256 seeded(0);
  auto expected = mmb::Xoshiro256::from_state(0xe220a8397b1dcdafull, 0x6e789e6aa1b965f4ull, 0x06c45d188009454full,
                                               0xf88bb8a8724c81ecull);
  for (int i = 0; i < 8; ++i) CHECK(seeded.next() == expected.next());
  double lowest = 1.0, highest = 0.0;
  for (int i = 0; i < 10000; ++i) {
    const double u = seeded.uniform();
    lowest = std::min(lowest, u);
    highest = std::max(highest, u);
  }
  CHECK(lowest >= 0.0);
  CHECK(lowest < 0.001);
  CHECK(highest < 1.0);
  CHECK(highest > 0.999);
}

TEST_CASE("greedy picks the argmax, the lowest id among ties, and ignores non-finite logits", "[sampler]") {
  for (float temperature : {0.0f, -1.0f}) {
    mmb::Sampler s(plain_params(temperature));
    for (uint32_t trial = 0; trial < 50; ++trial) {
      const auto logits = random_logits(1000, trial, 10.0f);
      const auto best = std::max_element(logits.begin(), logits.end()) - logits.begin();
      CHECK(s.sample(logits.data(), logits.size()) == best);
    }
    const std::vector<float> ties = {1.0f, 3.0f, -2.0f, 3.0f, 3.0f};
    CHECK(s.sample(ties.data(), ties.size()) == 1);
    const std::vector<float> odd = {kNaN, 1.0f, kInf, 2.0f, -kInf, kNaN};
    CHECK(s.sample(odd.data(), odd.size()) == 3);
  }
}

TEST_CASE("the same seed gives the same tokens, other seeds give others", "[sampler]") {
  mmb_sampler_params p;
  REQUIRE(mmb_sampler_params_init(&p, sizeof p) == MMB_OK);  // defaults: top-k, top-p, min-p
  p.temperature = 1.5f;
  p.top_k = 0;
  p.presence_penalty = 0.5f;  // the window feeds back into the draws
  p.seed = 1234;
  const auto logits = random_logits(300, 7, 2.0f);
  const auto first = draw_sequence(p, logits, 200);
  CHECK(draw_sequence(p, logits, 200) == first);

  std::vector<int32_t> on_other_thread;
  std::thread([&] { on_other_thread = draw_sequence(p, logits, 200); }).join();
  CHECK(on_other_thread == first);

  p.seed = 1235;
  CHECK(draw_sequence(p, logits, 200) != first);

  // Reset empties the window and restarts the RNG.
  p.seed = 1234;
  mmb::Sampler s(p);
  for (int i = 0; i < 200; ++i) s.sample(logits.data(), logits.size());
  s.reset();
  CHECK(s.window_size() == 0);
  std::vector<int32_t> again;
  for (int i = 0; i < 200; ++i) again.push_back(s.sample(logits.data(), logits.size()));
  CHECK(again == first);
}

TEST_CASE("with no filter the draws follow softmax(logits / temperature)", "[sampler]") {
  const std::vector<float> logits = {0.5f, -1.0f, 2.0f, 0.0f, 1.2f, -0.3f, 1.9f, -2.5f, 0.8f, 0.1f, -0.7f, 1.5f};
  for (float temperature : {1.0f, 0.5f, 2.0f}) {
    INFO("temperature " << temperature);
    const auto p = plain_params(temperature, 99);
    mmb::Sampler s(p);
    check_draws(s, logits, naive_distribution(logits, p), 200000);
  }
}

TEST_CASE("top-k never returns a token outside the k best", "[sampler]") {
  const auto logits = random_logits(1000, 3, 3.0f);
  auto p = plain_params(1.5f, 5);
  p.top_k = 5;
  const auto expected = naive_distribution(logits, p);
  std::vector<size_t> order(logits.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return logits[a] > logits[b]; });
  REQUIRE(logits[order[4]] > logits[order[5]]);

  mmb::Sampler s(p);
  std::vector<int> seen(logits.size(), 0);
  for (int i = 0; i < 20000; ++i) ++seen[size_t(s.sample(logits.data(), logits.size()))];
  int inside = 0;
  for (size_t r = 0; r < order.size(); ++r) {
    if (r < 5) {
      CHECK(seen[order[r]] > 0);
      inside += seen[order[r]];
    } else {
      CHECK(seen[order[r]] == 0);
    }
  }
  CHECK(inside == 20000);
  mmb::Sampler fresh(p);
  check_draws(fresh, logits, expected, 100000);

  // Ties at the k-th place keep the lower ids.
  const std::vector<float> tied = {1.0f, 2.0f, 1.0f, 1.0f, 0.0f};
  p.top_k = 2;
  mmb::Sampler t(p);
  for (int i = 0; i < 2000; ++i) {
    const int32_t token = t.sample(tied.data(), tied.size());
    CHECK((token == 0 || token == 1));
  }
}

TEST_CASE("top-p keeps exactly the smallest set whose mass reaches p", "[sampler]") {
  // Probabilities 0.5 (id 3), 0.25 (id 0), 0.15 (id 4), 0.06 (id 1), 0.04 (id 2).
  const auto logits = logits_of({0.25, 0.06, 0.04, 0.5, 0.15});
  struct Case {
    float top_p;
    std::vector<int32_t> kept;
  };
  for (const Case& c : {Case{0.45f, {3}}, Case{0.7f, {3, 0}}, Case{0.8f, {3, 0, 4}}, Case{0.93f, {3, 0, 4, 1}},
                        Case{0.97f, {3, 0, 4, 1, 2}}}) {
    INFO("top_p " << c.top_p);
    auto p = plain_params(1.0f, 11);
    p.top_p = c.top_p;
    const auto expected = naive_distribution(logits, p);
    for (size_t t = 0; t < logits.size(); ++t)
      CHECK((expected[t] > 0.0) == (std::find(c.kept.begin(), c.kept.end(), int32_t(t)) != c.kept.end()));
    mmb::Sampler s(p);
    check_draws(s, logits, expected, 100000);
  }
}

TEST_CASE("top-p over a large vocabulary: selection, ties and ordered logits", "[sampler]") {
  // Beyond 32 candidates top-p is found by selection rather than by a sort. Check it on
  // random logits, on logits with many ties (the boundary falls inside a tie: lower ids
  // first), and on logits already in ascending or descending order.
  auto random = random_logits(1000, 31, 4.0f);
  std::vector<float> tied(1000), ascending(1000), descending(1000);
  for (size_t i = 0; i < 1000; ++i) {
    tied[i] = std::round(random[i]);  // 9 distinct values
    ascending[i] = float(i) * 0.004f;
    descending[i] = float(999 - i) * 0.004f;
  }
  struct Case {
    const char* name;
    const std::vector<float>* logits;
    float top_p, min_p;
  };
  for (const Case& c : {Case{"random", &random, 0.9f, 0.0f}, Case{"random with min-p", &random, 0.6f, 0.02f},
                        Case{"tied", &tied, 0.55f, 0.0f}, Case{"ascending", &ascending, 0.7f, 0.0f},
                        Case{"descending", &descending, 0.3f, 0.0f}}) {
    INFO(c.name);
    auto p = plain_params(1.0f, 41);
    p.top_p = c.top_p;
    p.min_p = c.min_p;
    const auto expected = naive_distribution(*c.logits, p);
    const auto kept = std::count_if(expected.begin(), expected.end(), [](double q) { return q > 0.0; });
    CHECK(kept > 32);
    mmb::Sampler s(p);
    check_draws(s, *c.logits, expected, 100000);
  }
}

TEST_CASE("min-p drops tokens below min_p times the best probability", "[sampler]") {
  // Probabilities 0.4 (id 2), 0.3 (id 0), 0.15 (id 4), 0.1 (id 1), 0.05 (id 3).
  const auto logits = logits_of({0.3, 0.1, 0.4, 0.05, 0.15});
  struct Case {
    float min_p;
    std::vector<int32_t> kept;
  };
  for (const Case& c : {Case{0.8f, {2}}, Case{0.3f, {2, 0, 4}}, Case{0.2f, {2, 0, 4, 1}}, Case{0.1f, {2, 0, 4, 1, 3}}}) {
    INFO("min_p " << c.min_p);
    auto p = plain_params(1.0f, 12);
    p.min_p = c.min_p;
    const auto expected = naive_distribution(logits, p);
    for (size_t t = 0; t < logits.size(); ++t)
      CHECK((expected[t] > 0.0) == (std::find(c.kept.begin(), c.kept.end(), int32_t(t)) != c.kept.end()));
    mmb::Sampler s(p);
    check_draws(s, logits, expected, 100000);
  }
}

TEST_CASE("filters combine in the documented order: top-k, temperature, top-p, min-p", "[sampler]") {
  const std::vector<float> logits = {0.5f, -1.0f, 2.0f, 0.0f, 1.2f, -0.3f, 1.9f, -2.5f,
                                     0.8f, 0.1f,  -0.7f, 1.5f, 0.3f, -1.8f, 1.0f, 0.65f};
  struct Case {
    float temperature;
    int32_t top_k;
    float top_p, min_p;
  };
  for (const Case& c : {Case{1.0f, 6, 0.8f, 0.0f}, Case{3.0f, 6, 0.8f, 0.0f}, Case{0.7f, 0, 0.9f, 0.1f},
                        Case{2.0f, 8, 0.75f, 0.3f}, Case{1.3f, 10, 1.0f, 0.25f}, Case{0.9f, 3, 0.95f, 0.05f}}) {
    INFO("temperature " << c.temperature << ", top_k " << c.top_k << ", top_p " << c.top_p << ", min_p " << c.min_p);
    auto p = plain_params(c.temperature, 21);
    p.top_k = c.top_k;
    p.top_p = c.top_p;
    p.min_p = c.min_p;
    mmb::Sampler s(p);
    check_draws(s, logits, naive_distribution(logits, p), 100000);
  }
  // Top-p after temperature: a hotter distribution needs more tokens to reach p.
  auto cold = plain_params(1.0f), hot = plain_params(3.0f);
  cold.top_p = hot.top_p = 0.8f;
  cold.top_k = hot.top_k = 6;
  const auto count_kept = [&](const mmb_sampler_params& p) {
    const auto d = naive_distribution(logits, p);
    return std::count_if(d.begin(), d.end(), [](double q) { return q > 0.0; });
  };
  CHECK(count_kept(hot) > count_kept(cold));
}

TEST_CASE("penalties match a naive implementation", "[sampler]") {
  SECTION("hand-made cases") {
    struct Case {
      std::vector<float> logits;
      std::vector<int32_t> recent;
      float repetition, presence, frequency;
      int32_t expected;
    };
    for (const Case& c : {
             Case{{2.0f, 1.5f}, {0}, 1.5f, 0, 0, 1},          // 2 / 1.5 = 1.33 < 1.5
             Case{{2.0f, 1.5f}, {0}, 1.25f, 0, 0, 0},         // 2 / 1.25 = 1.6 > 1.5
             Case{{-1.0f, -1.4f}, {0}, 1.5f, 0, 0, 1},        // -1 * 1.5 = -1.5 < -1.4
             Case{{-1.0f, -1.4f}, {0}, 1.3f, 0, 0, 0},        // -1 * 1.3 = -1.3 > -1.4
             Case{{3.0f, 2.0f}, {0, 0, 0}, 1, 0.6f, 0, 0},    // presence once: 2.4 > 2
             Case{{3.0f, 2.0f}, {0, 0, 0}, 1, 1.2f, 0, 1},    // 1.8 < 2
             Case{{3.0f, 2.0f}, {0, 0, 0}, 1, 0, 0.3f, 0},    // frequency per count: 2.1 > 2
             Case{{3.0f, 2.0f}, {0, 0, 0}, 1, 0, 0.4f, 1},    // 1.8 < 2
             Case{{3.0f, 2.0f}, {0, 0}, 1, 0, 0.4f, 0},       // 2.2 > 2
             Case{{3.0f, 2.0f}, {0, 7, 9}, 1, 0, 5.0f, 1},    // ids beyond the vocabulary are ignored
             Case{{4.0f, 2.0f}, {0}, 1.5f, 0.4f, 0.4f, 1},    // repetition first: 4 / 1.5 - 0.8 = 1.87
         }) {
      mmb_sampler_params p = plain_params(0.0f);
      p.repetition_penalty = c.repetition;
      p.presence_penalty = c.presence;
      p.frequency_penalty = c.frequency;
      mmb::Sampler s(p);
      for (int32_t t : c.recent) s.accept(t);
      CHECK(s.sample(c.logits.data(), c.logits.size()) == c.expected);
    }
  }

  SECTION("random logits, windows and penalties, greedy") {
    std::mt19937 gen(77);
    const float repetitions[] = {1.0f, 1.3f, 2.5f, 0.8f};
    const float presences[] = {0.0f, 0.5f, 2.0f};
    const float frequencies[] = {0.0f, 0.3f, 1.0f};
    int checked = 0;
    for (uint32_t trial = 0; trial < 2000; ++trial) {
      auto p = plain_params(0.0f);
      p.repetition_penalty = repetitions[gen() % 4];
      p.presence_penalty = presences[gen() % 3];
      p.frequency_penalty = frequencies[gen() % 3];
      p.penalty_window = 32;
      const auto logits = random_logits(50, trial, 4.0f);
      std::vector<int32_t> recent(gen() % 33);
      for (int32_t& t : recent) t = int32_t(gen() % 60);  // some beyond the 50 logits
      std::vector<double> l = naive_penalized(logits, p, recent);
      std::vector<double> sorted = l;
      std::sort(sorted.rbegin(), sorted.rend());
      if (sorted[0] - sorted[1] < 1e-4) continue;  // a near tie that float rounding may decide
      ++checked;
      mmb::Sampler s(p);
      for (int32_t t : recent) s.accept(t);
      CHECK(s.sample(logits.data(), logits.size()) == std::max_element(l.begin(), l.end()) - l.begin());
    }
    CHECK(checked > 1900);
  }

  SECTION("penalties shape random draws too") {
    // Equal logits and a huge presence penalty: no token repeats until all were drawn.
    auto p = plain_params(1.0f, 5);
    p.presence_penalty = 100.0f;
    const std::vector<float> flat(8, 0.0f);
    for (uint64_t seed = 0; seed < 20; ++seed) {
      p.seed = seed;
      auto tokens = draw_sequence(p, flat, 8);
      std::sort(tokens.begin(), tokens.end());
      CHECK(std::unique(tokens.begin(), tokens.end()) == tokens.end());
    }
    // And the penalized distribution is the naive one. Each draw uses a fresh sampler
    // (with its own seed) whose window holds `recent`, so every draw sees the same penalties.
    const auto logits = random_logits(12, 4, 1.5f);
    auto q = plain_params(1.0f);
    q.repetition_penalty = 1.4f;
    q.presence_penalty = 0.3f;
    q.frequency_penalty = 0.2f;
    const std::vector<int32_t> recent = {2, 5, 5, 9, 2, 2};
    const auto expected = naive_distribution(logits, q, recent);
    std::vector<double> counts(logits.size(), 0.0);
    const int draws = 100000;
    for (int i = 0; i < draws; ++i) {
      q.seed = uint64_t(i);
      mmb::Sampler s(q);
      for (int32_t t : recent) s.accept(t);
      counts[size_t(s.sample(logits.data(), logits.size()))] += 1.0;
    }
    for (size_t t = 0; t < logits.size(); ++t) {
      INFO("token " << t);
      CHECK(std::abs(counts[t] / draws - expected[t]) <= 5.0 * std::sqrt(expected[t] * (1 - expected[t]) / draws));
    }
  }
}

TEST_CASE("the penalty window forgets the oldest tokens", "[sampler]") {
  auto p = plain_params(0.0f);
  p.presence_penalty = 10.0f;
  p.penalty_window = 3;
  mmb::Sampler s(p);
  const std::vector<float> logits = {5.0f, 4.0f, 0.0f, 0.0f};
  s.accept(0);
  s.accept(2);
  s.accept(3);
  CHECK(s.sample(logits.data(), logits.size()) == 1);  // 0 is penalized
  REQUIRE(s.window_size() == 3);
  CHECK(s.window_token(0) == 2);
  CHECK(s.window_token(1) == 3);
  CHECK(s.window_token(2) == 1);
  CHECK(s.sample(logits.data(), logits.size()) == 0);  // 0 has left the window
  s.accept(2);
  s.accept(3);
  CHECK(s.window_token(0) == 0);
  CHECK(s.window_token(2) == 3);

  p.penalty_window = 0;
  mmb::Sampler none(p);
  none.accept(0);
  CHECK(none.window_size() == 0);
  CHECK(none.sample(logits.data(), logits.size()) == 0);
}

TEST_CASE("NaN and infinite logits are never drawn", "[sampler]") {
  const std::vector<float> logits = {kNaN, 1.0f, kInf, 0.0f, -kInf, kNaN, 2.0f};
  mmb::Sampler s(plain_params(1.0f, 3));
  std::vector<double> expected(logits.size(), 0.0);
  const double z = std::exp(1.0) + 1.0 + std::exp(2.0);
  expected[1] = std::exp(1.0) / z;
  expected[3] = 1.0 / z;
  expected[6] = std::exp(2.0) / z;
  check_draws(s, logits, expected, 100000);

  const std::vector<float> one = {kNaN, -kInf, -3.0f, kInf};
  CHECK(s.sample(one.data(), one.size()) == 2);
  const std::vector<float> none = {kNaN, -kInf, kInf};
  CHECK_THROWS_AS(s.sample(none.data(), none.size()), mmb::Error);
  // Penalties never turn a finite logit into an excluded one.
  auto p = plain_params(1.0f);
  p.repetition_penalty = 4.0f;
  mmb::Sampler penalized(p);
  const std::vector<float> huge = {-3e38f, kNaN};
  penalized.accept(0);
  CHECK(penalized.sample(huge.data(), huge.size()) == 0);
}

TEST_CASE("sample leaves the logits unchanged and allocates only for a larger vocabulary", "[sampler]") {
  auto logits = random_logits(5000, 9, 5.0f);
  logits[17] = kNaN;
  logits[4000] = -kInf;
  const auto before = logits;
  mmb_sampler_params p;
  REQUIRE(mmb_sampler_params_init(&p, sizeof p) == MMB_OK);
  p.repetition_penalty = 1.3f;
  p.presence_penalty = 0.2f;
  p.frequency_penalty = 0.1f;
  mmb::Sampler s(p);
  CHECK(s.scratch_capacity() == 0);
  s.reserve(5000);
  CHECK(s.scratch_capacity() == 5000);
  for (int i = 0; i < 100; ++i) s.sample(logits.data(), i % 2 ? logits.size() : 2000);
  CHECK(std::memcmp(before.data(), logits.data(), logits.size() * sizeof(float)) == 0);
  CHECK(s.scratch_capacity() == 5000);
  p.top_k = 0;
  p.min_p = 0.0f;
  mmb::Sampler lazy(p);
  lazy.sample(logits.data(), 3000);
  CHECK(lazy.scratch_capacity() == 3000);
  lazy.sample(logits.data(), 1000);
  CHECK(lazy.scratch_capacity() == 3000);
  lazy.sample(logits.data(), 5000);
  CHECK(lazy.scratch_capacity() == 5000);
  CHECK(std::memcmp(before.data(), logits.data(), logits.size() * sizeof(float)) == 0);
}

TEST_CASE("sampler C API: defaults, sampling and every documented error", "[sampler][api]") {
  CHECK(mmb_sampler_params_init(nullptr, sizeof(mmb_sampler_params)) == MMB_ERR_INVALID_ARGUMENT);
  mmb_sampler_params d;
  std::memset(&d, 0xAB, sizeof d);
  REQUIRE(mmb_sampler_params_init(&d, sizeof d) == MMB_OK);
  CHECK(d.struct_size == sizeof(mmb_sampler_params));
  CHECK(d.temperature == 0.8f);
  CHECK(d.top_k == 40);
  CHECK(d.top_p == 0.95f);
  CHECK(d.min_p == 0.05f);
  CHECK(d.repetition_penalty == 1.0f);
  CHECK(d.presence_penalty == 0.0f);
  CHECK(d.frequency_penalty == 0.0f);
  CHECK(d.penalty_window == 64);
  CHECK(d.seed == 0u);

  mmb_sampler* s = nullptr;
  REQUIRE(mmb_sampler_create(nullptr, &s) == MMB_OK);
  const auto logits = random_logits(50280, 1, 8.0f);
  int32_t token = -1;
  REQUIRE(mmb_sampler_sample(s, logits.data(), logits.size(), &token) == MMB_OK);
  std::vector<float> sorted = logits;
  std::nth_element(sorted.begin(), sorted.begin() + 39, sorted.end(), std::greater<float>());
  CHECK(logits[size_t(token)] >= sorted[39]);  // default top_k 40
  CHECK(mmb_sampler_accept(s, 7) == MMB_OK);
  CHECK(mmb_sampler_reset(s) == MMB_OK);

  const auto expect_invalid = [](mmb_status status, const char* mentions) {
    CHECK(status == MMB_ERR_INVALID_ARGUMENT);
    CHECK(std::string(mmb_last_error()).find(mentions) != std::string::npos);
  };
  int32_t untouched = -5;
  expect_invalid(mmb_sampler_sample(nullptr, logits.data(), 10, &token), "sampler");
  expect_invalid(mmb_sampler_sample(s, nullptr, 10, &token), "logits");
  expect_invalid(mmb_sampler_sample(s, logits.data(), 10, nullptr), "token");
  expect_invalid(mmb_sampler_sample(s, logits.data(), 0, &untouched), "n is 0");
  expect_invalid(mmb_sampler_sample(s, logits.data(), size_t(INT32_MAX) + 1, &untouched), "int32");
  const std::vector<float> bad = {kNaN, kInf, -kInf};
  expect_invalid(mmb_sampler_sample(s, bad.data(), bad.size(), &untouched), "finite");
  CHECK(untouched == -5);
  expect_invalid(mmb_sampler_accept(s, -1), "negative");
  expect_invalid(mmb_sampler_accept(nullptr, 1), "sampler");
  expect_invalid(mmb_sampler_reset(nullptr), "sampler");
  mmb_sampler_destroy(s);
  mmb_sampler_destroy(nullptr);

  struct Bad {
    const char* field;
    void (*spoil)(mmb_sampler_params&);
  };
  for (const Bad& b : {
           Bad{"struct_size", [](mmb_sampler_params& p) { p.struct_size = 0; }},
           Bad{"struct_size", [](mmb_sampler_params& p) { p.struct_size = sizeof p - 4; }},
           Bad{"struct_size", [](mmb_sampler_params& p) { p.struct_size = sizeof p + 8; }},
           Bad{"temperature", [](mmb_sampler_params& p) { p.temperature = kNaN; }},
           Bad{"temperature", [](mmb_sampler_params& p) { p.temperature = kInf; }},
           Bad{"top_k", [](mmb_sampler_params& p) { p.top_k = -1; }},
           Bad{"top_p", [](mmb_sampler_params& p) { p.top_p = 0.0f; }},
           Bad{"top_p", [](mmb_sampler_params& p) { p.top_p = 1.01f; }},
           Bad{"top_p", [](mmb_sampler_params& p) { p.top_p = kNaN; }},
           Bad{"min_p", [](mmb_sampler_params& p) { p.min_p = -0.1f; }},
           Bad{"min_p", [](mmb_sampler_params& p) { p.min_p = 1.5f; }},
           Bad{"repetition_penalty", [](mmb_sampler_params& p) { p.repetition_penalty = 0.0f; }},
           Bad{"repetition_penalty", [](mmb_sampler_params& p) { p.repetition_penalty = kNaN; }},
           Bad{"presence_penalty", [](mmb_sampler_params& p) { p.presence_penalty = -1.0f; }},
           Bad{"frequency_penalty", [](mmb_sampler_params& p) { p.frequency_penalty = -0.5f; }},
           Bad{"penalty_window", [](mmb_sampler_params& p) { p.penalty_window = -1; }},
           Bad{"penalty_window", [](mmb_sampler_params& p) { p.penalty_window = 65537; }},
       }) {
    INFO(b.field);
    mmb_sampler_params p;
    REQUIRE(mmb_sampler_params_init(&p, sizeof p) == MMB_OK);
    b.spoil(p);
    mmb_sampler* out = reinterpret_cast<mmb_sampler*>(&untouched);
    expect_invalid(mmb_sampler_create(&p, &out), b.field);
    CHECK(out == reinterpret_cast<mmb_sampler*>(&untouched));
  }
  mmb_sampler_params p;
  REQUIRE(mmb_sampler_params_init(&p, sizeof p) == MMB_OK);
  expect_invalid(mmb_sampler_create(&p, nullptr), "out");
  p.penalty_window = 65536;
  p.temperature = -2.0f;  // greedy
  REQUIRE(mmb_sampler_create(&p, &s) == MMB_OK);
  mmb_sampler_destroy(s);
}

TEST_CASE("sampler speed at a 50k vocabulary", "[.][sampler-benchmark]") {
  const auto logits = random_logits(50280, 2, 6.0f);
  struct Setting {
    const char* name;
    float temperature;
    int32_t top_k;
    float top_p, min_p;
  };
  for (const Setting& c : {Setting{"greedy", 0.0f, 0, 1.0f, 0.0f}, Setting{"defaults (k 40, p 0.95, min-p 0.05)", 0.8f, 40, 0.95f, 0.05f},
                           Setting{"top-p 0.95 only", 0.8f, 0, 0.95f, 0.0f}, Setting{"min-p 0.05 only", 0.8f, 0, 1.0f, 0.05f},
                           Setting{"temperature only", 0.8f, 0, 1.0f, 0.0f}}) {
    auto p = plain_params(c.temperature);
    p.top_k = c.top_k;
    p.top_p = c.top_p;
    p.min_p = c.min_p;
    p.repetition_penalty = 1.1f;
    mmb::Sampler s(p);
    s.reserve(logits.size());
    const int n = 2000;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) s.sample(logits.data(), logits.size());
    const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() / n;
    std::printf("sample, vocab 50280, %-38s %8.1f us\n", c.name, us);
  }
}
