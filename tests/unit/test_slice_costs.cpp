// What the frame scheduler expects a slice to cost (src/runtime/slice_costs.*): nothing
// before a stage is measured, the average plus a margin for its spread after, row
// counts not measured yet from their neighbours without ever predicting less than a
// smaller slice of the same stage costs.
#include <catch2/catch.hpp>

#include "runtime/slice_costs.hpp"

namespace {

using mmb::SliceCosts;
using mmb::SliceKey;

const int kModel = 0;

SliceKey key(uint32_t stage, uint32_t rows, bool prefill = false) { return {&kModel, prefill, stage, rows}; }

}  // namespace

TEST_CASE("slice costs: unknown until measured, then the mean plus its spread", "[frames]") {
  SliceCosts c;
  CHECK(c.predict(key(2, 16)) == SliceCosts::kUnknown);
  c.record(key(2, 16), 100.0);
  CHECK(c.predict(key(2, 16)) == Approx(100.0));
  // Other stages, the prefill of the same stage and other models know nothing yet.
  CHECK(c.predict(key(3, 16)) == SliceCosts::kUnknown);
  CHECK(c.predict(key(2, 16, true)) == SliceCosts::kUnknown);
  const int other = 0;
  CHECK(c.predict({&other, false, 2, 16}) == SliceCosts::kUnknown);
  // Costs that vary widen the prediction beyond their mean.
  for (int i = 0; i < 50; ++i) c.record(key(2, 16), i % 2 ? 80.0 : 120.0);
  const double p = c.predict(key(2, 16));
  CHECK(p > 120.0);
  CHECK(p < 160.0);
}

TEST_CASE("slice costs: row counts not measured come from the nearest measured", "[frames]") {
  SliceCosts c;
  c.record(key(1, 4), 40.0);
  c.record(key(1, 16), 100.0);
  // More rows than the nearest smaller count: in proportion to it.
  CHECK(c.predict(key(1, 8)) == Approx(80.0));
  CHECK(c.predict(key(1, 32)) == Approx(200.0));
  // Fewer rows than any measured: the smallest measured cost, never scaled down (a
  // layer that streams its weights costs nearly as much for 2 rows as for 4).
  CHECK(c.predict(key(1, 2)) == Approx(40.0));
  CHECK(c.predict(key(1, 1)) == Approx(40.0));
}

TEST_CASE("slice costs: one preempted slice does not blow up later predictions", "[frames]") {
  SliceCosts c;
  for (int i = 0; i < 20; ++i) c.record(key(0, 16), 100.0);
  c.record(key(0, 16), 10000.0);  // the thread lost its core for 10 ms
  // Counted as at most twice the mean: the prediction moves, but by far less.
  const double p = c.predict(key(0, 16));
  CHECK(p > 100.0);
  CHECK(p < 200.0);
}
