// Non-blocking jobs, frames, events and session paging through the public C API
// (moemamba.h section 7). Every result is compared with the blocking calls on the
// same model: a job must produce exactly the tokens mmb_generate() produces, a paged
// session exactly those of one never paged, whatever thread did the work.
#include <catch2/catch.hpp>

#include "support/host_threads.hpp"
#include "support/job_helpers.hpp"
#include "support/model_harness.hpp"

#include <moemamba/moemamba.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <cstdio>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace mmb;
using namespace mmb::testing;

namespace {

// A byte-vocabulary model (every id has text), its weights kept for more loads.
struct Bytes {
  ModelCase c = parity_cases()[0];
  SyntheticModel weights = build_weights(c);
};
const Bytes& bytes_model() {
  static const Bytes b;
  return b;
}

RuntimePtr runtime_with(int32_t mode, uint64_t budget = 0, HostThreads* host = nullptr) {
  return make_runtime([&](mmb_runtime_options& o) {
    o.job_mode = mode;
    o.session_memory_budget = budget;
    if (host) {
      o.run_task = &HostThreads::enqueue;
      o.run_task_user_data = host;
    }
  });
}

struct Generated {
  std::vector<int32_t> tokens;
  std::string text;
};

// The blocking path: what a job must reproduce.
Generated generate(mmb_session* session, mmb_sampler* s, const std::string& prompt, int32_t max_tokens) {
  mmb_generate_options o;
  REQUIRE(mmb_generate_options_init(&o, sizeof o) == MMB_OK);
  o.max_tokens = max_tokens;
  o.stop_at_eos = 0;
  o.tokenize_flags = 0;
  Generated g;
  auto cb = [](void* user, int32_t token, const char* text, size_t len) -> int32_t {
    auto* g = static_cast<Generated*>(user);
    if (token >= 0) g->tokens.push_back(token);
    g->text.append(text, len);
    return 1;
  };
  REQUIRE(mmb_generate(session, s, prompt.data(), prompt.size(), &o, cb, &g) == MMB_OK);
  return g;
}

// Reads everything a finished (or finishing) job produced.
Generated drain(mmb_job* job) {
  Generated g;
  int32_t state = 0;
  REQUIRE(mmb_job_wait(job, 60000, &state) == MMB_OK);
  REQUIRE(state == MMB_JOB_FINISHED);
  size_t n = 0;
  REQUIRE(mmb_job_read_tokens(job, nullptr, 0, &n) != MMB_ERR_INVALID_ARGUMENT);
  g.tokens.resize(n);
  REQUIRE(mmb_job_read_tokens(job, g.tokens.data(), n, &n) == MMB_OK);
  size_t len = 0;
  mmb_job_read_text(job, nullptr, 0, &len);
  g.text.resize(len);
  REQUIRE(mmb_job_read_text(job, g.text.data(), len, &len) == MMB_OK);
  return g;
}

mmb_status result_of(mmb_job* job) {
  mmb_status r = MMB_ERR_INTERNAL;
  int32_t state = -1;
  REQUIRE(mmb_job_poll(job, &state, &r) == MMB_OK);
  return r;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(p * double(v.size() - 1) + 0.5))];
}

const std::string kPrompt = "The innkeeper leans over the counter and says: ";

}  // namespace

TEST_CASE("a job produces exactly the tokens and text of mmb_generate, in every job mode", "[jobs][threads]") {
  const Bytes& b = bytes_model();
  RuntimePtr plain = make_runtime();
  ModelPtr plain_model = load_model(plain.get(), b.weights);
  SessionPtr reference_session = make_session(plain_model.get());
  SamplerPtr reference_sampler = sampler(42);
  const Generated expected = generate(reference_session.get(), reference_sampler.get(), kPrompt, 40);
  REQUIRE(expected.tokens.size() == 40);

  HostThreads host(1);
  for (int32_t mode : {MMB_JOBS_WORKER, MMB_JOBS_FRAME, MMB_JOBS_HOST}) {
    INFO("job mode " << mode);
    RuntimePtr rt = runtime_with(mode, 0, mode == MMB_JOBS_HOST ? &host : nullptr);
    ModelPtr model = load_model(rt.get(), b.weights);
    SessionPtr session = make_session(model.get());
    SamplerPtr s = sampler(42);
    JobPtr job = submit(session.get(), s.get(), kPrompt, job_options(40));
    s.reset();  // the job sampled with its own copy
    const Generated got = drain(job.get());
    CHECK(result_of(job.get()) == MMB_OK);
    CHECK(got.tokens == expected.tokens);
    CHECK(got.text == expected.text);
    // The session continues where mmb_generate's does.
    CHECK(save_state(session.get()) == save_state(reference_session.get()));
  }
}

