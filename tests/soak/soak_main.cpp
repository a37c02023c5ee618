// mmb_soak: many sessions on one model, driven from several threads by a seeded random
// schedule for a number of steps or minutes, each checked against a replay of its
// history; prints memory (RSS and the bytes held through the allocator hooks) over
// time. Exit status 1 on any mismatch, unexpected status or bytes left behind.
//
//   mmb_soak [--bundle B] [--sessions N] [--threads T] (--steps S | --minutes M)
//            [--seed X] [--budget BYTES] [--compute-threads C]
#include "alloc_hooks.hpp"
#include "rss.hpp"
#include "soak_schedule.hpp"

#include <moemamba/moemamba.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

using namespace mmb_soak;

namespace {

struct Args {
  std::string bundle = "models/demo-moe-mamba.mmb";
  SoakConfig config;
  uint64_t budget = 0;  // 0: chosen from the sessions' size
  int compute_threads = 0;
};

int usage(const char* why) {
  std::fprintf(stderr,
               "mmb_soak: %s\nusage: mmb_soak [--bundle B] [--sessions N] [--threads T] (--steps S | --minutes M) "
               "[--seed X] [--budget BYTES] [--compute-threads C]\n",
               why);
  return 2;
}

bool parse_u64(const char* s, uint64_t& out) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (errno || end == s || *end || s[0] == '-') return false;
  out = v;
  return true;
}

// 0: parsed; else the exit status.
int parse_args(int argc, char** argv, Args& a) {
  bool steps = false, minutes = false;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) return usage(("missing value after " + flag).c_str());
    const char* value = argv[++i];
    uint64_t n = 0;
    if (flag == "--bundle") {
      a.bundle = value;
    } else if (flag == "--minutes") {
      char* end = nullptr;
      a.config.minutes = std::strtod(value, &end);
      if (end == value || *end || !(a.config.minutes > 0)) return usage("--minutes wants a positive number");
      minutes = true;
    } else if (!parse_u64(value, n)) {
      return usage((flag + " wants a non-negative integer").c_str());
    } else if (flag == "--sessions") {
      a.config.sessions = size_t(n);
    } else if (flag == "--threads") {
      a.config.threads = size_t(n);
    } else if (flag == "--steps") {
      a.config.steps = n;
      steps = true;
    } else if (flag == "--seed") {
      a.config.seed = n;
    } else if (flag == "--budget") {
      a.budget = n;
    } else if (flag == "--compute-threads") {
      a.compute_threads = int(n);
    } else {
      return usage(("unknown option " + flag).c_str());
    }
  }
  if (steps == minutes) return usage("give one of --steps and --minutes");
  if (steps && a.config.steps == 0) return usage("--steps wants at least 1");
  if (a.config.threads == 0 || a.config.sessions < a.config.threads)
    return usage("--threads must be at least 1 and at most --sessions");
  return 0;
}

// Bytes one session holds resident (state and scratch), from a runtime of its own.
bool session_bytes(const std::string& bundle, uint64_t& bytes) {
  mmb_runtime* rt = nullptr;
  mmb_model* model = nullptr;
  mmb_session* session = nullptr;
  mmb_session_memory memory{};
  memory.struct_size = sizeof memory;
  bool fine = mmb_runtime_create(nullptr, &rt) == MMB_OK && mmb_model_load_file(rt, bundle.c_str(), nullptr, &model) == MMB_OK &&
              mmb_session_create(model, nullptr, &session) == MMB_OK &&
              mmb_runtime_get_session_memory(rt, &memory) == MMB_OK && memory.resident_sessions == 1;
  if (!fine) std::fprintf(stderr, "mmb_soak: cannot measure a session of %s: %s\n", bundle.c_str(), mmb_last_error());
  bytes = memory.resident_bytes;
  mmb_session_destroy(session);
  mmb_model_destroy(model);
  mmb_runtime_destroy(rt);
  return fine;
}

double mb(int64_t bytes) { return double(bytes) / (1024.0 * 1024.0); }

