// Cancels between two slices (moemamba.h section 7, mmb_job_cancel): a job cancelled
// in the middle of a prompt chunk finishes with the chunk undone, its session at the
// state of the tokens before that chunk, in frame mode and with the worker; a job
// cancelled in the middle of a batched step finishes when the step ends, and the
// other rows of the step give the tokens they give without the cancel.
#include <catch2/catch.hpp>

#include "support/attention_models.hpp"
#include "support/job_helpers.hpp"
#include "support/model_harness.hpp"

#include <moemamba/moemamba.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <vector>

using namespace mmb;
using namespace mmb::testing;
using namespace mmb::testing::builders;

namespace {

// The session holds exactly the state of a fresh session fed `fed`: the same saved
// state, and the same logits bit for bit on the next token.
void check_holds_exactly(mmb_model* model, mmb_session* session, const std::vector<int32_t>& fed) {
  SessionPtr fresh = make_session(model);
  if (!fed.empty()) REQUIRE(mmb_session_prefill(fresh.get(), fed.data(), fed.size(), nullptr, 0) == MMB_OK);
  CHECK(position(session) == fed.size());
  CHECK(save_state(session) == save_state(fresh.get()));
  CHECK(step(session, 7) == step(fresh.get(), 7));
}

std::vector<int32_t> head(const std::vector<int32_t>& v, size_t n) { return {v.begin(), v.begin() + n}; }

mmb_frame_stats frame(mmb_runtime* rt, uint64_t budget_us) {
  mmb_frame_stats st;
  st.struct_size = sizeof st;
  REQUIRE(mmb_runtime_frame(rt, budget_us, &st) == MMB_OK);
  return st;
}

// A frame-mode runtime whose one job stands in the middle of a prompt chunk, after at
// least one whole chunk: frames of 1 us run one slice (or one plan) each.
struct HalfDoneChunk {
  ModelCase c;
  SyntheticModel weights;
  RuntimePtr rt = make_runtime([](mmb_runtime_options& o) { o.job_mode = MMB_JOBS_FRAME; });
  ModelPtr model;
  std::vector<int32_t> prompt;
  SessionPtr session;
  SamplerPtr s = sampler(3);
  JobPtr job;
  size_t consumed = 0;  // prompt tokens in the state before the half-done chunk

  explicit HalfDoneChunk(ModelCase model_case)
      : c(std::move(model_case)), weights(c.name == "jamba-like" ? build_attention_weights(c) : build_weights(c)) {
    model = load_model(rt.get(), weights);
    prompt = random_tokens(5, 70, uint32_t(vocab_size(model.get())));
    session = make_session(model.get());
    job = submit(session.get(), s.get(), prompt, 8);
    for (int frames = 0;; ++frames) {
      REQUIRE(frames < 10000);
      const mmb_frame_stats st = frame(rt.get(), 1);
      consumed += st.prompt_tokens;
      // A slice ran and ended no unit: the job's chunk (its only work) is half done.
      if (consumed >= 16 && st.slices == 1 && st.steps == 0) break;
    }
    REQUIRE(consumed < prompt.size());
    REQUIRE(state_of(job.get()) == MMB_JOB_PREFILL);
  }
};

ModelCase mamba_case() { return case_named(parity_cases(), "moe-mamba switch"); }

// Allocations through the runtime's hooks. On the test's thread, while `recording`,
// the largest size seen is kept (a fresh session's first token takes one KV page).
// On the worker thread, the KV pages that the first stage of a chunk or step takes
// when it enters a new page are counted, and one of them cancels `target` from
// there: the worker is then inside that chunk or step.
struct CancelOnKvPage {
  std::thread::id test_thread = std::this_thread::get_id();
  std::atomic<bool> recording{false};
  std::atomic<size_t> page_bytes{0};
  std::atomic<int> pages_to_skip{-1};  // -1: disarmed
  std::atomic<mmb_job*> target{nullptr};
  std::atomic<int> cancels{0};
  // Instead of cancelling: tell the test's thread (`entered`), and hold the worker in
  // the chunk until that thread is about to destroy the job (`destroying`).
  bool hold_instead = false;
  std::atomic<bool> entered{false}, destroying{false};

