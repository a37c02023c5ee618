// The reference check: a session's token history, and its replay on a fresh session
// whose last logits must equal, bit for bit, those the session produced.
//
// The history records how the session consumed its tokens: single steps (mmb_session_step,
// a row of mmb_step_batch, a job's generated token) and prefill calls of a given length
// (mmb_session_prefill, a job's prompt chunk). The replay feeds each segment the same
// way, so it holds the library to "the same calls give the same bits" without relying
// on prefill and stepping summing in the same order.
//
// After a check passes, the replay's state becomes the session's verified base: the next
// check loads it into the fresh session and replays only the tokens since, so checks
// stay cheap however long the run.
#pragma once

#include <moemamba/moemamba.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mmb_soak {

struct Segment {
  uint32_t start = 0;    // index into History::tokens
  uint32_t length = 0;
  bool prefill = false;  // one prefill call of `length` tokens; else `length` single steps
};

struct History {
  std::shared_ptr<const std::vector<uint8_t>> base;  // verified state the tokens continue; null: position 0
  uint64_t base_position = 0;
  std::vector<int32_t> tokens;  // consumed since the base
  std::vector<Segment> segments;

  void add_step(int32_t token);
  void add_prefill(const int32_t* tokens, size_t n);
  void clear();
  uint64_t position() const { return base_position + tokens.size(); }
};

struct ReplayOutcome {
  mmb_status status = MMB_OK;  // of the first call that failed
  std::string failed_call;     // empty when every call succeeded
  bool equal = false;
  size_t differing = 0;        // logits whose bits differ
  size_t first_difference = 0;
  float max_abs_difference = 0.0f;
  std::shared_ptr<const std::vector<uint8_t>> verified_state;  // the replay's state when equal
};

// Replays `history` on a fresh session of `model` and compares its last logits with
// `expected` (vocab floats). The history must hold at least one token after its base.
ReplayOutcome replay_and_compare(mmb_model* model, const History& history, const std::vector<float>& expected,
                                 size_t vocab);

}  // namespace mmb_soak
