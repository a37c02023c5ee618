// Many host threads on one runtime at once: loads of the same bundle through file,
// memory and host I/O (tensors decompressed on the shared thread pool), sessions that
// outlive their model, and batched steps on disjoint session groups of one model. Each
// thread's results must equal the same work done on one thread. Run under TSan by the
// tsan preset (tag [threads]); no Catch assertions off the main thread.
#include <catch2/catch.hpp>

#include "support/bundle_fixtures.hpp"
#include "support/model_harness.hpp"

#include <moemamba/moemamba.h>

#include <atomic>
#include <thread>

using namespace mmb;
using namespace mmb::testing;

namespace {

constexpr int kThreads = 6;
constexpr size_t kSteps = 6;

// A model of every layer kind, stored with zstd so loading decompresses in parallel.
std::vector<std::byte> compressed_bundle() {
  SyntheticModel model = test::tiny_model(DType::F16, 5);
  WriterOptions options;
  options.codec = Codec::ShuffleZstd;
  return write_bundle_to_memory(model.contents, options);
}

// Loads `bundle` the way number `how` says (0 file, 1 borrowed memory, 2 copied memory,
// 3 host I/O in short reads); nullptr on failure.
mmb_model* load(mmb_runtime* rt, int how, const std::string& path, const std::vector<std::byte>& bundle) {
  mmb_load_options options;
  if (mmb_load_options_init(&options, sizeof options) != MMB_OK) return nullptr;
  mmb_model* model = nullptr;
  mmb_status s = MMB_ERR_INTERNAL;
  if (how == 0) {
    s = mmb_model_load_file(rt, path.c_str(), &options, &model);
  } else if (how == 3) {
    test::MemoryIo io{std::span(bundle)};
    io.max_chunk = 4096;
    const mmb_io callbacks = io.io();
    s = mmb_model_load_io(rt, &callbacks, &options, &model);
  } else {
    options.flags = how == 2 ? MMB_LOAD_COPY_MEMORY : 0;
    s = mmb_model_load_memory(rt, bundle.data(), bundle.size(), &options, &model);
  }
  return s == MMB_OK ? model : nullptr;
}

// The logits of `tokens` stepped in a fresh session, then the saved state;
// the model is destroyed after the session is made (the session keeps it alive).
struct Run {
  std::vector<std::vector<float>> logits;
  std::vector<uint8_t> state;
  bool ok = false;
};

Run run_session(mmb_model* model, const std::vector<int32_t>& tokens) {
  Run run;
  mmb_session* session = nullptr;
  const bool created = mmb_session_create(model, nullptr, &session) == MMB_OK;
  mmb_model_destroy(model);
  if (!created) return run;
  mmb_model_info info{};
  info.struct_size = sizeof info;  // not model_info(): it asserts, and this runs off the main thread
  bool ok = mmb_model_get_info(mmb_session_get_model(session), &info) == MMB_OK;
  const int32_t vocab = info.vocab_size;
  for (int32_t t : tokens) {
    std::vector<float> logits(static_cast<size_t>(vocab));
    ok = ok && mmb_session_step(session, t, logits.data(), logits.size()) == MMB_OK;
    run.logits.push_back(std::move(logits));
  }
  size_t size = 0;
  ok = ok && mmb_session_state_size(session, &size) == MMB_OK;
  run.state.resize(size);
  ok = ok && mmb_session_state_save(session, run.state.data(), size, &size) == MMB_OK;
  mmb_session_destroy(session);
  run.ok = ok;
  return run;
}

// Equal up to float rounding: a loop may be split over the pool differently when
// another thread holds it.
bool close(const Run& a, const Run& b) {
  if (!a.ok || !b.ok || a.state.size() != b.state.size() || a.logits.size() != b.logits.size()) return false;
  for (size_t i = 0; i < a.logits.size(); ++i)
    if (max_abs_diff(a.logits[i], b.logits[i]) > logit_tolerance(widen(b.logits[i]))) return false;
  return true;
}

}  // namespace