TEST_CASE("a prefill job leaves the state of a blocking prefill", "[jobs]") {
  const Bytes& b = bytes_model();
  RuntimePtr rt = runtime_with(MMB_JOBS_FRAME);
  ModelPtr model = load_model(rt.get(), b.weights);
  const std::vector<int32_t> tokens = random_tokens(9, 70, 256);
  SessionPtr blocking = make_session(model.get()), jobbed = make_session(model.get());
  REQUIRE(mmb_session_prefill(blocking.get(), tokens.data(), tokens.size(), nullptr, 0) == MMB_OK);
  mmb_job* raw = nullptr;
  mmb_job_options o = job_options(0);
  REQUIRE(mmb_job_submit_tokens(jobbed.get(), nullptr, tokens.data(), tokens.size(), &o, &raw) == MMB_OK);
  JobPtr job(raw);
  // 70 tokens in chunks of at most 16: at least five units, each over several frame
  // calls of tiny budget (one slice per call).
  int frames = 0;
  int32_t state = MMB_JOB_QUEUED;
  while (state != MMB_JOB_FINISHED && frames < 100000) {
    REQUIRE(mmb_runtime_frame(rt.get(), 1, nullptr) == MMB_OK);
    REQUIRE(mmb_job_poll(job.get(), &state, nullptr) == MMB_OK);
    ++frames;
  }
  CHECK(frames > 5);
  CHECK(result_of(job.get()) == MMB_OK);
  CHECK(save_state(jobbed.get()) == save_state(blocking.get()));
}

TEST_CASE("frames batch the sessions of a model and keep to the budget (figures printed)", "[jobs]") {
  const Bytes& b = bytes_model();
  RuntimePtr rt = runtime_with(MMB_JOBS_FRAME);
  ModelPtr model = load_model(rt.get(), b.weights);
  constexpr int kCharacters = 16;
  constexpr int32_t kTokens = 48;
  std::vector<SessionPtr> sessions;
  std::vector<SamplerPtr> samplers;
  std::vector<JobPtr> jobs;
  for (int i = 0; i < kCharacters; ++i) {
    sessions.push_back(make_session(model.get()));
    samplers.push_back(sampler(100 + i));
    jobs.push_back(submit(sessions.back().get(), samplers.back().get(), kPrompt + std::to_string(i), job_options(kTokens)));
  }
  const uint64_t budget_us = 2000;
  std::vector<double> used;
  uint64_t tokens = 0, steps = 0, finished = 0;
  mmb_frame_stats st;
  for (int frame = 0; frame < 100000; ++frame) {
    st.struct_size = sizeof st;
    REQUIRE(mmb_runtime_frame(rt.get(), budget_us, &st) == MMB_OK);
    used.push_back(double(st.time_us));
    tokens += st.tokens_generated;
    steps += st.steps;
    finished += st.jobs_finished;
    if (st.jobs_active == 0) break;
  }
  CHECK(finished == kCharacters);
  CHECK(tokens == uint64_t(kCharacters) * kTokens);
  // 16 jobs generating together: far fewer units than tokens.
  CHECK(steps < tokens / 4);
  std::printf("frames: %zu at budget %llu us, work p50 %.0f us, p99 %.0f us, max %.0f us, %llu tokens in %llu units\n",
              used.size(), (unsigned long long)budget_us, percentile(used, 0.5), percentile(used, 0.99),
              percentile(used, 1.0), (unsigned long long)tokens, (unsigned long long)steps);
  // Every job's tokens equal its own blocking run.
  for (int i = 0; i < kCharacters; ++i) {
    SessionPtr s = make_session(model.get());
    SamplerPtr sm = sampler(100 + i);
    CHECK(drain(jobs[i].get()).tokens == generate(s.get(), sm.get(), kPrompt + std::to_string(i), kTokens).tokens);
  }
}

