#include "bench_jobs.hpp"

#include "synthetic_model.hpp"

#include "base/error.hpp"

#include <moemamba/moemamba.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace mmb::cli {

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string bundle;
  std::string shape = "tiny";
  int characters = 16;
  int hz = 60;
  int budget_us = 4000;
  int frames = 600;
  int tokens = 48;         // per line
  int cancels = 200;
  int threads = 2;
  int host_threads = 0;    // > 0: MMB_JOBS_HOST, tasks run on this many host threads
  bool host_busy = false;  // the scene's thread spins between frames instead of sleeping
};

void check(mmb_status s, const char* what) {
  if (s != MMB_OK) fail(s, what, ": ", mmb_last_error());
}

double us_since(Clock::time_point t0) { return std::chrono::duration<double, std::micro>(Clock::now() - t0).count(); }

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(p * double(v.size() - 1) + 0.5))];
}

Options parse(const std::vector<std::string>& args) {
  Options o;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto number = [&]() {
      if (i + 1 >= args.size()) fail(MMB_ERR_INVALID_ARGUMENT, a, " needs a value");
      const int v = std::stoi(args[++i]);
      if (v <= 0) fail(MMB_ERR_INVALID_ARGUMENT, a, " must be positive");
      return v;
    };
    if (a == "--shape") {
      if (i + 1 >= args.size()) fail(MMB_ERR_INVALID_ARGUMENT, a, " needs a value");
      o.shape = args[++i];
    } else if (a == "--characters") o.characters = number();
    else if (a == "--hz") o.hz = number();
    else if (a == "--budget-us") o.budget_us = number();
    else if (a == "--frames") o.frames = number();
    else if (a == "--tokens") o.tokens = number();
    else if (a == "--cancels") o.cancels = number();
    else if (a == "--threads") o.threads = number();
    else if (a == "--host-threads") o.host_threads = number();
    else if (a == "--host-busy") o.host_busy = true;
    else if (!a.empty() && a[0] != '-' && o.bundle.empty()) o.bundle = a, o.shape.clear();
    else fail(MMB_ERR_INVALID_ARGUMENT, "unknown argument '", a, "' (see mmb bench jobs --help)");
  }
  return o;
}

// A game's job system for --host-threads: worker threads running the runtime's tasks
// in order, timing each against the frame it started in (the host's view of what the
// model costs its workers per frame).
struct HostJobSystem {
  std::mutex mutex;
  std::condition_variable cv;
  std::deque<std::pair<mmb_task_fn, void*>> tasks;
  std::vector<double> work_us;  // per frame
  size_t frame = 0;
  int running = 0;
  bool stop = false;
  std::vector<std::thread> threads;
  explicit HostJobSystem(int n, size_t frames) : work_us(frames + 1, 0.0) {
    for (int i = 0; i < n; ++i) threads.emplace_back([this] { run(); });
  }
  ~HostJobSystem() {
    {
      std::lock_guard<std::mutex> l(mutex);
      stop = true;
    }
    cv.notify_all();
    for (auto& t : threads) t.join();
  }
  void run() {
    std::unique_lock<std::mutex> l(mutex);
    for (;;) {
      cv.wait(l, [&] { return stop || !tasks.empty(); });
      if (tasks.empty()) return;  // stopping, with every task run
      auto [fn, data] = tasks.front();
      tasks.pop_front();
      const size_t f = frame;
      ++running;
      l.unlock();
      const auto t0 = Clock::now();
      fn(data);
      const double us = us_since(t0);
      l.lock();
      --running;
      work_us[std::min(f, work_us.size() - 1)] += us;
      cv.notify_all();
    }
  }
  void wait_idle() {
    std::unique_lock<std::mutex> l(mutex);
    cv.wait(l, [&] { return tasks.empty() && running == 0; });
  }
  void begin_frame(size_t f) {
    std::lock_guard<std::mutex> l(mutex);
    frame = f;
  }
  static void enqueue(void* self, mmb_task_fn fn, void* data) {
    auto* s = static_cast<HostJobSystem*>(self);
    {
      std::lock_guard<std::mutex> l(s->mutex);
      s->tasks.emplace_back(fn, data);
    }
    s->cv.notify_one();
  }
};