TEST_CASE("threads loading one bundle at once through every source get the same model", "[threads]") {
  const std::vector<std::byte> bundle = compressed_bundle();
  test::TempDir dir;
  const std::string path = dir.path("model.mmb");
  test::write_file(path, bundle);
  RuntimePtr rt = make_runtime(3);

  std::vector<std::vector<int32_t>> tokens;
  std::vector<Run> expected;
  for (int th = 0; th < kThreads; ++th) {
    tokens.push_back(random_tokens(300 + th, kSteps, 256));
    mmb_model* model = load(rt.get(), 2, path, bundle);
    REQUIRE(model != nullptr);
    expected.push_back(run_session(model, tokens.back()));
    REQUIRE(expected.back().ok);
  }

  std::vector<Run> got(kThreads);
  std::atomic<int> failed_loads{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int th = 0; th < kThreads; ++th) {
    threads.emplace_back([&, th] {
      while (!go.load()) std::this_thread::yield();  // start together
      mmb_model* model = load(rt.get(), th % 4, path, bundle);
      if (!model) {
        ++failed_loads;
        return;
      }
      got[size_t(th)] = run_session(model, tokens[size_t(th)]);
    });
  }
  go = true;
  for (std::thread& t : threads) t.join();
  REQUIRE(failed_loads == 0);
  for (int th = 0; th < kThreads; ++th) {
    INFO("thread " << th << ", source " << th % 4);
    CHECK(close(got[size_t(th)], expected[size_t(th)]));
  }
}

TEST_CASE("batched steps of disjoint session groups run concurrently on one model", "[threads]") {
  const std::vector<std::byte> bundle = compressed_bundle();
  RuntimePtr rt = make_runtime(2);
  mmb_load_options options;
  REQUIRE(mmb_load_options_init(&options, sizeof options) == MMB_OK);
  options.flags = MMB_LOAD_COPY_MEMORY;
  mmb_model* raw = nullptr;
  REQUIRE(mmb_model_load_memory(rt.get(), bundle.data(), bundle.size(), &options, &raw) == MMB_OK);
  ModelPtr model(raw);
  const int32_t vocab = vocab_size(model.get());
  constexpr size_t kGroup = 3;

  // Thread th steps its group of kGroup sessions kSteps times with mmb_step_batch; the
  // same tokens stepped one session at a time on this thread give the expected rows.
  auto tokens_of = [&](int th, size_t step) { return random_tokens(700 + uint64_t(th) * 31 + step, kGroup, uint32_t(vocab)); };
  std::vector<std::vector<float>> expected(kThreads);
  for (int th = 0; th < kThreads; ++th) {
    std::vector<SessionPtr> group;
    for (size_t i = 0; i < kGroup; ++i) group.push_back(make_session(model.get()));
    for (size_t s = 0; s < kSteps; ++s) {
      const std::vector<int32_t> t = tokens_of(th, s);
      for (size_t i = 0; i < kGroup; ++i) {
        const std::vector<float> row = step(group[i].get(), t[i]);
        if (s + 1 == kSteps) expected[size_t(th)].insert(expected[size_t(th)].end(), row.begin(), row.end());
      }
    }
  }

  std::vector<std::vector<float>> got(kThreads);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int th = 0; th < kThreads; ++th) {
    threads.emplace_back([&, th] {
      mmb_session* group[kGroup] = {};
      for (mmb_session*& s : group)
        if (mmb_session_create(model.get(), nullptr, &s) != MMB_OK) ++failures;
      std::vector<float>& out = got[size_t(th)];
      out.assign(kGroup * size_t(vocab), 0.0f);
      for (size_t s = 0; s < kSteps && failures == 0; ++s) {
        const std::vector<int32_t> t = tokens_of(th, s);
        if (mmb_step_batch(group, t.data(), kGroup, out.data(), size_t(vocab)) != MMB_OK) ++failures;
      }
      for (mmb_session* s : group) mmb_session_destroy(s);
    });
  }
  for (std::thread& t : threads) t.join();
  REQUIRE(failures == 0);
  for (int th = 0; th < kThreads; ++th) {
    INFO("thread " << th);
    CHECK(max_abs_diff(got[size_t(th)], expected[size_t(th)]) <= logit_tolerance(widen(expected[size_t(th)])));
  }
}