TEST_CASE("cancel at random moments: the session stays consistent and reusable", "[jobs][threads]") {
  const Bytes& b = bytes_model();
  RuntimePtr rt = runtime_with(MMB_JOBS_WORKER);
  ModelPtr model = load_model(rt.get(), b.weights);
  std::string long_prompt;
  for (int i = 0; i < 12; ++i) long_prompt += kPrompt;
  std::mt19937 rng(7);
  int cancelled = 0, completed = 0, in_prompt = 0, in_generation = 0;
  for (int round = 0; round < 24; ++round) {
    SessionPtr session = make_session(model.get());
    SamplerPtr s = sampler(round);
    // Odd rounds have a short prompt, so that cancels land during generation too.
    const std::string& prompt = round % 2 ? kPrompt : long_prompt;
    JobPtr job = submit(session.get(), s.get(), prompt, job_options(32));
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 6000));
    REQUIRE(mmb_job_cancel(job.get()) == MMB_OK);
    const Generated got = drain(job.get());
    const mmb_status r = result_of(job.get());
    REQUIRE((r == MMB_OK || r == MMB_ERR_CANCELLED));
    (r == MMB_OK ? completed : cancelled)++;
    if (r == MMB_ERR_CANCELLED && !got.tokens.empty()) ++in_generation;
    const uint64_t pos = position(session.get());
    if (got.tokens.empty()) {
      // Stopped in the prompt: a whole number of chunks, or all of it.
      CHECK((pos % 16 == 0 || pos == prompt.size()));
      if (pos < prompt.size()) ++in_prompt;
    } else {
      // Every emitted token entered the state, nothing else did.
      CHECK(pos == prompt.size() + got.tokens.size());
    }
    // Continuing equals a fresh session loaded with the same state.
    std::vector<uint8_t> blob = save_state(session.get());
    SessionPtr fresh = make_session(model.get());
    REQUIRE(mmb_session_state_load(fresh.get(), blob.data(), blob.size()) == MMB_OK);
    SamplerPtr s1 = sampler(1000 + round), s2 = sampler(1000 + round);
    CHECK(generate(session.get(), s1.get(), "more", 8).tokens == generate(fresh.get(), s2.get(), "more", 8).tokens);
  }
  std::printf("cancel rounds: %d cancelled (%d within the prompt, %d during generation), %d completed first\n", cancelled,
              in_prompt, in_generation, completed);
  CHECK(cancelled > 0);
}