struct Loaded {
  std::unique_ptr<mmb_runtime, void (*)(mmb_runtime*)> rt{nullptr, mmb_runtime_destroy};
  std::unique_ptr<mmb_model, void (*)(mmb_model*)> model{nullptr, mmb_model_destroy};
};

Loaded load(const Options& o, const std::vector<std::byte>& memory, int32_t mode, uint64_t budget,
            HostJobSystem* host = nullptr) {
  mmb_runtime_options ro;
  check(mmb_runtime_options_init(&ro, sizeof ro), "runtime options");
  ro.n_threads = o.threads;
  ro.job_mode = mode;
  if (host) {
    ro.run_task = &HostJobSystem::enqueue;
    ro.run_task_user_data = host;
  }
  ro.session_memory_budget = budget;
  Loaded l;
  mmb_runtime* rt = nullptr;
  check(mmb_runtime_create(&ro, &rt), "runtime");
  l.rt.reset(rt);
  mmb_load_options lo;
  check(mmb_load_options_init(&lo, sizeof lo), "load options");
  lo.flags = MMB_LOAD_SKIP_CHECKSUMS;
  mmb_model* m = nullptr;
  if (memory.empty()) check(mmb_model_load_file(rt, o.bundle.c_str(), &lo, &m), "load");
  else check(mmb_model_load_memory(rt, memory.data(), memory.size(), &lo, &m), "load");
  l.model.reset(m);
  return l;
}

using Session = std::unique_ptr<mmb_session, void (*)(mmb_session*)>;
using Job = std::unique_ptr<mmb_job, void (*)(mmb_job*)>;
using Sampler = std::unique_ptr<mmb_sampler, void (*)(mmb_sampler*)>;

Session new_session(mmb_model* m) {
  mmb_session* s = nullptr;
  check(mmb_session_create(m, nullptr, &s), "session");
  return Session(s, mmb_session_destroy);
}

Sampler new_sampler(uint64_t seed) {
  mmb_sampler_params p;
  check(mmb_sampler_params_init(&p, sizeof p), "sampler params");
  p.seed = seed;
  mmb_sampler* s = nullptr;
  check(mmb_sampler_create(&p, &s), "sampler");
  return Sampler(s, mmb_sampler_destroy);
}

Job submit(mmb_session* s, mmb_sampler* sampler, const std::string& prompt, int32_t tokens) {
  mmb_job_options jo;
  check(mmb_job_options_init(&jo, sizeof jo), "job options");
  jo.max_tokens = tokens;
  jo.stop_at_eos = 0;
  mmb_job* j = nullptr;
  check(mmb_job_submit_text(s, sampler, prompt.data(), prompt.size(), &jo, &j), "submit");
  return Job(j, mmb_job_destroy);
}

