// Frames that stop a unit between layers (moemamba.h section 7, mmb_runtime_frame):
// a batched step or prompt chunk run in slices over many frames gives the same bits
// as in one go, for every layer kind; a session whose step is half done is busy, and
// a cancel, a destroy of its job or of itself leaves everything consistent (cancels in
// the middle of a prompt chunk: test_job_cancel.cpp).
#include <catch2/catch.hpp>

#include "support/attention_models.hpp"
#include "support/job_helpers.hpp"
#include "support/mamba2_models.hpp"
#include "support/host_threads.hpp"
#include "support/model_harness.hpp"

#include <moemamba/moemamba.h>

#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace mmb;
using namespace mmb::testing;
using namespace mmb::testing::builders;

namespace {

// What a scene of characters left: each job's tokens and each session's saved state.
struct Outcome {
  std::vector<std::vector<int32_t>> tokens;
  std::vector<std::vector<uint8_t>> states;
  uint64_t frames = 0, slices = 0, most_slices = 0;
};

constexpr uint64_t kOneGo = 0;  // a budget of 0 here means: mmb_job_wait runs units whole

// Characters with prompts of different lengths (several chunks for some), each with
// its session, sampler and job.
struct Characters {
  std::vector<SessionPtr> sessions;
  std::vector<SamplerPtr> samplers;
  std::vector<JobPtr> jobs;
  Characters(mmb_model* model, int n, int32_t max_tokens) {
    const uint32_t vocab = uint32_t(vocab_size(model));
    for (int i = 0; i < n; ++i) {
      sessions.push_back(make_session(model));
      samplers.push_back(sampler(40 + i));
      jobs.push_back(submit(sessions.back().get(), samplers.back().get(), random_tokens(7 + i, 3 + 9 * i, vocab), max_tokens));
    }
  }
  // Every job's tokens and session equal those of `o`'s characters.
  void check_same_as(const Outcome& o) const {
    for (size_t i = 0; i < jobs.size(); ++i) {
      CHECK(tokens_of(jobs[i].get()) == o.tokens[i]);
      CHECK(save_state(sessions[i].get()) == o.states[i]);
    }
  }
};

// A runtime whose jobs run as tasks of `host`.
RuntimePtr host_runtime(HostThreads& host) {
  return make_runtime([&](mmb_runtime_options& o) {
    o.job_mode = MMB_JOBS_HOST;
    o.run_task = &HostThreads::enqueue;
    o.run_task_user_data = &host;
  });
}

// A model on a runtime whose jobs run as tasks of `threads` host threads.
struct HostModel {
  HostThreads host;
  RuntimePtr rt;
  ModelPtr model;
  HostModel(int threads, const SyntheticModel& weights)
      : host(threads), rt(host_runtime(host)), model(load_model(rt.get(), weights)) {}
};

// Characters with prompts of different lengths (several chunks for some) generate
// together on one model, driven by frames of `budget_us` until every job is done.
Outcome run_scene(const SyntheticModel& weights, uint64_t budget_us, int characters = 3, int32_t max_tokens = 6) {
  RuntimePtr rt = make_runtime([](mmb_runtime_options& o) { o.job_mode = MMB_JOBS_FRAME; });
  ModelPtr model = load_model(rt.get(), weights);
  Characters cast(model.get(), characters, max_tokens);
  std::vector<JobPtr>& jobs = cast.jobs;
  std::vector<SessionPtr>& sessions = cast.sessions;
  Outcome out;
  if (budget_us == kOneGo) {
    for (auto& j : jobs) REQUIRE(mmb_job_wait(j.get(), 60000, nullptr) == MMB_OK);
  } else {
    for (;;) {
      mmb_frame_stats st;
      st.struct_size = sizeof st;
      REQUIRE(mmb_runtime_frame(rt.get(), budget_us, &st) == MMB_OK);
      ++out.frames;
      out.slices += st.slices;
      out.most_slices = std::max<uint64_t>(out.most_slices, st.slices);
      if (st.jobs_active == 0) break;
      REQUIRE(out.frames < 100000);
    }
  }
  for (int i = 0; i < characters; ++i) {
    mmb_status r = MMB_ERR_INTERNAL;
    REQUIRE(state_of(jobs[i].get(), &r) == MMB_JOB_FINISHED);
    CHECK(r == MMB_OK);
    out.tokens.push_back(tokens_of(jobs[i].get()));
    out.states.push_back(save_state(sessions[i].get()));
  }
  return out;
}

std::vector<std::pair<ModelCase, SyntheticModel>> every_layer_kind() {
  std::vector<std::pair<ModelCase, SyntheticModel>> models;
  for (const char* name : {"moe-mamba switch", "mamba-mlp", "parallel mamba + moe", "out_proj experts"}) {
    ModelCase c = case_named(parity_cases(), name);
    models.emplace_back(c, build_weights(c));
  }
  for (const char* name : {"mamba + mamba2 mixed plan", "moe-mamba2"}) {
    ModelCase c = mamba2_case(name);
    models.emplace_back(c, build_mamba2_weights(c));
  }
  for (const char* name : {"jamba-like", "nemotron-h-like"}) {
    ModelCase c = attention_case(name);
    models.emplace_back(c, build_attention_weights(c));
  }
  return models;
}

// A frame-mode runtime with one character at a half-done step: its job generates,
// and the last frame ran one slice of a step that has more to run.
struct HalfDone {
  ModelCase c = case_named(parity_cases(), "moe-mamba switch");
  SyntheticModel weights = build_weights(c);
  RuntimePtr rt = make_runtime([](mmb_runtime_options& o) { o.job_mode = MMB_JOBS_FRAME; });
  ModelPtr model = load_model(rt.get(), weights);
  std::vector<int32_t> prompt = random_tokens(3, 5, 256);
  SessionPtr session = make_session(model.get()), other = make_session(model.get());
  SamplerPtr s = sampler(9), s_other = sampler(10);
  JobPtr job = submit(session.get(), s.get(), prompt, 20);
  JobPtr other_job = submit(other.get(), s_other.get(), prompt, 20);

