// What each slice of job work costs (a stage of a batched step or of a prompt chunk,
// per model, stage and row count): measured as the scheduler runs, exponentially
// averaged, and predicted before a slice starts, so that a frame starts only the
// slices that fit what is left of its budget.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <tuple>

namespace mmb {

struct SliceKey {
  const void* model;  // the ModelCompute the slice runs on (nullptr: planning a unit)
  bool prefill;       // a prompt chunk's stage, else a batched step's
  uint32_t stage;
  uint32_t rows;
};

class SliceCosts {
 public:
  // Microseconds the slice is expected to take, with a margin for its spread; a row
  // count not measured yet is scaled from the nearest one measured; kUnknown when
  // nothing is known of the stage.
  static constexpr double kUnknown = -1.0;
  double predict(const SliceKey& key) const;
  void record(const SliceKey& key, double micros);

 private:
  using Key = std::tuple<const void*, bool, uint32_t, uint32_t>;
  struct Cost {
    double mean;
    double spread;  // mean absolute deviation
  };
  std::map<Key, Cost> costs_;
};

}  // namespace mmb