TEST_CASE("paged-out sessions continue exactly as sessions never paged", "[jobs]") {
  const Bytes& b = bytes_model();
  RuntimePtr plain = make_runtime();
  ModelPtr plain_model = load_model(plain.get(), b.weights);
  RuntimePtr probe = make_runtime();

  // A budget of two sessions, five sessions taking turns.
  SessionPtr one = make_session(plain_model.get());
  mmb_session_memory m;
  m.struct_size = sizeof m;
  REQUIRE(mmb_runtime_get_session_memory(plain.get(), &m) == MMB_OK);
  const uint64_t per_session = m.resident_bytes;
  REQUIRE(per_session > 0);
  one.reset();

  for (int32_t mode : {MMB_JOBS_WORKER, MMB_JOBS_FRAME}) {
    INFO("job mode " << mode);
    RuntimePtr rt = runtime_with(mode, 2 * per_session);
    ModelPtr model = load_model(rt.get(), b.weights);
    constexpr int kSessions = 5;
    std::vector<SessionPtr> paged, kept;
    for (int i = 0; i < kSessions; ++i) {
      paged.push_back(make_session(model.get()));
      kept.push_back(make_session(plain_model.get()));
    }
    for (int turn = 0; turn < 3; ++turn) {
      // All five jobs at once: only two fit, the others wait their turn.
      std::vector<JobPtr> jobs;
      for (int i = 0; i < kSessions; ++i) {
        SamplerPtr s = sampler(10 * turn + i);
        jobs.push_back(submit(paged[i].get(), s.get(), "turn " + std::to_string(turn), job_options(6)));
      }
      for (int i = 0; i < kSessions; ++i) {
        const Generated got = drain(jobs[i].get());
        SamplerPtr s = sampler(10 * turn + i);
        CHECK(got.tokens == generate(kept[i].get(), s.get(), "turn " + std::to_string(turn), 6).tokens);
      }
      // The blocking calls page too.
      for (int i = 0; i < kSessions; ++i) {
        REQUIRE(mmb_session_step(paged[i].get(), 65, nullptr, 0) == MMB_OK);
        REQUIRE(mmb_session_step(kept[i].get(), 65, nullptr, 0) == MMB_OK);
      }
      REQUIRE(mmb_runtime_get_session_memory(rt.get(), &m) == MMB_OK);
      CHECK(m.resident_bytes <= 2 * per_session);
      CHECK(m.sessions == kSessions);
    }
    CHECK(m.page_outs > 0);
    CHECK(m.page_ins > 0);
    for (int i = 0; i < kSessions; ++i) CHECK(save_state(paged[i].get()) == save_state(kept[i].get()));
    // A sixth session fits by paging another out; a job can never need more than one.
    REQUIRE(mmb_runtime_get_session_memory(rt.get(), &m) == MMB_OK);
    std::printf("paging: %llu page-outs, %llu page-ins, %u of %u sessions resident, %llu resident bytes, %llu paged bytes\n",
                (unsigned long long)m.page_outs, (unsigned long long)m.page_ins, m.resident_sessions, m.sessions,
                (unsigned long long)m.resident_bytes, (unsigned long long)m.paged_bytes);
  }
}

// A host page store: a map from key to bytes, with switches to refuse stores, fail
// loads and alter a stored page. Called under the runtime's paging lock, from the
// job worker too: it locks its own mutex.
struct HostPages {
  std::mutex mutex;
  std::map<uint64_t, std::vector<unsigned char>> pages;
  int stores = 0, loads = 0, drops = 0;
  bool refuse = false, fail_loads = false;

  static int32_t store(void* self, uint64_t key, const void* data, size_t size) {
    auto* h = static_cast<HostPages*>(self);
    std::lock_guard<std::mutex> l(h->mutex);
    ++h->stores;
    if (h->refuse) return 1;
    if (h->pages.count(key)) return 2;  // keys are unique: a repeat is a bug
    const auto* p = static_cast<const unsigned char*>(data);
    h->pages[key].assign(p, p + size);
    return 0;
  }
  static int32_t load(void* self, uint64_t key, void* data, size_t size) {
    auto* h = static_cast<HostPages*>(self);
    std::lock_guard<std::mutex> l(h->mutex);
    ++h->loads;
    auto it = h->pages.find(key);
    if (h->fail_loads || it == h->pages.end() || it->second.size() != size) return 1;
    std::memcpy(data, it->second.data(), size);
    return 0;
  }
  static void drop(void* self, uint64_t key) {
    auto* h = static_cast<HostPages*>(self);
    std::lock_guard<std::mutex> l(h->mutex);
    ++h->drops;
    h->pages.erase(key);
  }
  size_t held() {
    std::lock_guard<std::mutex> l(mutex);
    return pages.size();
  }
  // Alters (then, called again, restores) one byte of the page held when first called.
  uint64_t flipped = 0;
  void flip_a_byte() {
    std::lock_guard<std::mutex> l(mutex);
    if (!flipped) flipped = pages.begin()->first;
    std::vector<unsigned char>& bytes = pages.at(flipped);
    bytes[bytes.size() / 2] ^= 0x40;
  }
};

