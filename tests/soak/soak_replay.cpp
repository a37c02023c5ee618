#include "soak_replay.hpp"

#include <cmath>
#include <cstring>

namespace mmb_soak {

void History::add_step(int32_t token) {
  tokens.push_back(token);
  if (!segments.empty() && !segments.back().prefill) {
    ++segments.back().length;
  } else {
    segments.push_back(Segment{uint32_t(tokens.size() - 1), 1, false});
  }
}

void History::add_prefill(const int32_t* t, size_t n) {
  if (n == 0) return;
  const uint32_t start = uint32_t(tokens.size());
  tokens.insert(tokens.end(), t, t + n);
  segments.push_back(Segment{start, uint32_t(n), true});
}

void History::clear() {
  base.reset();
  base_position = 0;
  tokens.clear();
  segments.clear();
}

namespace {

struct SessionGuard {
  mmb_session* s = nullptr;
  ~SessionGuard() { mmb_session_destroy(s); }
};

bool fail(ReplayOutcome& out, mmb_status status, const char* call) {
  out.status = status;
  out.failed_call = std::string(call) + ": " + mmb_last_error();
  return false;
}

}  // namespace

ReplayOutcome replay_and_compare(mmb_model* model, const History& history, const std::vector<float>& expected,
                                 size_t vocab) {
  ReplayOutcome out;
  SessionGuard fresh;
  mmb_status s = mmb_session_create(model, nullptr, &fresh.s);
  if (s != MMB_OK) return fail(out, s, "mmb_session_create (replay)"), out;
  if (history.base) {
    s = mmb_session_state_load(fresh.s, history.base->data(), history.base->size());
    if (s != MMB_OK) return fail(out, s, "mmb_session_state_load (replay base)"), out;
  }
  std::vector<float> logits(vocab);
  for (size_t i = 0; i < history.segments.size(); ++i) {
    const Segment& seg = history.segments[i];
    const bool last_segment = i + 1 == history.segments.size();
    const int32_t* t = history.tokens.data() + seg.start;
    if (seg.prefill) {
      float* dst = last_segment ? logits.data() : nullptr;
      s = mmb_session_prefill(fresh.s, t, seg.length, dst, dst ? vocab : 0);
      if (s != MMB_OK) return fail(out, s, "mmb_session_prefill (replay)"), out;
      continue;
    }
    for (uint32_t k = 0; k < seg.length; ++k) {
      float* dst = last_segment && k + 1 == seg.length ? logits.data() : nullptr;
      s = mmb_session_step(fresh.s, t[k], dst, dst ? vocab : 0);
      if (s != MMB_OK) return fail(out, s, "mmb_session_step (replay)"), out;
    }
  }
  uint64_t position = 0;
  s = mmb_session_get_position(fresh.s, &position);
  if (s != MMB_OK) return fail(out, s, "mmb_session_get_position (replay)"), out;

  for (size_t k = 0; k < vocab; ++k) {
    if (std::memcmp(&logits[k], &expected[k], sizeof(float)) == 0) continue;
    if (out.differing == 0) out.first_difference = k;
    ++out.differing;
    const float d = std::fabs(logits[k] - expected[k]);
    if (!(d <= out.max_abs_difference)) out.max_abs_difference = d;
  }
  out.equal = out.differing == 0 && position == history.position();
  if (!out.equal) return out;

  size_t size = 0;
  s = mmb_session_state_size(fresh.s, &size);
  if (s != MMB_OK) return fail(out, s, "mmb_session_state_size (replay)"), out;
  auto blob = std::make_shared<std::vector<uint8_t>>(size);
  size_t written = 0;
  s = mmb_session_state_save(fresh.s, blob->data(), blob->size(), &written);
  if (s != MMB_OK) return fail(out, s, "mmb_session_state_save (replay)"), out;
  blob->resize(written);
  out.verified_state = std::move(blob);
  return out;
}

}  // namespace mmb_soak