  static void* alloc(void* user, size_t size, size_t alignment) {
    auto* self = static_cast<CancelOnKvPage*>(user);
    const bool worker = std::this_thread::get_id() != self->test_thread;
    if (!worker && self->recording.load() && size > self->page_bytes.load()) self->page_bytes.store(size);
    if (worker && size == self->page_bytes.load() && self->pages_to_skip.load() >= 0 &&
        self->pages_to_skip.fetch_sub(1) == 0) {
      if (self->hold_instead) {
        self->entered = true;
        while (!self->destroying.load()) std::this_thread::yield();
        // Time for the destroy to ask for the advance lock (the test holds either way).
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      } else {
        // The test's thread sets the target right after submitting.
        while (!self->target.load()) std::this_thread::yield();
        if (mmb_job_cancel(self->target.load()) == MMB_OK) ++self->cancels;
      }
    }
    return std::aligned_alloc(alignment, (size + alignment - 1) / alignment * alignment);
  }
  static void free(void*, void* ptr, size_t) { std::free(ptr); }
};

// An attention model on a worker runtime whose memory comes through `hooks`.
struct WorkerWithKvHooks {
  CancelOnKvPage hooks;
  ModelCase c = attention_case("jamba-like");
  SyntheticModel weights = build_attention_weights(c);
  RuntimePtr rt = make_runtime([this](mmb_runtime_options& o) {
    o.job_mode = MMB_JOBS_WORKER;
    o.alloc_fn = &CancelOnKvPage::alloc;
    o.free_fn = &CancelOnKvPage::free;
    o.alloc_user_data = &hooks;
  });
  ModelPtr model = load_model(rt.get(), weights);

  WorkerWithKvHooks() {
    SessionPtr probe = make_session(model.get());
    const int32_t token = 1;
    hooks.recording = true;
    REQUIRE(mmb_session_prefill(probe.get(), &token, 1, nullptr, 0) == MMB_OK);
    hooks.recording = false;
    REQUIRE(hooks.page_bytes.load() > 0);
  }
};

// The tokens a job generates on a fresh session of its own, without cancels.
std::vector<int32_t> alone(const SyntheticModel& weights, const std::vector<int32_t>& prompt, uint64_t seed,
                           int32_t max_tokens) {
  RuntimePtr rt = make_runtime([](mmb_runtime_options& o) { o.job_mode = MMB_JOBS_WORKER; });
  ModelPtr model = load_model(rt.get(), weights);
  SessionPtr session = make_session(model.get());
  SamplerPtr s = sampler(seed);
  JobPtr job = submit(session.get(), s.get(), prompt, max_tokens);
  REQUIRE(mmb_job_wait(job.get(), 60000, nullptr) == MMB_OK);
  return tokens_of(job.get());
}

}  // namespace

TEST_CASE("a cancel in the middle of a prompt chunk undoes the chunk, in frame mode", "[jobs][frames]") {
  for (const ModelCase& c : {mamba_case(), attention_case("jamba-like")}) {
    INFO(c.name);
    HalfDoneChunk h(c);
    // No thread works on the job between frames: the cancel ends it at once.
    REQUIRE(mmb_job_cancel(h.job.get()) == MMB_OK);
    mmb_status result = MMB_OK;
    REQUIRE(state_of(h.job.get(), &result) == MMB_JOB_FINISHED);
    CHECK(result == MMB_ERR_CANCELLED);
    CHECK(tokens_of(h.job.get()).empty());
    check_holds_exactly(h.model.get(), h.session.get(), head(h.prompt, h.consumed));
    // The session takes new work as usual.
    SamplerPtr s2 = sampler(4);
    JobPtr again = submit(h.session.get(), s2.get(), {1, 2, 3}, 2);
    REQUIRE(mmb_job_wait(again.get(), 60000, nullptr) == MMB_OK);
    CHECK(state_of(again.get()) == MMB_JOB_FINISHED);
  }
}

TEST_CASE("destroying a job or a session in the middle of a prompt chunk leaves the rest consistent", "[jobs][frames]") {
  SECTION("the job: its session holds the chunks before") {
    HalfDoneChunk h(attention_case("jamba-like"));
    h.job.reset();
    check_holds_exactly(h.model.get(), h.session.get(), head(h.prompt, h.consumed));
  }
  SECTION("the session: the job ends cancelled") {
    HalfDoneChunk h(mamba_case());
    h.session.reset();
    mmb_status r = MMB_OK;
    CHECK(state_of(h.job.get(), &r) == MMB_JOB_FINISHED);
    CHECK(r == MMB_ERR_CANCELLED);
    // Nothing is left for frames to do.
    CHECK(frame(h.rt.get(), 1000).jobs_active == 0);
  }
}