TEST_CASE("a host page store holds paged-out states: refused stores, failed loads and altered pages", "[jobs][threads]") {
  const Bytes& b = bytes_model();
  RuntimePtr plain = make_runtime();
  ModelPtr plain_model = load_model(plain.get(), b.weights);
  SessionPtr probe = make_session(plain_model.get());
  mmb_session_memory m;
  m.struct_size = sizeof m;
  REQUIRE(mmb_runtime_get_session_memory(plain.get(), &m) == MMB_OK);
  const uint64_t per_session = m.resident_bytes;

  HostPages host;
  RuntimePtr rt = make_runtime([&](mmb_runtime_options& o) {
    o.session_memory_budget = per_session;  // one session resident at a time
    o.page_store = &HostPages::store;
    o.page_load = &HostPages::load;
    o.page_drop = &HostPages::drop;
    o.page_user_data = &host;
  });
  ModelPtr model = load_model(rt.get(), b.weights);

  // Two sessions taking turns: each use pages the other out to the host.
  SessionPtr a = make_session(model.get()), a_ref = make_session(plain_model.get());
  const std::vector<int32_t> tokens = random_tokens(5, 24, 256);
  REQUIRE(mmb_session_prefill(a.get(), tokens.data(), tokens.size(), nullptr, 0) == MMB_OK);
  REQUIRE(mmb_session_prefill(a_ref.get(), tokens.data(), tokens.size(), nullptr, 0) == MMB_OK);
  SessionPtr c = make_session(model.get()), c_ref = make_session(plain_model.get());
  CHECK(host.held() == 1);  // a, paged out to make room for c
  REQUIRE(mmb_runtime_get_session_memory(rt.get(), &m) == MMB_OK);
  CHECK(m.paged_sessions == 1);
  CHECK(m.paged_bytes > 0);
  for (int i = 0; i < 4; ++i) {
    CHECK(step(a.get(), 10 + i) == step(a_ref.get(), 10 + i));
    CHECK(step(c.get(), 20 + i) == step(c_ref.get(), 20 + i));
  }
  CHECK(host.held() == 1);  // every page read back was dropped
  CHECK(host.loads == host.drops);

  // A failed load: the call fails with MMB_ERR_IO, the session stays paged out, and
  // a later use succeeds and continues exactly.
  host.fail_loads = true;
  CHECK(mmb_session_step(a.get(), 30, nullptr, 0) == MMB_ERR_IO);
  CHECK(std::string(mmb_last_error()).find("page store") != std::string::npos);
  // The same through a job: it finishes with the error.
  {
    SamplerPtr s = sampler(3);
    JobPtr job = submit(a.get(), s.get(), "x", job_options(2));
    int32_t state = 0;
    REQUIRE(mmb_job_wait(job.get(), 60000, &state) == MMB_OK);
    CHECK(result_of(job.get()) == MMB_ERR_IO);
  }
  host.fail_loads = false;
  CHECK(step(a.get(), 30) == step(a_ref.get(), 30));

  // A page the host altered is refused by the state checks, then works once restored.
  CHECK(step(c.get(), 31) == step(c_ref.get(), 31));  // pages a out
  host.flip_a_byte();
  const mmb_status altered = mmb_session_step(a.get(), 32, nullptr, 0);
  CHECK((altered == MMB_ERR_FORMAT || altered == MMB_ERR_IO));
  host.flip_a_byte();
  CHECK(step(a.get(), 32) == step(a_ref.get(), 32));

  // Refused stores: the library keeps the page itself.
  host.refuse = true;
  const int stores_before = host.stores;
  CHECK(step(c.get(), 33) == step(c_ref.get(), 33));
  CHECK(host.stores == stores_before + 1);
  REQUIRE(mmb_runtime_get_session_memory(rt.get(), &m) == MMB_OK);
  CHECK(m.paged_sessions == 1);
  CHECK(m.paged_bytes > 0);
  CHECK(step(a.get(), 34) == step(a_ref.get(), 34));
  host.refuse = false;

  // Destroying a session whose page the host holds drops the page.
  CHECK(step(c.get(), 35) == step(c_ref.get(), 35));  // a goes to the host
  CHECK(step(a.get(), 36) == step(a_ref.get(), 36));  // and back; c goes to the host
  CHECK(host.held() == 1);
  c.reset();
  CHECK(host.held() == 0);
  a.reset();
  // Every load was followed by its drop except the two failed ones and the altered
  // page's; one drop (c's page, at its destruction) had no load.
  CHECK(host.loads - 3 == host.drops - 1);

  // Some but not all of the three functions is a bad argument.
  mmb_runtime_options o;
  REQUIRE(mmb_runtime_options_init(&o, sizeof o) == MMB_OK);
  o.page_store = &HostPages::store;
  o.page_load = &HostPages::load;
  o.page_user_data = &host;
  mmb_runtime* bad = nullptr;
  CHECK(mmb_runtime_create(&o, &bad) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(bad == nullptr);
}

TEST_CASE("explicit page-out, and a budget too small for one session", "[jobs]") {
  const Bytes& b = bytes_model();
  RuntimePtr rt = make_runtime();
  ModelPtr model = load_model(rt.get(), b.weights);
  SessionPtr a = make_session(model.get()), c = make_session(model.get());
  const std::vector<int32_t> tokens = random_tokens(3, 20, 256);
  REQUIRE(mmb_session_prefill(a.get(), tokens.data(), tokens.size(), nullptr, 0) == MMB_OK);
  REQUIRE(mmb_session_prefill(c.get(), tokens.data(), tokens.size(), nullptr, 0) == MMB_OK);
  REQUIRE(mmb_session_page_out(a.get()) == MMB_OK);
  REQUIRE(mmb_session_page_out(a.get()) == MMB_OK);  // already out: nothing to do
  mmb_session_memory m;
  m.struct_size = sizeof m;
  REQUIRE(mmb_runtime_get_session_memory(rt.get(), &m) == MMB_OK);
  CHECK(m.paged_sessions == 1);
  CHECK(m.paged_bytes > 0);
  CHECK(position(a.get()) == 20);
  CHECK(step(a.get(), 7) == step(c.get(), 7));
  CHECK(mmb_session_page_out(nullptr) == MMB_ERR_INVALID_ARGUMENT);

  RuntimePtr tiny = runtime_with(MMB_JOBS_WORKER, 64);
  ModelPtr tiny_model = load_model(tiny.get(), b.weights);
  mmb_session* s = nullptr;
  CHECK(mmb_session_create(tiny_model.get(), nullptr, &s) == MMB_ERR_BUDGET);
  CHECK(s == nullptr);
  CHECK(std::string(mmb_status_string(MMB_ERR_BUDGET)) == "MMB_ERR_BUDGET");

  // A budget of one session: a second is made by paging the first out, and a batch of
  // both cannot be resident at once.
  mmb_session_memory one;
  one.struct_size = sizeof one;
  REQUIRE(mmb_runtime_get_session_memory(rt.get(), &one) == MMB_OK);
  RuntimePtr single = runtime_with(MMB_JOBS_WORKER, one.resident_bytes / 2);
  ModelPtr single_model = load_model(single.get(), b.weights);
  SessionPtr x = make_session(single_model.get()), y = make_session(single_model.get());
  mmb_session* pair[2] = {x.get(), y.get()};
  const int32_t toks[2] = {1, 2};
  CHECK(mmb_step_batch(pair, toks, 2, nullptr, 0) == MMB_ERR_BUDGET);
  CHECK(position(x.get()) == 0);
  CHECK(mmb_session_step(x.get(), 1, nullptr, 0) == MMB_OK);
  CHECK(mmb_session_step(y.get(), 1, nullptr, 0) == MMB_OK);
}

TEST_CASE("events arrive only on the polling thread, in order, matching the read text", "[jobs][threads]") {
  const Bytes& b = bytes_model();
  RuntimePtr rt = runtime_with(MMB_JOBS_WORKER);
  ModelPtr model = load_model(rt.get(), b.weights);
  struct Log {
    std::thread::id expected;
    int wrong_thread = 0;
    std::vector<int32_t> tokens;
    std::string text;
    int finished = 0;
    int after_finish = 0;
    mmb_status status = MMB_ERR_INTERNAL;
  } log;
  log.expected = std::this_thread::get_id();
  mmb_job_options o = job_options(30);
  o.on_event = [](void* user, mmb_job*, int32_t kind, int32_t token, const char* text, size_t len, mmb_status status) {
    auto* l = static_cast<Log*>(user);
    if (std::this_thread::get_id() != l->expected) ++l->wrong_thread;
    if (l->finished) ++l->after_finish;
    if (kind == MMB_JOB_EVENT_TOKEN) {
      if (token >= 0) l->tokens.push_back(token);
      l->text.append(text, len);
    } else {
      ++l->finished;
      l->status = status;
    }
  };
  o.event_user_data = &log;
  SessionPtr session = make_session(model.get());
  SamplerPtr s = sampler(5);
  JobPtr job = submit(session.get(), s.get(), kPrompt, o);
  int32_t state = MMB_JOB_QUEUED;
  int polls = 0;
  while (state != MMB_JOB_FINISHED) {
    REQUIRE(mmb_job_poll(job.get(), &state, nullptr) == MMB_OK);
    ++polls;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  REQUIRE(mmb_job_poll(job.get(), &state, nullptr) == MMB_OK);
  CHECK(log.wrong_thread == 0);
  CHECK(log.finished == 1);
  CHECK(log.after_finish == 0);
  CHECK(log.status == MMB_OK);
  const Generated read = drain(job.get());
  CHECK(log.tokens == read.tokens);
  CHECK(log.text == read.text);
  CHECK(read.tokens.size() == 30);
  std::printf("events: %zu tokens over %d polls, all on the polling thread\n", log.tokens.size(), polls);
}

TEST_CASE("misuse of jobs has defined results", "[jobs][threads]") {
  const Bytes& b = bytes_model();
  RuntimePtr rt = runtime_with(MMB_JOBS_WORKER);
  ModelPtr model = load_model(rt.get(), b.weights);
  SessionPtr session = make_session(model.get());
  SamplerPtr s = sampler(1);
  std::string long_prompt;
  for (int i = 0; i < 20; ++i) long_prompt += kPrompt;

  // Jobs that must still be running when the test acts on them ask for more tokens
  // than they could make in hours: with a short job, a descheduled test thread (two
  // cores, ctest running tests side by side) found it already finished.
  const int32_t kUnending = 1 << 30;
  JobPtr job = submit(session.get(), s.get(), long_prompt, job_options(kUnending));
  // A busy session refuses other work, and a second job.
  mmb_job* second = nullptr;
  mmb_job_options o = job_options(4);
  CHECK(mmb_job_submit_text(session.get(), s.get(), "x", 1, &o, &second) == MMB_ERR_BUSY);
  CHECK(second == nullptr);
  CHECK(mmb_session_step(session.get(), 1, nullptr, 0) == MMB_ERR_BUSY);
  uint64_t pos = 0;
  CHECK(mmb_session_get_position(session.get(), &pos) == MMB_ERR_BUSY);
  CHECK(mmb_session_page_out(session.get()) == MMB_ERR_BUSY);
  // Cancel twice, then after the end: all fine.
  CHECK(mmb_job_cancel(job.get()) == MMB_OK);
  CHECK(mmb_job_cancel(job.get()) == MMB_OK);
  drain(job.get());
  CHECK(mmb_job_cancel(job.get()) == MMB_OK);
  CHECK(result_of(job.get()) == MMB_ERR_CANCELLED);
  // Free again: a new job may start.
  JobPtr next = submit(session.get(), s.get(), "again", job_options(3));
  CHECK(drain(next.get()).tokens.size() == 3);

  // Destroying a session under a running job: the job ends cancelled and stays readable.
  {
    SessionPtr doomed = make_session(model.get());
    JobPtr orphan = submit(doomed.get(), s.get(), long_prompt, job_options(kUnending));
    doomed.reset();
    int32_t state = -1;
    REQUIRE(mmb_job_wait(orphan.get(), 0, &state) == MMB_OK);
    CHECK(state == MMB_JOB_FINISHED);
    CHECK(result_of(orphan.get()) == MMB_ERR_CANCELLED);
  }
  // Destroying a running job frees its session at once.
  {
    SessionPtr other = make_session(model.get());
    JobPtr running = submit(other.get(), s.get(), long_prompt, job_options(kUnending));
    running.reset();
    CHECK(mmb_session_step(other.get(), 1, nullptr, 0) == MMB_OK);
  }
  // An event callback that destroys its own job inside mmb_job_poll (allowed by the
  // header): the poll returns normally (ASan would catch a read of the freed handle).
  {
    SessionPtr other = make_session(model.get());
    mmb_job_options eo = job_options(3);
    int calls = 0;
    eo.event_user_data = &calls;
    eo.on_event = [](void* user, mmb_job* self, int32_t, int32_t, const char*, size_t, mmb_status) {
      if ((*static_cast<int*>(user))++ == 0) mmb_job_destroy(self);
    };
    mmb_job* self_destroying = nullptr;
    REQUIRE(mmb_job_submit_text(other.get(), s.get(), "x", 1, &eo, &self_destroying) == MMB_OK);
    int32_t state = -1;
    while (calls == 0) {
      REQUIRE(mmb_job_wait(self_destroying, 60000, &state) == MMB_OK);
      REQUIRE(mmb_job_poll(self_destroying, &state, nullptr) == MMB_OK);
    }
    CHECK(calls >= 1);
    CHECK(mmb_session_step(other.get(), 1, nullptr, 0) == MMB_OK);  // the session is free again
  }
  // Job handles outliving their runtime, model and session.
  {
    RuntimePtr rt2 = runtime_with(MMB_JOBS_FRAME);
    ModelPtr m2 = load_model(rt2.get(), b.weights);
    SessionPtr s2 = make_session(m2.get());
    JobPtr late = submit(s2.get(), s.get(), "late", job_options(5));
    s2.reset();
    m2.reset();
    rt2.reset();
    CHECK(result_of(late.get()) == MMB_ERR_CANCELLED);
  }
  // NULLs and bad options.
  mmb_job* out = nullptr;
  CHECK(mmb_job_submit_text(nullptr, s.get(), "x", 1, nullptr, &out) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(mmb_job_submit_text(session.get(), s.get(), nullptr, 3, nullptr, &out) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(mmb_job_submit_text(session.get(), s.get(), "x", 1, nullptr, nullptr) == MMB_ERR_INVALID_ARGUMENT);
  const int32_t bad[1] = {999};
  CHECK(mmb_job_submit_tokens(session.get(), s.get(), bad, 1, nullptr, &out) == MMB_ERR_INVALID_ARGUMENT);
  o.max_tokens = -1;
  CHECK(mmb_job_submit_text(session.get(), s.get(), "x", 1, &o, &out) == MMB_ERR_INVALID_ARGUMENT);
  o = job_options(1);
  o.struct_size = 3;
  CHECK(mmb_job_submit_text(session.get(), s.get(), "x", 1, &o, &out) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(out == nullptr);
  CHECK(mmb_job_poll(nullptr, nullptr, nullptr) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(mmb_job_cancel(nullptr) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(mmb_job_wait(nullptr, 0, nullptr) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(mmb_runtime_frame(nullptr, 10, nullptr) == MMB_ERR_INVALID_ARGUMENT);
  mmb_job_destroy(nullptr);
  mmb_runtime_options ro;
  REQUIRE(mmb_runtime_options_init(&ro, sizeof ro) == MMB_OK);
  ro.job_mode = MMB_JOBS_HOST;  // without run_task
  mmb_runtime* bad_rt = nullptr;
  CHECK(mmb_runtime_create(&ro, &bad_rt) == MMB_ERR_INVALID_ARGUMENT);
  ro.job_mode = 7;
  CHECK(mmb_runtime_create(&ro, &bad_rt) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(bad_rt == nullptr);
  // A small text buffer takes nothing.
  JobPtr small = submit(session.get(), s.get(), "abc", job_options(8));
  REQUIRE(mmb_job_wait(small.get(), 60000, nullptr) == MMB_OK);
  size_t len = 0;
  REQUIRE(mmb_job_read_text(small.get(), nullptr, 0, &len) == MMB_ERR_BUFFER_TOO_SMALL);
  std::string text(len, '\0');
  CHECK(mmb_job_read_text(small.get(), text.data(), len, &len) == MMB_OK);
  CHECK(len == text.size());
}