// Characters each stream lines; a finished line is followed by the next at once.
void scene(const Options& o, const std::vector<std::byte>& memory) {
  std::unique_ptr<HostJobSystem> host;
  if (o.host_threads > 0) host = std::make_unique<HostJobSystem>(o.host_threads, size_t(o.frames));
  Loaded l = load(o, memory, host ? MMB_JOBS_HOST : MMB_JOBS_FRAME, 0, host.get());
  // A paced host runtime takes its first budget before the jobs arrive.
  if (host) check(mmb_runtime_frame(l.rt.get(), uint64_t(o.budget_us), nullptr), "frame");
  std::vector<Session> sessions;
  std::vector<Sampler> samplers;
  std::vector<Job> jobs;
  for (int i = 0; i < o.characters; ++i) {
    sessions.push_back(new_session(l.model.get()));
    samplers.push_back(new_sampler(uint64_t(i)));
    jobs.push_back(submit(sessions.back().get(), samplers.back().get(), "Character " + std::to_string(i) + " says: ", o.tokens));
  }
  const auto period = std::chrono::microseconds(1000000 / o.hz);
  std::vector<double> work, late, call;
  uint64_t tokens = 0, slices = 0;
  const auto start = Clock::now();
  auto next = start;
  for (int f = 0; f < o.frames; ++f) {
    const auto t0 = Clock::now();
    late.push_back(std::max(0.0, std::chrono::duration<double, std::micro>(t0 - next).count()));
    if (host) host->begin_frame(size_t(f));
    mmb_frame_stats st;
    st.struct_size = sizeof st;
    check(mmb_runtime_frame(l.rt.get(), uint64_t(o.budget_us), &st), "frame");
    tokens += st.tokens_generated;
    slices += st.slices;
    call.push_back(double(st.time_us));
    for (int i = 0; i < o.characters; ++i) {
      int32_t state = 0;
      check(mmb_job_poll(jobs[i].get(), &state, nullptr), "poll");
      if (state == MMB_JOB_FINISHED) jobs[i] = submit(sessions[i].get(), samplers[i].get(), " And then: ", o.tokens);
    }
    work.push_back(us_since(t0));
    next += period;
    // A game's update and render keep its thread busy between two model frames; a
    // thread that sleeps here lets the core idle (on a VM its vCPU halts) and the next
    // frame starts cold.
    if (o.host_busy)
      while (Clock::now() < next) std::atomic_signal_fence(std::memory_order_seq_cst);
    else
      std::this_thread::sleep_until(next);
  }
  const double seconds = us_since(start) / 1e6;
  if (host) {
    // The model's work is on the host's threads: what its tasks took in each frame.
    host->wait_idle();
    std::lock_guard<std::mutex> lock(host->mutex);
    work.assign(host->work_us.begin(), host->work_us.begin() + o.frames);
  }
  const double budget = double(o.budget_us);
  const double over = double(std::count_if(work.begin(), work.end(), [&](double w) { return w > 1.1 * budget; }));
  const std::string where = host ? ", MMB_JOBS_HOST on " + std::to_string(o.host_threads) + " host threads" : "";
  const std::string between = o.host_busy ? ", host thread busy between frames" : "";
  std::printf("scene: %d characters at %d Hz, %d frames, budget %d us%s%s: frame work p50 %.0f us, p99 %.0f us (%.2fx budget), "
              "max %.0f us (%.2fx); frames over 1.1x budget %.1f%%; mmb_runtime_frame p99 %.0f us; %.1f slices per frame; "
              "frame start lateness p99 %.0f us; %.1f tokens/s overall\n",
              o.characters, o.hz, o.frames, o.budget_us, where.c_str(), between.c_str(), percentile(work, 0.5), percentile(work, 0.99),
              percentile(work, 0.99) / budget, percentile(work, 1.0), percentile(work, 1.0) / budget,
              100.0 * over / double(work.size()), percentile(call, 0.99), double(slices) / double(o.frames),
              percentile(late, 0.99), double(tokens) / seconds);
}

void cancel_latency(const Options& o, const std::vector<std::byte>& memory) {
  Loaded l = load(o, memory, MMB_JOBS_WORKER, 0);
  Session s = new_session(l.model.get());
  Sampler sampler = new_sampler(1);
  std::string prompt;
  for (int i = 0; i < 40; ++i) prompt += "A long prompt to cancel in the middle of. ";
  std::mt19937 rng(3);
  std::vector<double> latency;
  int in_prompt = 0;
  for (int r = 0; r < o.cancels; ++r) {
    check(mmb_session_reset(s.get()), "reset");
    Job j = submit(s.get(), sampler.get(), prompt, 1000);
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 5000));
    int32_t before = 0;
    check(mmb_job_poll(j.get(), &before, nullptr), "poll");
    const auto t0 = Clock::now();
    check(mmb_job_cancel(j.get()), "cancel");
    int32_t state = 0;
    check(mmb_job_wait(j.get(), 10000, &state), "wait");
    latency.push_back(us_since(t0));
    if (before != MMB_JOB_GENERATING) ++in_prompt;
  }
  std::printf("cancel: %d cancels (%d during the prompt), cancel-to-finished p50 %.0f us, p99 %.0f us, max %.0f us\n",
              o.cancels, in_prompt, percentile(latency, 0.5), percentile(latency, 0.99), percentile(latency, 1.0));
}