struct Sample {
  double rss = 0;
  int64_t hook = 0;
};

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (const int r = parse_args(argc, argv, args)) return r;
  SoakConfig& config = args.config;
  const size_t per_thread = config.sessions / config.threads;
  config.max_batch = std::min<size_t>(6, per_thread);

  // The budget: less than all the sessions, more than every thread's sessions in use at
  // once (a batch, or a fork's two, plus a replay) can need.
  uint64_t one = 0;
  if (!session_bytes(args.bundle, one)) return 1;
  uint64_t budget = args.budget;
  if (budget == 0) {
    const uint64_t in_use = config.threads * (config.max_batch + 2);
    budget = one * std::max<uint64_t>(in_use, config.sessions / 2);
  }

  AllocCounter counter;
  mmb_runtime_options ro;
  if (mmb_runtime_options_init(&ro, sizeof ro) != MMB_OK) return 1;
  ro.n_threads = args.compute_threads;
  ro.alloc_fn = counting_alloc;
  ro.free_fn = counting_free;
  ro.alloc_user_data = &counter;
  ro.job_mode = MMB_JOBS_WORKER;
  ro.session_memory_budget = budget;
  mmb_runtime* rt = nullptr;
  mmb_model* model = nullptr;
  if (mmb_runtime_create(&ro, &rt) != MMB_OK || mmb_model_load_file(rt, args.bundle.c_str(), nullptr, &model) != MMB_OK) {
    std::fprintf(stderr, "mmb_soak: cannot load %s: %s\n", args.bundle.c_str(), mmb_last_error());
    mmb_runtime_destroy(rt);
    return 1;
  }
  mmb_model_info info{};
  info.struct_size = sizeof info;
  if (mmb_model_get_info(model, &info) != MMB_OK) return 1;
  int32_t compute_threads = 0;
  mmb_runtime_get_backend(rt, nullptr, &compute_threads);

  char minutes_text[32];
  std::snprintf(minutes_text, sizeof minutes_text, "%g", config.minutes);
  const std::string run_length = config.steps ? std::to_string(config.steps) : std::string(minutes_text);

  Shared shared;
  shared.model = model;
  shared.vocab = size_t(info.vocab_size);
  shared.config = config;
  std::printf("mmb_soak: %s (vocab %d), %zu sessions on %zu threads, seed %" PRIu64 ", %s %s; "
              "budget %.1f MB (%.1f sessions of %.2f MB); %d compute threads; jobs on the runtime's worker\n",
              args.bundle.c_str(), info.vocab_size, config.sessions, config.threads, config.seed,
              config.steps ? "steps" : "minutes",
              run_length.c_str(), mb(int64_t(budget)),
              double(budget) / double(one), mb(int64_t(one)), compute_threads);
  std::fflush(stdout);

  const Sample start{rss_mb(), counter.live.load()};
  Sample warm = start;
  shared.start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (size_t i = 0; i < config.threads; ++i) {
    const size_t first = i * config.sessions / config.threads;
    const size_t last = (i + 1) * config.sessions / config.threads;
    threads.emplace_back(run_schedule_thread, std::ref(shared), i, first, last - first);
  }

  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - shared.start).count();
  };
  auto progress = [&] {
    if (config.steps) return double(shared.steps.load()) / double(config.steps);
    return elapsed() / (config.minutes * 60.0);
  };
  int next_tenth = 1;
  while (!shared.done() || next_tenth <= 10) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const bool ended = shared.done();
    if (!ended && progress() * 10.0 < double(next_tenth)) continue;
    const double t = elapsed();
    const uint64_t steps = shared.steps.load();
    const Sample now{rss_mb(), counter.live.load()};
    if (next_tenth == 1) warm = now;
    std::printf("[%3d%%] %8.1f s  steps %10" PRIu64 "  %8.1f steps/s  RSS %7.1f MB  hook %7.2f MB  checkpoints %6" PRIu64
                "  mismatches %" PRIu64 "\n",
                std::min(next_tenth, 10) * 10, t, steps, t > 0 ? double(steps) / t : 0.0, now.rss, mb(now.hook),
                shared.checkpoints.load(), shared.mismatches.load());
    std::fflush(stdout);
    if (ended) break;
    ++next_tenth;
  }
  const double run_seconds = elapsed();
  const uint64_t run_steps = shared.steps.load();
  for (std::thread& th : threads) th.join();  // each thread checks its sessions once more
  const double total_seconds = elapsed();
  const Sample end{rss_mb(), counter.live.load()};

  mmb_session_memory memory{};
  memory.struct_size = sizeof memory;
  mmb_runtime_get_session_memory(rt, &memory);
  mmb_model_destroy(model);
  mmb_runtime_destroy(rt);
  const int64_t left = counter.live.load();

  const uint64_t steps = shared.steps.load();
  const double rate = run_seconds > 0 ? double(run_steps) / run_seconds : 0.0;
  std::printf("mismatches: %" PRIu64 "\n", shared.mismatches.load());
  std::printf("unexpected statuses: %" PRIu64 "\n", shared.failures.load());
  std::printf("RSS start/warm/end: %.1f / %.1f / %.1f MB (end: after the final checks, sessions destroyed)\n", start.rss, warm.rss, end.rss);
  std::printf("hook bytes start/warm/end: %" PRId64 " / %" PRId64 " / %" PRId64 " (peak %" PRId64 ", %" PRIu64
              " allocations)\n",
              start.hook, warm.hook, end.hook, counter.peak.load(), counter.allocs.load());
  std::printf("hook bytes after teardown: %" PRId64 "\n", left);
  std::printf("steps: %" PRIu64 " in %.1f s (final checks included: %.1f s), %.1f steps/s; 100000 steps per session "
              "(%zu sessions) would take %.1f h\n",
              steps, run_seconds, total_seconds, rate, config.sessions,
              rate > 0 ? 100000.0 * double(config.sessions) / rate / 3600.0 : 0.0);
  std::printf("checkpoints: %" PRIu64 " (%" PRIu64 " tokens replayed); jobs reset for an inexact count: %" PRIu64 "\n",
              shared.checkpoints.load(), shared.replayed_tokens.load(), shared.job_resyncs.load());
  std::printf("paging: %" PRIu64 " page-outs, %" PRIu64 " page-ins\n", memory.page_outs, memory.page_ins);
  std::printf("ops:");
  for (size_t op = 0; op < OP_COUNT; ++op) std::printf(" %s=%" PRIu64, op_name(op), shared.ops[op].load());
  std::printf("\n");
  const bool failed = shared.mismatches.load() != 0 || shared.failures.load() != 0 || left != 0;
  std::printf("%s\n", failed ? "FAILED" : "OK");
  return failed ? 1 : 0;
}
