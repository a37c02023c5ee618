// The seeded random schedule: each thread owns a subset of the sessions and applies
// random operations to them (steps, batches, prefills, forks, state round trips,
// destroy and recreate, jobs and their cancellation, page-outs), keeping every
// session's token history, and checks sessions against a replay at random points and
// at the end.
#pragma once

#include "soak_replay.hpp"

#include <moemamba/moemamba.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace mmb_soak {

enum Op : size_t {
  OP_STEP,
  OP_BATCH,
  OP_PREFILL,
  OP_FORK,
  OP_SAVE_LOAD,
  OP_RECREATE,
  OP_JOB,              // a prompt only (no sampler)
  OP_JOB_SAMPLED,      // a prompt and generation
  OP_JOB_CANCELLED,    // either kind, cancelled while it may still run
  OP_JOB_SESSION_GONE, // the session destroyed while its job may still run
  OP_PAGE_OUT,
  OP_CHECKPOINT,
  OP_COUNT
};

const char* op_name(size_t op);

struct SoakConfig {
  size_t sessions = 64;
  size_t threads = 4;
  uint64_t steps = 0;       // stop after this many tokens consumed in all (0: by time)
  double minutes = 0.0;     // stop after this long (0: by steps)
  uint64_t seed = 1;
  size_t max_batch = 8;     // most sessions in one mmb_step_batch
};

// What every thread shares: the model, the counters, the failures.
struct Shared {
  mmb_model* model = nullptr;
  size_t vocab = 0;
  SoakConfig config;
  std::chrono::steady_clock::time_point start;

  std::atomic<uint64_t> steps{0};  // tokens consumed by the tracked sessions
  std::atomic<uint64_t> checkpoints{0};
  std::atomic<uint64_t> mismatches{0};
  std::atomic<uint64_t> failures{0};  // API calls that returned an unexpected status
  std::atomic<uint64_t> replayed_tokens{0};
  std::atomic<uint64_t> job_resyncs{0};  // jobs whose consumption could not be told exactly
  std::array<std::atomic<uint64_t>, OP_COUNT> ops{};
  std::atomic<bool> stop{false};

  std::mutex report_mutex;  // one report line at a time

  bool done() const;
  void report(const std::string& line);
};

// Runs thread `index`'s part of the schedule until the run ends, then checks each of
// its sessions once more. Sessions [first, first + count) of the run belong to it.
void run_schedule_thread(Shared& shared, size_t index, size_t first, size_t count);

}  // namespace mmb_soak
