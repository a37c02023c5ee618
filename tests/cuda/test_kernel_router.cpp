// route_rows and group_by_expert against the CPU backend's routing written out here:
// the same experts (ties to the lower index, sel_bias choosing only), gates within
// 2e-6 relative, for every router activation, top_k 1 to 3, renorm, routed_scale;
// and the grouping of (row, k) choices by expert in ascending order.
#include "cuda_test_support.hpp"
#include "router.cuh"

#include <algorithm>

using namespace mmb::cuda;
using namespace mmb::cuda::test;

namespace {

struct Routed {
  std::vector<int32_t> experts;  // ascending per row
  std::vector<double> gates;
};

Routed route_reference(std::vector<float> scores, const std::vector<float>* sel_bias, int n, int E, int K,
                       RouterActivation act, bool renorm, float scale) {
  Routed out;
  for (int r = 0; r < n; ++r) {
    float* p = scores.data() + size_t(r) * E;
    if (act == RouterActivation::Softmax) {
      const float mx = *std::max_element(p, p + E);
      double sum = 0;
      std::vector<double> e(E);
      for (int i = 0; i < E; ++i) sum += (e[i] = std::exp(double(p[i]) - mx));
      for (int i = 0; i < E; ++i) p[i] = float(e[i] / sum);
    } else if (act == RouterActivation::Sigmoid) {
      for (int i = 0; i < E; ++i) p[i] = float(1.0 / (1.0 + std::exp(-double(p[i]))));
    } else {
      for (int i = 0; i < E; ++i) p[i] = std::max(p[i], 0.0f);
    }
    std::vector<bool> taken(E, false);
    std::vector<int32_t> chosen;
    double sum = 0;
    for (int k = 0; k < K; ++k) {
      int best = -1;
      float best_key = 0;
      for (int e = 0; e < E; ++e) {
        if (taken[e]) continue;
        const float key = p[e] + (sel_bias ? (*sel_bias)[e] : 0.0f);
        if (best < 0 || key > best_key) {
          best = e;
          best_key = key;
        }
      }
      taken[best] = true;
      chosen.push_back(best);
      sum += p[best];
    }
    std::sort(chosen.begin(), chosen.end());
    for (int32_t e : chosen) {
      double g = p[e];
      if (renorm && sum > 0) g /= sum;
      out.experts.push_back(e);
      out.gates.push_back(g * scale);
    }
  }
  return out;
}

}  // namespace

TEST_CASE("route_rows: activations, top-k, selection bias, renorm, scale", "[cuda][router]") {
  const int n = 7, E = 7;
  for (RouterActivation act : {RouterActivation::Softmax, RouterActivation::Sigmoid, RouterActivation::ReLU})
    for (int K : {1, 2, 3})
      for (bool with_sel : {false, true})
        for (bool renorm : {false, true}) {
          const float scale = renorm ? 2.5f : 1.0f;
          INFO("act " << int(act) << " top_k " << K << " sel_bias " << with_sel << " renorm " << renorm);
          Rng rng(uint64_t(K) * 10 + int(act));
          std::vector<float> scores = rng.values(size_t(n) * E, -2.0f, 2.0f);
          // Ties: row 0 all equal, row 1 two equal maxima, row 2 all negative (relu: all 0).
          for (int e = 0; e < E; ++e) scores[e] = 0.25f;
          scores[E + 2] = scores[E + 5] = 3.0f;
          for (int e = 0; e < E; ++e) scores[2 * E + e] = -1.0f - 0.1f * e;
          const std::vector<float> sel = rng.values(E, -0.5f, 0.5f);
          DeviceArray<float> dscores(scores), dsel(sel), gates(size_t(n) * K);
          DeviceArray<int32_t> experts(size_t(n) * K);
          route_rows(nullptr,
                     RouteArgs{dscores.get(), with_sel ? dsel.get() : nullptr, experts.get(), gates.get(), E, K, act,
                               renorm, scale},
                     n);
          const Routed expected = route_reference(scores, with_sel ? &sel : nullptr, n, E, K, act, renorm, scale);
          REQUIRE(experts.read() == expected.experts);
          check_close(gates.read(), expected.gates, 1e-7, 2e-6);
        }
}

TEST_CASE("group_by_expert: members of each expert in (row, k) order", "[cuda][router][experts]") {
  const int n = 9, K = 2, E = 6;
  // Expert 4 is never chosen; expert 0 by most rows.
  const std::vector<int32_t> experts = {0, 1, 0, 5, 2, 3, 0, 1, 0, 2, 1, 5, 0, 3, 3, 5, 0, 1};
  DeviceArray<int32_t> dexperts(experts), counts(E), offsets(E), in_rows(n * K), pair_rows(n * K);
  group_by_expert(nullptr, dexperts.get(), n, K, E,
                  ExpertGroups{counts.get(), offsets.get(), in_rows.get(), pair_rows.get()});
  std::vector<int32_t> want_counts(E, 0), want_offsets(E, 0), want_in, want_pairs;
  for (int e = 0; e < E; ++e) {
    want_offsets[e] = int32_t(want_in.size());
    for (int p = 0; p < n * K; ++p)
      if (experts[p] == e) {
        want_in.push_back(p / K);
        want_pairs.push_back(p);
        ++want_counts[e];
      }
  }
  REQUIRE(counts.read() == want_counts);
  REQUIRE(offsets.read() == want_offsets);
  REQUIRE(in_rows.read() == want_in);
  REQUIRE(pair_rows.read() == want_pairs);
}