  HalfDone() {
    // A budget of 1 us runs one slice (or one unit's planning) per frame; a frame
    // that ran a slice and ended no unit stopped inside the step.
    while (state_of(job.get()) != MMB_JOB_GENERATING) frame();
    int frames = 0;
    for (;;) {
      const mmb_frame_stats st = frame();
      if (st.slices >= 1 && st.steps == 0 && tokens_so_far() > 0) break;
      REQUIRE(++frames < 1000);
    }
    REQUIRE(state_of(job.get()) == MMB_JOB_GENERATING);
  }
  mmb_frame_stats frame() {
    mmb_frame_stats st;
    st.struct_size = sizeof st;
    REQUIRE(mmb_runtime_frame(rt.get(), 1, &st) == MMB_OK);
    return st;
  }
  size_t tokens_so_far() {
    size_t n = 0;
    int32_t* none = nullptr;
    mmb_job_read_tokens(job.get(), none, 0, &n);
    return n;
  }
  // The state a blocking session reaches on the prompt and then `emitted`.
  std::vector<uint8_t> reference_state(const std::vector<int32_t>& emitted) {
    SessionPtr ref = make_session(model.get());
    std::vector<int32_t> all = prompt;
    all.insert(all.end(), emitted.begin(), emitted.end());
    REQUIRE(mmb_session_prefill(ref.get(), all.data(), all.size(), nullptr, 0) == MMB_OK);
    return save_state(ref.get());
  }
};

}  // namespace

TEST_CASE("units sliced over frames give the bits of units run whole, for every layer kind", "[jobs][frames]") {
  for (const auto& [c, weights] : every_layer_kind()) {
    INFO(c.name);
    const Outcome whole = run_scene(weights, kOneGo);
    const Outcome big = run_scene(weights, 10'000'000);
    const Outcome tiny = run_scene(weights, 1);
    CHECK(big.tokens == whole.tokens);
    CHECK(big.states == whole.states);
    CHECK(tiny.tokens == whole.tokens);
    CHECK(tiny.states == whole.states);
    // A spent budget stops the frame after its first slice (slices of a model this
    // small may take under a microsecond, so two may fit).
    CHECK(tiny.most_slices <= 2);
    CHECK(2 * tiny.frames > tiny.slices);
    CHECK(big.most_slices > 1);
  }
}