void paging(const Options& o, const std::vector<std::byte>& memory) {
  // One session's resident bytes, then a runtime with room for 4.
  uint64_t per_session = 0;
  {
    Loaded probe = load(o, memory, MMB_JOBS_WORKER, 0);
    Session s = new_session(probe.model.get());
    mmb_session_memory m;
    m.struct_size = sizeof m;
    check(mmb_runtime_get_session_memory(probe.rt.get(), &m), "memory");
    per_session = m.resident_bytes;
  }
  Loaded l = load(o, memory, MMB_JOBS_WORKER, 4 * per_session);
  std::vector<Session> sessions;
  for (int i = 0; i < o.characters; ++i) {
    sessions.push_back(new_session(l.model.get()));
    check(mmb_session_step(sessions.back().get(), i % 200, nullptr, 0), "step");
  }
  mmb_session_memory m0;
  m0.struct_size = sizeof m0;
  check(mmb_runtime_get_session_memory(l.rt.get(), &m0), "memory");
  // Round robin over more sessions than fit: every touch pages one in and one out.
  const int touches = 20 * o.characters;
  const auto t0 = Clock::now();
  for (int t = 0; t < touches; ++t) check(mmb_session_step(sessions[size_t(t % o.characters)].get(), 1, nullptr, 0), "step");
  const double seconds = us_since(t0) / 1e6;
  mmb_session_memory m;
  m.struct_size = sizeof m;
  check(mmb_runtime_get_session_memory(l.rt.get(), &m), "memory");
  const double ins = double(m.page_ins - m0.page_ins), outs = double(m.page_outs - m0.page_outs);
  // The same touches without a budget: what stepping alone costs.
  Loaded free_rt = load(o, memory, MMB_JOBS_WORKER, 0);
  std::vector<Session> unpaged;
  for (int i = 0; i < o.characters; ++i) unpaged.push_back(new_session(free_rt.model.get()));
  const auto t1 = Clock::now();
  for (int t = 0; t < touches; ++t) check(mmb_session_step(unpaged[size_t(t % o.characters)].get(), 1, nullptr, 0), "step");
  const double step_seconds = us_since(t1) / 1e6;
  const double paging_seconds = std::max(1e-9, seconds - step_seconds);
  std::printf("paging: %d sessions of %.1f KiB under a budget of 4 (%.1f KiB): %.0f page-ins and %.0f page-outs in %.3f s "
              "of which paging %.3f s: %.0f sessions/s in and out; held %.1f KiB resident + %.1f KiB paged "
              "(%.1f KiB without a budget)\n",
              o.characters, per_session / 1024.0, 4 * per_session / 1024.0, ins, outs, seconds, paging_seconds,
              (ins + outs) / paging_seconds, m.resident_bytes / 1024.0, m.paged_bytes / 1024.0,
              o.characters * per_session / 1024.0);
}

}  // namespace

int run_bench_jobs(const std::vector<std::string>& args) {
  if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
    std::printf("usage: mmb bench jobs [BUNDLE | --shape NAME (default tiny)] [--characters N] [--hz N]\n"
                "         [--budget-us N] [--frames N] [--tokens N] [--cancels N] [--threads N]\n"
                "         [--host-threads N] [--host-busy]\n"
                "The scene: characters stream lines through jobs, the host calling mmb_runtime_frame at\n"
                "--hz with --budget-us; frame work is the time the model took of each frame (with\n"
                "--host-threads, MMB_JOBS_HOST: the time its tasks took of the host's N worker threads).\n"
                "--host-busy: the scene's thread spins between frames, as a game's update and render\n"
                "keep it busy, instead of sleeping (idle cores come back slowly, on VMs most).\n"
                "Then cancel-to-finished latency (worker mode) and session paging.\n");
    return 0;
  }
  const Options o = parse(args);
  std::vector<std::byte> memory;
  if (o.bundle.empty()) memory = write_bundle_to_memory(make_synthetic_model(named_shape(o.shape), {1, DType::F32}).contents, WriterOptions{});
  std::printf("model: %s, %d compute threads\n", o.bundle.empty() ? o.shape.c_str() : o.bundle.c_str(), o.threads);
  scene(o, memory);
  cancel_latency(o, memory);
  paging(o, memory);
  return 0;
}

}  // namespace mmb::cli
