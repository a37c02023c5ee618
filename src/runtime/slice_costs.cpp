#include "runtime/slice_costs.hpp"

#include <algorithm>
#include <cmath>

namespace mmb {

namespace {

// Weight of a new measurement: about the last ten count.
constexpr double kAlpha = 0.1;
// Spreads a prediction adds: enough that a frame rarely overruns, few enough that little
// of the budget is left unused.
constexpr double kSpreads = 2.0;

}  // namespace

double SliceCosts::predict(const SliceKey& key) const {
  const Key k{key.model, key.prefill, key.stage, key.rows};
  auto it = costs_.lower_bound(k);
  if (it != costs_.end() && it->first == k) return it->second.mean + kSpreads * it->second.spread;
  auto same_stage = [&](const auto& e) {
    return std::get<0>(e.first) == key.model && std::get<1>(e.first) == key.prefill && std::get<2>(e.first) == key.stage;
  };
  // The nearest row counts measured on either side. The smaller one scales up (rows
  // cost at most in proportion); else the larger one's cost stands as it is: fewer rows
  // cost no more, and a layer that reads its weights costs nearly the same for 3 rows
  // as for 16, so scaling it down would start slices that overrun.
  if (it != costs_.begin() && same_stage(*std::prev(it)) && std::get<3>(std::prev(it)->first) > 0) {
    const Cost& c = std::prev(it)->second;
    return (c.mean + kSpreads * c.spread) * double(key.rows) / double(std::get<3>(std::prev(it)->first));
  }
  if (it != costs_.end() && same_stage(*it)) return it->second.mean + kSpreads * it->second.spread;
  return kUnknown;
}

void SliceCosts::record(const SliceKey& key, double micros) {
  const Key k{key.model, key.prefill, key.stage, key.rows};
  auto [it, fresh] = costs_.try_emplace(k, Cost{micros, 0.0});
  if (fresh) return;
  Cost& c = it->second;
  // A slice the thread was preempted in says nothing of the next one: a measurement
  // counts for at most twice the mean, so that one hitch does not shrink later frames.
  const double x = std::min(micros, 2.0 * c.mean);
  c.spread += kAlpha * (std::abs(x - c.mean) - c.spread);
  c.mean += kAlpha * (x - c.mean);
}

}  // namespace mmb