TEST_CASE("a session with a half-done step is busy, a cancel completes the step and ends the job", "[jobs][frames]") {
  HalfDone h;
  std::vector<uint8_t> buf(1 << 16);
  size_t written = 0;
  mmb_session* fork = nullptr;
  // The job is unfinished and its session refuses calls.
  CHECK(mmb_session_state_save(h.session.get(), buf.data(), buf.size(), &written) == MMB_ERR_BUSY);
  CHECK(mmb_session_fork(h.session.get(), &fork) == MMB_ERR_BUSY);
  CHECK(mmb_session_step(h.session.get(), 1, nullptr, 0) == MMB_ERR_BUSY);
  // No thread works on it between frames: the cancel ends it at once.
  REQUIRE(mmb_job_cancel(h.job.get()) == MMB_OK);
  mmb_status result = MMB_OK;
  REQUIRE(state_of(h.job.get(), &result) == MMB_JOB_FINISHED);
  CHECK(result == MMB_ERR_CANCELLED);
  // Every emitted token entered the state, nothing else did.
  const std::vector<int32_t> emitted = tokens_of(h.job.get());
  CHECK(position(h.session.get()) == h.prompt.size() + emitted.size());
  CHECK(save_state(h.session.get()) == h.reference_state(emitted));
  // The other character goes on unharmed, to the tokens it has alone.
  while (state_of(h.other_job.get()) != MMB_JOB_FINISHED) h.frame();
  SessionPtr alone = make_session(h.model.get());
  SamplerPtr s = sampler(10);
  JobPtr j = submit(alone.get(), s.get(), h.prompt, 20);
  REQUIRE(mmb_job_wait(j.get(), 60000, nullptr) == MMB_OK);
  CHECK(tokens_of(h.other_job.get()) == tokens_of(j.get()));
}

TEST_CASE("destroying a job or a session with a half-done step leaves the rest consistent", "[jobs][frames]") {
  SECTION("the job") {
    HalfDone h;
    std::vector<int32_t> emitted = tokens_of(h.job.get());
    h.job.reset();
    // The session is free and whole: what was emitted entered its state.
    CHECK(position(h.session.get()) == h.prompt.size() + emitted.size());
    CHECK(save_state(h.session.get()) == h.reference_state(emitted));
    while (state_of(h.other_job.get()) != MMB_JOB_FINISHED) h.frame();
    CHECK(tokens_of(h.other_job.get()).size() > 0);
  }
  SECTION("the session") {
    HalfDone h;
    h.session.reset();
    mmb_status r = MMB_OK;
    CHECK(state_of(h.job.get(), &r) == MMB_JOB_FINISHED);
    CHECK(r == MMB_ERR_CANCELLED);
    while (state_of(h.other_job.get()) != MMB_JOB_FINISHED) h.frame();
    mmb_status other = MMB_ERR_INTERNAL;
    state_of(h.other_job.get(), &other);
    CHECK(other == MMB_OK);
  }
}

TEST_CASE("prompt chunks sized to small budgets keep their bits", "[jobs][frames]") {
  const ModelCase c = case_named(parity_cases(), "moe-mamba switch");
  const SyntheticModel weights = build_weights(c);
  RuntimePtr rt = make_runtime([](mmb_runtime_options& o) { o.job_mode = MMB_JOBS_FRAME; });
  ModelPtr model = load_model(rt.get(), weights);
  const std::vector<int32_t> prompt = random_tokens(11, 200, 256);
  SessionPtr blocking = make_session(model.get()), jobbed = make_session(model.get());
  REQUIRE(mmb_session_prefill(blocking.get(), prompt.data(), prompt.size(), nullptr, 0) == MMB_OK);
  JobPtr job;
  {
    mmb_job_options o;
    REQUIRE(mmb_job_options_init(&o, sizeof o) == MMB_OK);
    o.max_tokens = 0;
    mmb_job* raw = nullptr;
    REQUIRE(mmb_job_submit_tokens(jobbed.get(), nullptr, prompt.data(), prompt.size(), &o, &raw) == MMB_OK);
    job.reset(raw);
  }
  // Budgets around one layer's cost: the frames choose chunks of any size from 1 to
  // 16 as their measurements go, and the state is the blocking prefill's all the same.
  uint64_t consumed = 0, frames = 0;
  while (state_of(job.get()) != MMB_JOB_FINISHED) {
    mmb_frame_stats st;
    st.struct_size = sizeof st;
    REQUIRE(mmb_runtime_frame(rt.get(), 2 + 7 * (frames++ % 16), &st) == MMB_OK);
    consumed += st.prompt_tokens;
  }
  CHECK(consumed == prompt.size());
  CHECK(save_state(jobbed.get()) == save_state(blocking.get()));
}