TEST_CASE("a cancel in the middle of a prompt chunk undoes the chunk, with the worker", "[jobs][threads]") {
  WorkerWithKvHooks w;
  const std::vector<int32_t> prompt = random_tokens(8, 150, uint32_t(vocab_size(w.model.get())));
  SessionPtr session = make_session(w.model.get());
  SamplerPtr s = sampler(5);
  // Chunks of 16 tokens and pages of 64: the second page is taken by the first stage
  // of the chunk [64, 80), which the cancel interrupts.
  w.hooks.pages_to_skip = 1;
  JobPtr job = submit(session.get(), s.get(), prompt, 4);
  w.hooks.target = job.get();
  REQUIRE(mmb_job_wait(job.get(), 60000, nullptr) == MMB_OK);
  REQUIRE(w.hooks.cancels.load() == 1);
  mmb_status result = MMB_OK;
  REQUIRE(state_of(job.get(), &result) == MMB_JOB_FINISHED);
  CHECK(result == MMB_ERR_CANCELLED);
  check_holds_exactly(w.model.get(), session.get(), head(prompt, 64));
}

TEST_CASE("destroying a job in the middle of a prompt chunk, with the worker, leaves whole chunks", "[jobs][threads]") {
  WorkerWithKvHooks w;
  const std::vector<int32_t> prompt = random_tokens(8, 150, uint32_t(vocab_size(w.model.get())));
  SessionPtr session = make_session(w.model.get());
  SamplerPtr s = sampler(5);
  w.hooks.hold_instead = true;
  w.hooks.pages_to_skip = 1;
  JobPtr job = submit(session.get(), s.get(), prompt, 4);
  while (!w.hooks.entered.load()) std::this_thread::yield();
  w.hooks.destroying = true;
  job.reset();
  // The worker let the destroy in between two slices: the chunk [64, 80) undone (or,
  // had the destroy come later, a later chunk), and the session holds whole chunks.
  const uint64_t pos = position(session.get());
  CHECK(pos >= 64);
  CHECK(pos % 16 == 0);
  check_holds_exactly(w.model.get(), session.get(), head(prompt, pos));
}

TEST_CASE("a cancel in the middle of a batched step ends the job with the step; the other rows are unchanged",
          "[jobs][threads]") {
  WorkerWithKvHooks w;
  const uint32_t vocab = uint32_t(vocab_size(w.model.get()));
  const std::vector<int32_t> prompt_a = random_tokens(9, 10, vocab), prompt_b = random_tokens(10, 10, vocab);
  constexpr int32_t kTokens = 80;
  SessionPtr a = make_session(w.model.get()), b = make_session(w.model.get());
  SamplerPtr sa = sampler(21), sb = sampler(22);
  // Both prompts take a first page; the step from position 64 takes the second pages,
  // and the first of them cancels job a inside that step.
  w.hooks.pages_to_skip = 2;
  JobPtr job_a = submit(a.get(), sa.get(), prompt_a, kTokens);
  w.hooks.target = job_a.get();
  JobPtr job_b = submit(b.get(), sb.get(), prompt_b, kTokens);
  REQUIRE(mmb_job_wait(job_a.get(), 60000, nullptr) == MMB_OK);
  REQUIRE(mmb_job_wait(job_b.get(), 60000, nullptr) == MMB_OK);
  REQUIRE(w.hooks.cancels.load() == 1);
  mmb_status ra = MMB_OK, rb = MMB_ERR_INTERNAL;
  REQUIRE(state_of(job_a.get(), &ra) == MMB_JOB_FINISHED);
  CHECK(ra == MMB_ERR_CANCELLED);
  REQUIRE(state_of(job_b.get(), &rb) == MMB_JOB_FINISHED);
  CHECK(rb == MMB_OK);
  // Job a's token of that step was emitted, and entered the state with the step.
  std::vector<int32_t> emitted = tokens_of(job_a.get());
  CHECK(emitted.size() == 64 - prompt_a.size() + 1);
  CHECK(emitted == head(alone(w.weights, prompt_a, 21, kTokens), emitted.size()));
  std::vector<int32_t> fed = prompt_a;
  fed.insert(fed.end(), emitted.begin(), emitted.end());
  check_holds_exactly(w.model.get(), a.get(), fed);
  // Job b generated what it generates alone.
  CHECK(tokens_of(job_b.get()) == alone(w.weights, prompt_b, 22, kTokens));
}