TEST_CASE("host job systems of 1 and 2 threads run a unit per task and give the tokens of frames", "[jobs][frames][threads]") {
  const SyntheticModel weights = build_attention_weights(attention_case("jamba-like"));
  const Outcome frames = run_scene(weights, 1, 4, 12);
  for (int threads : {1, 2}) {
    INFO(threads << " host threads");
    HostModel h(threads, weights);
    Characters cast(h.model.get(), 4, 12);
    for (auto& j : cast.jobs) REQUIRE(mmb_job_wait(j.get(), 60000, nullptr) == MMB_OK);
    cast.check_same_as(frames);
    // Each task ran about one unit and handed the thread back for the next.
    std::lock_guard<std::mutex> l(h.host.mutex);
    CHECK(h.host.enqueued > 4);
  }
}

TEST_CASE("frames pace host tasks: 1 and 2 host threads share each frame's budget", "[jobs][frames][threads]") {
  const SyntheticModel weights = build_attention_weights(attention_case("jamba-like"));
  const Outcome frames = run_scene(weights, 1, 4, 12);
  for (int threads : {1, 2}) {
    INFO(threads << " host threads");
    HostModel h(threads, weights);
    const uint32_t vocab = uint32_t(vocab_size(h.model.get()));
    auto frame = [&](uint64_t budget_us) {
      mmb_frame_stats st;
      st.struct_size = sizeof st;
      REQUIRE(mmb_runtime_frame(h.rt.get(), budget_us, &st) == MMB_OK);
      return st;
    };
    // The first frame call paces the tasks from then on (a budget of 1 us: one slice
    // or plan per frame, as in frame mode).
    frame(1);
    Characters cast(h.model.get(), 4, 12);
    uint64_t slices = 0, calls = 0;
    for (;;) {
      h.host.wait_idle();
      const mmb_frame_stats st = frame(1);
      CHECK(st.slices <= 1);
      slices += st.slices;
      if (st.jobs_active == 0) break;
      REQUIRE(++calls < 100000);
    }
    h.host.wait_idle();
    slices += frame(1).slices;
    // The same pieces of work as the frames of a frame-mode runtime, one per frame.
    CHECK(slices == frames.slices);
    cast.check_same_as(frames);
    // Between frames, a paced runtime asks for no task of its own; a wait does the work.
    SessionPtr extra = make_session(h.model.get());
    SamplerPtr extra_sampler = sampler(9);
    JobPtr late = submit(extra.get(), extra_sampler.get(), random_tokens(3, 20, vocab), 30);
    h.host.wait_idle();
    int enqueued = 0;
    {
      std::lock_guard<std::mutex> l(h.host.mutex);
      enqueued = h.host.enqueued;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    {
      std::lock_guard<std::mutex> l(h.host.mutex);
      CHECK(h.host.enqueued == enqueued);
    }
    CHECK(state_of(late.get(), nullptr) != MMB_JOB_FINISHED);
    REQUIRE(mmb_job_wait(late.get(), 60000, nullptr) == MMB_OK);
    mmb_status r = MMB_ERR_INTERNAL;
    CHECK(state_of(late.get(), &r) == MMB_JOB_FINISHED);
    CHECK(r == MMB_OK);
  }
}
