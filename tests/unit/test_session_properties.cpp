// Properties of sessions through the public C API: prefill equals stepping, saved
// state and forks continue exactly, batches equal single steps, threads do not
// interfere, state has a fixed size, the hot path does not allocate; and misuse of
// every entry point gives a clear status and leaves the session untouched.
#include <catch2/catch.hpp>

#include "reference/reference_model.hpp"
#include "support/model_harness.hpp"

#include "base/aligned_memory.hpp"

#include <moemamba/moemamba.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <thread>

using namespace mmb;
using namespace mmb::testing;
using mmb::reference::ReferenceModel;

namespace {

// The property tests run on the mixed plan (Mamba, MoE with every option, MLP), which
// exercises every layer kind in one model.
ModelCase property_case() {
  for (const ModelCase& c : parity_cases())
    if (c.name == "mixed plan") return c;
  FAIL("no mixed plan case");
  return {};
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

void check_close_to_reference(const std::vector<float>& got, const std::vector<double>& expected) {
  const double diff = max_abs_diff(got, expected);
  INFO("max |lib - ref| = " << diff << ", tolerance " << logit_tolerance(expected));
  CHECK(diff <= logit_tolerance(expected));
}

std::vector<double> reference_after(ReferenceModel& ref, const std::vector<int32_t>& tokens) {
  std::vector<double> logits;
  for (int32_t t : tokens) logits = ref.step(t);
  return logits;
}

// A loaded property model with its reference weights, shared by many tests.
struct Fixture {
  ModelCase c = property_case();
  SyntheticModel weights = build_weights(c);
  RuntimePtr rt = make_runtime();
  ModelPtr model = load_model(rt.get(), weights);
  uint32_t vocab = c.config.vocab_size;

  ReferenceModel reference() const { return build_reference(weights); }
  SessionPtr session() const { return make_session(model.get()); }
};

// Sessions that were fed the same tokens must have the same saved state.
void check_same_state(const mmb_session* a, const mmb_session* b) {
  CHECK(position(a) == position(b));
  CHECK(save_state(a) == save_state(b));
}

}  // namespace

// ---------------------------------------------------------------------------------
// Equivalences.

TEST_CASE("prefill of n tokens equals n steps, in logits and in the state it leaves", "[session][threads]") {
  Fixture f;
  for (size_t n : {size_t(1), size_t(5), size_t(33), size_t(130), size_t(300)}) {
    INFO("prefill of " << n << " tokens");
    const std::vector<int32_t> tokens = random_tokens(n, n + 8, f.vocab);
    const std::vector<int32_t> prompt(tokens.begin(), tokens.begin() + n);
    ReferenceModel ref = f.reference();
    const std::vector<double> expected = reference_after(ref, prompt);

    SessionPtr prefilled = f.session();
    std::vector<float> logits(f.vocab);
    REQUIRE(mmb_session_prefill(prefilled.get(), prompt.data(), n, logits.data(), logits.size()) == MMB_OK);
    CHECK(position(prefilled.get()) == n);
    check_close_to_reference(logits, expected);

    SessionPtr stepped = f.session();
    std::vector<float> stepped_logits;
    for (int32_t t : prompt) stepped_logits = step(stepped.get(), t);
    // Prefill may sum in another order than stepping, so compare within the tolerance.
    CHECK(max_abs_diff(logits, stepped_logits) <= logit_tolerance(expected));

    // The state prefill leaves behaves like the stepped one: both continue like the
    // reference, and so does a session that loads the prefilled state.
    SessionPtr loaded = f.session();
    const std::vector<uint8_t> blob = save_state(prefilled.get());
    CHECK(blob.size() == save_state(stepped.get()).size());
    REQUIRE(mmb_session_state_load(loaded.get(), blob.data(), blob.size()) == MMB_OK);
    for (size_t i = n; i < tokens.size(); ++i) {
      const std::vector<double> next = ref.step(tokens[i]);
      check_close_to_reference(step(prefilled.get(), tokens[i]), next);
      check_close_to_reference(step(stepped.get(), tokens[i]), next);
      check_close_to_reference(step(loaded.get(), tokens[i]), next);
    }
    CHECK(ref.min_selection_margin() > kMinSelectionMargin);
  }
}

TEST_CASE("prefill without logits, and of zero tokens, changes nothing it should not", "[session]") {
  Fixture f;
  const std::vector<int32_t> tokens = random_tokens(11, 20, f.vocab);
  SessionPtr a = f.session(), b = f.session();
  REQUIRE(mmb_session_prefill(a.get(), tokens.data(), tokens.size(), nullptr, 0) == MMB_OK);
  REQUIRE(mmb_session_prefill(b.get(), tokens.data(), tokens.size(), nullptr, 0) == MMB_OK);
  REQUIRE(mmb_session_prefill(a.get(), tokens.data(), 0, nullptr, 0) == MMB_OK);
  check_same_state(a.get(), b.get());
  ReferenceModel ref = f.reference();
  reference_after(ref, tokens);
  check_close_to_reference(step(a.get(), 7), ref.step(7));
}

TEST_CASE("state saved mid-stream and loaded elsewhere continues exactly like the original", "[session]") {
  Fixture f;
  const std::vector<int32_t> tokens = random_tokens(21, 24, f.vocab);
  SessionPtr original = f.session();
  for (size_t i = 0; i < 10; ++i) step(original.get(), tokens[i]);
  const std::vector<uint8_t> blob = save_state(original.get());

  SessionPtr fresh = f.session();
  SessionPtr busy = f.session();  // already has a state of its own
  for (int32_t t : random_tokens(22, 5, f.vocab)) step(busy.get(), t);
  // A second load of the same bundle: a host that reloads its model keeps its saves.
  ModelPtr reloaded = load_model(f.rt.get(), f.weights);
  SessionPtr other_copy = make_session(reloaded.get());

  for (mmb_session* s : {fresh.get(), busy.get(), other_copy.get()}) {
    REQUIRE(mmb_session_state_load(s, blob.data(), blob.size()) == MMB_OK);
    CHECK(position(s) == 10);
  }
  ReferenceModel ref = f.reference();
  reference_after(ref, std::vector<int32_t>(tokens.begin(), tokens.begin() + 10));
  for (size_t i = 10; i < tokens.size(); ++i) {
    // Identical state and identical arithmetic: identical bits (what a replay needs).
    const std::vector<float> expected = step(original.get(), tokens[i]);
    CHECK(same_bits(step(fresh.get(), tokens[i]), expected));
    CHECK(same_bits(step(busy.get(), tokens[i]), expected));
    CHECK(same_bits(step(other_copy.get(), tokens[i]), expected));
    check_close_to_reference(expected, ref.step(tokens[i]));
  }
}

TEST_CASE("a fork is independent: both sides match their own uninterrupted runs", "[session]") {
  Fixture f;
  const std::vector<int32_t> prefix = random_tokens(31, 6, f.vocab);
  const std::vector<int32_t> x = random_tokens(32, 10, f.vocab);
  const std::vector<int32_t> y = random_tokens(33, 10, f.vocab);

  SessionPtr a = f.session();
  for (int32_t t : prefix) step(a.get(), t);
  mmb_session* forked = nullptr;
  REQUIRE(mmb_session_fork(a.get(), &forked) == MMB_OK);
  SessionPtr b(forked);
  CHECK(position(b.get()) == prefix.size());
  CHECK(mmb_session_get_model(b.get()) == f.model.get());

  SessionPtr run_x = f.session(), run_y = f.session();
  for (int32_t t : prefix) {
    step(run_x.get(), t);
    step(run_y.get(), t);
  }
  // Interleave the two sides so that any shared buffer would show.
  for (size_t i = 0; i < x.size(); ++i) {
    const std::vector<float> ax = step(a.get(), x[i]);
    const std::vector<float> by = step(b.get(), y[i]);
    CHECK(same_bits(ax, step(run_x.get(), x[i])));
    CHECK(same_bits(by, step(run_y.get(), y[i])));
  }
  // The fork outlives its original.
  a.reset();
  ReferenceModel ref = f.reference();
  reference_after(ref, prefix);
  reference_after(ref, y);
  check_close_to_reference(step(b.get(), 3), ref.step(3));
}

TEST_CASE("reset returns a session to the empty state", "[session]") {
  Fixture f;
  SessionPtr a = f.session(), fresh = f.session();
  for (int32_t t : random_tokens(41, 9, f.vocab)) step(a.get(), t);
  REQUIRE(mmb_session_reset(a.get()) == MMB_OK);
  CHECK(position(a.get()) == 0);
  check_same_state(a.get(), fresh.get());
  CHECK(same_bits(step(a.get(), 5), step(fresh.get(), 5)));
}

TEST_CASE("a batch step equals single steps for sessions at mixed positions", "[session][threads]") {
  Fixture f;
  constexpr size_t n = 4;
  const size_t advance[n] = {0, 3, 7, 12};
  auto [batch, single, refs, handles] = sessions_at_mixed_positions(f.model.get(), f.weights, advance);

  // Rows are further apart than the vocabulary: the gap must stay untouched.
  const size_t stride = f.vocab + 3;
  const float sentinel = -12345.0f;
  for (int round = 0; round < 6; ++round) {
    INFO("round " << round);
    const std::vector<int32_t> tokens = random_tokens(60 + round, n, f.vocab);
    if (round == 2) {  // no logits at all
      REQUIRE(mmb_step_batch(handles.data(), tokens.data(), n, nullptr, 0) == MMB_OK);
      for (size_t i = 0; i < n; ++i) {
        step(single[i].get(), tokens[i]);
        refs[i].step(tokens[i]);
      }
      continue;
    }
    std::vector<float> out(n * stride, sentinel);
    const mmb_status s = mmb_step_batch(handles.data(), tokens.data(), n, out.data(), stride);
    INFO(mmb_last_error());
    REQUIRE(s == MMB_OK);
    for (size_t i = 0; i < n; ++i) {
      const std::vector<float> row(out.begin() + i * stride, out.begin() + i * stride + f.vocab);
      const std::vector<double> expected = refs[i].step(tokens[i]);
      CHECK(max_abs_diff(row, step(single[i].get(), tokens[i])) <= logit_tolerance(expected));
      check_close_to_reference(row, expected);
      for (size_t k = f.vocab; k < stride; ++k) CHECK(out[i * stride + k] == sentinel);
    }
  }
  for (size_t i = 0; i < n; ++i) CHECK(position(batch[i].get()) == advance[i] + 6);

  // A batch of one is a step.
  SessionPtr lone = f.session(), twin = f.session();
  mmb_session* one = lone.get();
  std::vector<float> row(f.vocab);
  const int32_t token = 9;
  REQUIRE(mmb_step_batch(&one, &token, 1, row.data(), f.vocab) == MMB_OK);
  ReferenceModel ref = f.reference();
  const std::vector<double> expected = ref.step(token);
  CHECK(max_abs_diff(row, step(twin.get(), token)) <= logit_tolerance(expected));
}

TEST_CASE("greedy generation is reproducible and follows the reference's argmax", "[session]") {
  // A byte-vocabulary model, so every generated id has text.
  const ModelCase c = parity_cases()[0];
  REQUIRE(c.config.vocab_size == 256);
  const SyntheticModel weights = build_weights(c);
  RuntimePtr rt = make_runtime();
  ModelPtr model = load_model(rt.get(), weights);

  mmb_sampler_params params;
  REQUIRE(mmb_sampler_params_init(&params, sizeof params) == MMB_OK);
  params.temperature = 0.0f;
  mmb_generate_options options;
  REQUIRE(mmb_generate_options_init(&options, sizeof options) == MMB_OK);
  options.max_tokens = 24;
  options.stop_at_eos = 0;
  options.tokenize_flags = 0;
  const std::string prompt = "Streaming MoE-Mamba, one token at a time.";

  auto generate = [&] {
    SessionPtr session = make_session(model.get());
    mmb_sampler* sampler = nullptr;
    REQUIRE(mmb_sampler_create(&params, &sampler) == MMB_OK);
    SamplerPtr owned(sampler);
    std::vector<int32_t> tokens;
    auto cb = [](void* user, int32_t token, const char*, size_t) -> int32_t {
      if (token >= 0) static_cast<std::vector<int32_t>*>(user)->push_back(token);
      return 1;
    };
    const mmb_status s = mmb_generate(session.get(), sampler, prompt.data(), prompt.size(), &options, cb, &tokens);
    INFO(mmb_last_error());
    REQUIRE(s == MMB_OK);
    return tokens;
  };
  const std::vector<int32_t> first = generate();
  CHECK(first.size() == 24);
  CHECK(generate() == first);

  // The reference follows the library's tokens; wherever its best logit leads
  // clearly (a near-tie may go either way within tolerance), the choices agree.
  ReferenceModel ref = build_reference(weights);
  std::vector<double> logits;
  for (unsigned char ch : prompt) logits = ref.step(ch);
  size_t compared = 0;
  for (int32_t token : first) {
    size_t best = 0;
    for (size_t v = 1; v < logits.size(); ++v)
      if (logits[v] > logits[best]) best = v;
    double second = -INFINITY;
    for (size_t v = 0; v < logits.size(); ++v)
      if (v != best) second = std::max(second, logits[v]);
    if (logits[best] - second >= 10 * logit_tolerance(logits)) {
      CHECK(token == int32_t(best));
      ++compared;
    }
    logits = ref.step(token);
  }
  CHECK(compared >= 12);
}

TEST_CASE("8 threads x 4 sessions on one model match single-threaded results", "[session][threads]") {
  Fixture f;
  constexpr int n_threads = 8, per_thread = 4, n_steps = 12;
  auto tokens_of = [&](int session) { return random_tokens(1000 + session, n_steps, f.vocab); };

  // Single-threaded first: every session's logits at every step.
  std::vector<std::vector<std::vector<float>>> expected(n_threads * per_thread);
  for (int s = 0; s < n_threads * per_thread; ++s) {
    SessionPtr session = f.session();
    for (int32_t t : tokens_of(s)) expected[s].push_back(step(session.get(), t));
  }

  std::vector<std::vector<std::vector<float>>> got(n_threads * per_thread);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int th = 0; th < n_threads; ++th) {
    threads.emplace_back([&, th] {
      // No Catch assertions off the main thread: count failures instead.
      mmb_session* sessions[per_thread] = {};
      for (int j = 0; j < per_thread; ++j)
        if (mmb_session_create(f.model.get(), nullptr, &sessions[j]) != MMB_OK) ++failures;
      std::vector<float> logits(f.vocab);
      for (int i = 0; i < n_steps; ++i) {
        for (int j = 0; j < per_thread; ++j) {  // interleaved: each session one step at a time
          const int s = th * per_thread + j;
          if (mmb_session_step(sessions[j], tokens_of(s)[i], logits.data(), logits.size()) != MMB_OK) ++failures;
          got[s].push_back(logits);
        }
      }
      for (mmb_session* s : sessions) mmb_session_destroy(s);
    });
  }
  for (auto& t : threads) t.join();
  REQUIRE(failures == 0);
  for (int s = 0; s < n_threads * per_thread; ++s) {
    for (int i = 0; i < n_steps; ++i) {
      INFO("session " << s << " step " << i);
      CHECK(max_abs_diff(got[s][i], expected[s][i]) <= logit_tolerance(widen(expected[s][i])));
    }
  }
}

// ---------------------------------------------------------------------------------
// Fixed-size state and no allocation when stepping.

TEST_CASE("state size follows the formula and does not grow with the sequence", "[session]") {
  RuntimePtr rt = make_runtime();
  int64_t header = -1;
  for (const ModelCase& c : parity_cases()) {
    INFO(c.name);
    const SyntheticModel weights = build_weights(c);
    ModelPtr model = load_model(rt.get(), weights);
    const mmb_model_info info = model_info(model.get());
    CHECK(info.state_bytes == 4 * state_floats(c.config));

    SessionPtr session = make_session(model.get());
    size_t size0 = 0;
    REQUIRE(mmb_session_state_size(session.get(), &size0) == MMB_OK);
    // header + 4 * sum over Mamba layers d_inner * (d_state + d_conv - 1), the header
    // the same for every model.
    const int64_t this_header = int64_t(size0) - int64_t(4 * state_floats(c.config));
    CHECK(this_header > 0);
    CHECK(this_header <= 4096);
    if (header < 0) header = this_header;
    CHECK(this_header == header);
    for (int32_t t : random_tokens(7, 40, c.config.vocab_size))
      REQUIRE(mmb_session_step(session.get(), t, nullptr, 0) == MMB_OK);
    size_t size40 = 0;
    REQUIRE(mmb_session_state_size(session.get(), &size40) == MMB_OK);
    CHECK(size40 == size0);
    CHECK(save_state(session.get()).size() == size0);
  }
}

TEST_CASE("a model without Mamba layers is stateless", "[session]") {
  ModelCase c;
  for (const ModelCase& k : parity_cases())
    if (k.name == "feed-forward only") c = k;
  REQUIRE(state_floats(c.config) == 0);
  const SyntheticModel weights = build_weights(c);
  RuntimePtr rt = make_runtime();
  ModelPtr model = load_model(rt.get(), weights);
  SessionPtr a = make_session(model.get()), b = make_session(model.get());
  for (int32_t t : random_tokens(3, 10, c.config.vocab_size)) step(a.get(), t);
  CHECK(same_bits(step(a.get(), 42), step(b.get(), 42)));
}

namespace {

struct AllocationCounter {
  std::atomic<int64_t> allocations{0};
  std::atomic<int64_t> frees{0};
  std::atomic<int64_t> live_bytes{0};
};

void* counting_alloc(void* user, size_t size, size_t alignment) {
  auto* c = static_cast<AllocationCounter*>(user);
  ++c->allocations;
  c->live_bytes += int64_t(size);
  const size_t rounded = (size + alignment - 1) / alignment * alignment;
  return mmb::aligned_memory_allocate(alignment, rounded == 0 ? alignment : rounded);
}

void counting_free(void* user, void* ptr, size_t size) {
  auto* c = static_cast<AllocationCounter*>(user);
  ++c->frees;
  c->live_bytes -= int64_t(size);
  mmb::aligned_memory_free(ptr);
}

}  // namespace

TEST_CASE("step, prefill and batch make no allocation after warm-up", "[session]") {
  AllocationCounter counter;
  {
    RuntimePtr rt = make_runtime([&](mmb_runtime_options& o) {
      o.alloc_fn = counting_alloc;
      o.free_fn = counting_free;
      o.alloc_user_data = &counter;
    });
    const ModelCase c = property_case();
    const SyntheticModel weights = build_weights(c);
    ModelPtr model = load_model(rt.get(), weights);
    CHECK(counter.allocations > 0);  // the hooks are used at all

    constexpr size_t n = 4;
    std::vector<SessionPtr> sessions;
    std::vector<mmb_session*> handles;
    for (size_t i = 0; i < n; ++i) {
      sessions.push_back(make_session(model.get()));
      handles.push_back(sessions.back().get());
    }
    const std::vector<int32_t> tokens = random_tokens(5, 300, c.config.vocab_size);
    std::vector<float> logits(n * c.config.vocab_size);

    // Warm-up: one call of each kind.
    REQUIRE(mmb_session_step(handles[0], 1, logits.data(), logits.size()) == MMB_OK);
    REQUIRE(mmb_session_prefill(handles[1], tokens.data(), 40, logits.data(), logits.size()) == MMB_OK);
    REQUIRE(mmb_step_batch(handles.data(), tokens.data(), n, logits.data(), c.config.vocab_size) == MMB_OK);

    const int64_t before = counter.allocations;
    for (size_t i = 0; i < 10; ++i) {
      REQUIRE(mmb_session_step(handles[i % n], tokens[i], logits.data(), logits.size()) == MMB_OK);
      REQUIRE(mmb_session_step(handles[i % n], tokens[i], nullptr, 0) == MMB_OK);
    }
    for (size_t len : {size_t(1), size_t(3), size_t(40), size_t(300)})
      REQUIRE(mmb_session_prefill(handles[2], tokens.data(), len, logits.data(), logits.size()) == MMB_OK);
    for (size_t round = 0; round < 5; ++round) {
      REQUIRE(mmb_step_batch(handles.data(), tokens.data() + round, n, logits.data(), c.config.vocab_size) == MMB_OK);
      REQUIRE(mmb_step_batch(handles.data(), tokens.data() + round, 2, nullptr, 0) == MMB_OK);
    }
    CHECK(counter.allocations - before == 0);
  }
  // Everything allocated through the hooks came back through them.
  CHECK(counter.allocations == counter.frees);
  CHECK(counter.live_bytes == 0);
}

// ---------------------------------------------------------------------------------
// Misuse.

TEST_CASE("NULL pointers are rejected without writing outputs", "[session]") {
  Fixture f;
  SessionPtr s = f.session();
  mmb_session* const sentinel = reinterpret_cast<mmb_session*>(uintptr_t(0x1234));
  const int32_t token = 1;
  std::vector<float> logits(f.vocab);
  size_t size = 77;
  uint64_t pos = 77;

#define EXPECT_INVALID(call)                                                  \
  do {                                                                  \
    const mmb_status st = (call);                                       \
    INFO(#call << " -> " << mmb_status_string(st));                     \
    CHECK(st == MMB_ERR_INVALID_ARGUMENT);                              \
    CHECK(std::strlen(mmb_last_error()) > 0);                           \
  } while (0)
  EXPECT_INVALID(mmb_runtime_create(nullptr, nullptr));
  EXPECT_INVALID(mmb_model_load_memory(f.rt.get(), nullptr, 100, nullptr, nullptr));
  mmb_model* no_model = nullptr;
  EXPECT_INVALID(mmb_model_load_memory(nullptr, "x", 1, nullptr, &no_model));
  EXPECT_INVALID(mmb_model_load_file(f.rt.get(), nullptr, nullptr, &no_model));
  CHECK(no_model == nullptr);
  EXPECT_INVALID(mmb_model_get_info(nullptr, nullptr));
  EXPECT_INVALID(mmb_model_get_info(f.model.get(), nullptr));

  mmb_session* out = sentinel;
  EXPECT_INVALID(mmb_session_create(nullptr, nullptr, &out));
  EXPECT_INVALID(mmb_session_create(f.model.get(), nullptr, nullptr));
  EXPECT_INVALID(mmb_session_fork(nullptr, &out));
  EXPECT_INVALID(mmb_session_fork(s.get(), nullptr));
  CHECK(out == sentinel);
  EXPECT_INVALID(mmb_session_reset(nullptr));
  EXPECT_INVALID(mmb_session_get_position(nullptr, &pos));
  EXPECT_INVALID(mmb_session_get_position(s.get(), nullptr));
  CHECK(pos == 77);
  CHECK(mmb_session_get_model(nullptr) == nullptr);

  EXPECT_INVALID(mmb_session_step(nullptr, token, logits.data(), logits.size()));
  EXPECT_INVALID(mmb_session_prefill(nullptr, &token, 1, logits.data(), logits.size()));
  EXPECT_INVALID(mmb_session_prefill(s.get(), nullptr, 3, logits.data(), logits.size()));
  EXPECT_INVALID(mmb_session_prefill_ex(s.get(), nullptr, 3, nullptr, 0, nullptr));
  mmb_session* handles[2] = {s.get(), nullptr};
  const int32_t tokens[2] = {1, 2};
  EXPECT_INVALID(mmb_step_batch(nullptr, tokens, 1, nullptr, 0));
  EXPECT_INVALID(mmb_step_batch(handles, nullptr, 1, nullptr, 0));
  EXPECT_INVALID(mmb_step_batch(handles, tokens, 2, nullptr, 0));  // a NULL entry
  EXPECT_INVALID(mmb_step_batch(handles, tokens, 0, nullptr, 0));  // n == 0

  EXPECT_INVALID(mmb_session_state_size(nullptr, &size));
  EXPECT_INVALID(mmb_session_state_size(s.get(), nullptr));
  CHECK(size == 77);
  std::vector<uint8_t> blob = save_state(s.get());
  size_t written = 0;
  EXPECT_INVALID(mmb_session_state_save(nullptr, blob.data(), blob.size(), &written));
  // NULL with no capacity asks for the size; NULL claiming a capacity is refused either
  // as such a query or as an invalid argument, never written to.
  CHECK(mmb_session_state_save(s.get(), nullptr, 0, &written) == MMB_ERR_BUFFER_TOO_SMALL);
  CHECK(written == blob.size());
  const mmb_status null_buf = mmb_session_state_save(s.get(), nullptr, blob.size(), &written);
  CHECK((null_buf == MMB_ERR_INVALID_ARGUMENT || null_buf == MMB_ERR_BUFFER_TOO_SMALL));
  EXPECT_INVALID(mmb_session_state_save(s.get(), blob.data(), blob.size(), nullptr));
  EXPECT_INVALID(mmb_session_state_load(nullptr, blob.data(), blob.size()));
  EXPECT_INVALID(mmb_session_state_load(s.get(), nullptr, blob.size()));

  // None of that touched the session.
  CHECK(position(s.get()) == 0);
  SessionPtr fresh = f.session();
  check_same_state(s.get(), fresh.get());

  // Destroying NULL does nothing.
  mmb_session_destroy(nullptr);
  mmb_model_destroy(nullptr);
  mmb_runtime_destroy(nullptr);
  mmb_sampler_destroy(nullptr);
#undef EXPECT_INVALID
}

TEST_CASE("wrong struct_size is rejected", "[session]") {
  Fixture f;
  // Too small for the first version of the struct, or larger than this library knows.
  auto bad_sizes = [](size_t size) { return std::vector<uint32_t>{0u, uint32_t(size - 1), uint32_t(size + 8)}; };

  mmb_runtime_options ro;
  for (uint32_t bad : bad_sizes(sizeof ro)) {
    INFO("mmb_runtime_options.struct_size " << bad);
    REQUIRE(mmb_runtime_options_init(&ro, sizeof ro) == MMB_OK);
    ro.struct_size = bad;
    mmb_runtime* rt = nullptr;
    CHECK(mmb_runtime_create(&ro, &rt) == MMB_ERR_INVALID_ARGUMENT);
    CHECK(rt == nullptr);
  }
  mmb_session_options so;
  for (uint32_t bad : bad_sizes(sizeof so)) {
    INFO("mmb_session_options.struct_size " << bad);
    REQUIRE(mmb_session_options_init(&so, sizeof so) == MMB_OK);
    so.struct_size = bad;
    mmb_session* s = nullptr;
    CHECK(mmb_session_create(f.model.get(), &so, &s) == MMB_ERR_INVALID_ARGUMENT);
    CHECK(s == nullptr);
  }
  const std::vector<std::byte> bytes = bundle_bytes(f.weights);
  mmb_load_options lo;
  for (uint32_t bad : bad_sizes(sizeof lo)) {
    INFO("mmb_load_options.struct_size " << bad);
    REQUIRE(mmb_load_options_init(&lo, sizeof lo) == MMB_OK);
    lo.struct_size = bad;
    mmb_model* m = nullptr;
    CHECK(mmb_model_load_memory(f.rt.get(), bytes.data(), bytes.size(), &lo, &m) == MMB_ERR_INVALID_ARGUMENT);
    CHECK(m == nullptr);
  }
  mmb_model_info info{};
  info.struct_size = 0;
  CHECK(mmb_model_get_info(f.model.get(), &info) == MMB_ERR_INVALID_ARGUMENT);
  info.struct_size = 8;
  CHECK(mmb_model_get_info(f.model.get(), &info) == MMB_ERR_INVALID_ARGUMENT);

  SessionPtr session = f.session();
  mmb_prefill_options po;
  REQUIRE(mmb_prefill_options_init(&po, sizeof po) == MMB_OK);
  po.struct_size = 2;
  const int32_t token = 3;
  CHECK(mmb_session_prefill_ex(session.get(), &token, 1, nullptr, 0, &po) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(position(session.get()) == 0);

  mmb_sampler_params sp;
  REQUIRE(mmb_sampler_params_init(&sp, sizeof sp) == MMB_OK);
  sp.struct_size = 0;
  mmb_sampler* sampler = nullptr;
  CHECK(mmb_sampler_create(&sp, &sampler) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(sampler == nullptr);

  mmb_generate_options go;
  REQUIRE(mmb_generate_options_init(&go, sizeof go) == MMB_OK);
  go.struct_size = uint32_t(sizeof go + 64);
  REQUIRE(mmb_sampler_create(nullptr, &sampler) == MMB_OK);
  SamplerPtr owned(sampler);
  CHECK(mmb_generate(session.get(), sampler, "a", 1, &go, nullptr, nullptr) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(position(session.get()) == 0);
}

TEST_CASE("out-of-range tokens and small buffers leave the state unchanged", "[session]") {
  Fixture f;
  const std::vector<int32_t> history = random_tokens(71, 5, f.vocab);
  SessionPtr victim = f.session(), twin = f.session();
  for (int32_t t : history) {
    step(victim.get(), t);
    step(twin.get(), t);
  }
  const std::vector<uint8_t> before = save_state(victim.get());
  std::vector<float> logits(f.vocab, 0.5f);

  for (int32_t bad : {-1, int32_t(f.vocab), int32_t(f.vocab) + 1000, INT32_MIN, INT32_MAX}) {
    INFO("token " << bad);
    CHECK(mmb_session_step(victim.get(), bad, logits.data(), logits.size()) == MMB_ERR_INVALID_ARGUMENT);
    CHECK(mmb_session_step(victim.get(), bad, nullptr, 0) == MMB_ERR_INVALID_ARGUMENT);
    // Every prompt token is checked before any is consumed: the bad one comes last.
    const std::vector<int32_t> prompt = {1, 2, 3, bad};
    CHECK(mmb_session_prefill(victim.get(), prompt.data(), prompt.size(), logits.data(), logits.size()) ==
          MMB_ERR_INVALID_ARGUMENT);
    mmb_session* one = victim.get();
    CHECK(mmb_step_batch(&one, &bad, 1, logits.data(), logits.size()) == MMB_ERR_INVALID_ARGUMENT);
  }
  // Buffers one float short, checked before the state changes.
  CHECK(mmb_session_step(victim.get(), 1, logits.data(), f.vocab - 1) == MMB_ERR_BUFFER_TOO_SMALL);
  const int32_t prompt[3] = {1, 2, 3};
  CHECK(mmb_session_prefill(victim.get(), prompt, 3, logits.data(), f.vocab - 1) == MMB_ERR_BUFFER_TOO_SMALL);
  mmb_session* one = victim.get();
  CHECK(mmb_step_batch(&one, prompt, 1, logits.data(), f.vocab - 1) == MMB_ERR_BUFFER_TOO_SMALL);
  // Outputs are written only on success.
  for (float v : logits) REQUIRE(v == 0.5f);

  CHECK(position(victim.get()) == history.size());
  CHECK(save_state(victim.get()) == before);
  CHECK(same_bits(step(victim.get(), 4), step(twin.get(), 4)));
}

TEST_CASE("a batch with sessions of two models or a repeated session is refused whole", "[session]") {
  Fixture f;
  // Same config and weights, loaded twice: still two models.
  ModelPtr other = load_model(f.rt.get(), f.weights);
  SessionPtr a = f.session(), b = f.session(), c = make_session(other.get());
  SessionPtr twin_a = f.session(), twin_b = f.session();
  for (mmb_session* s : {a.get(), b.get(), c.get(), twin_a.get(), twin_b.get()}) step(s, 17);
  std::vector<float> out(3 * f.vocab);
  const int32_t tokens[3] = {1, 2, 3};

  mmb_session* mixed[3] = {a.get(), b.get(), c.get()};
  CHECK(mmb_step_batch(mixed, tokens, 3, out.data(), f.vocab) == MMB_ERR_STATE_MISMATCH);
  CHECK(std::strlen(mmb_last_error()) > 0);
  mmb_session* twice[3] = {a.get(), b.get(), a.get()};
  CHECK(mmb_step_batch(twice, tokens, 3, out.data(), f.vocab) == MMB_ERR_INVALID_ARGUMENT);
  mmb_session* bad_stride[2] = {a.get(), b.get()};
  CHECK(mmb_step_batch(bad_stride, tokens, 2, out.data(), f.vocab - 1) == MMB_ERR_BUFFER_TOO_SMALL);

  CHECK(position(a.get()) == 1);
  CHECK(position(b.get()) == 1);
  CHECK(position(c.get()) == 1);
  check_same_state(a.get(), twin_a.get());
  check_same_state(b.get(), twin_b.get());
}

TEST_CASE("foreign, truncated or corrupted state blobs are refused and change nothing", "[session]") {
  Fixture f;
  SessionPtr victim = f.session(), source = f.session();
  for (int32_t t : random_tokens(81, 4, f.vocab)) step(victim.get(), t);
  for (int32_t t : random_tokens(82, 9, f.vocab)) step(source.get(), t);
  const std::vector<uint8_t> before = save_state(victim.get());
  const std::vector<uint8_t> good = save_state(source.get());

  auto refused = [&](const std::vector<uint8_t>& blob, std::initializer_list<mmb_status> allowed) {
    const mmb_status s = mmb_session_state_load(victim.get(), blob.data(), blob.size());
    INFO(mmb_status_string(s) << ": " << mmb_last_error());
    bool ok = false;
    for (mmb_status a : allowed) ok |= s == a;
    CHECK(ok);
  };

  {  // Same config, other weights: another fingerprint.
    ModelCase other = f.c;
    other.seed += 1000;
    const SyntheticModel w = build_weights(other);
    ModelPtr m = load_model(f.rt.get(), w);
    SessionPtr s = make_session(m.get());
    step(s.get(), 1);
    refused(save_state(s.get()), {MMB_ERR_STATE_MISMATCH});
  }
  {  // Another config altogether (a different state size).
    const SyntheticModel w = build_weights(parity_cases()[0]);
    ModelPtr m = load_model(f.rt.get(), w);
    SessionPtr s = make_session(m.get());
    refused(save_state(s.get()), {MMB_ERR_STATE_MISMATCH});
  }
  // Truncated at every length that cuts the header, and a few beyond.
  for (size_t len = 0; len < good.size(); len += (len < 96 ? 1 : 97)) {
    INFO("truncated to " << len);
    refused(std::vector<uint8_t>(good.begin(), good.begin() + len), {MMB_ERR_FORMAT, MMB_ERR_INVALID_ARGUMENT});
  }
  {
    std::vector<uint8_t> longer = good;
    longer.push_back(0);
    refused(longer, {MMB_ERR_FORMAT});
  }
  // One bit flipped anywhere in the header, and through the payload: a flip in the
  // fingerprint or version may read as a mismatch; anything else is a corrupt blob.
  for (size_t pos = 0; pos < good.size(); pos += (pos < 96 ? 1 : 61)) {
    INFO("bit flipped at byte " << pos);
    std::vector<uint8_t> bad = good;
    bad[pos] ^= 0x10;
    refused(bad, {MMB_ERR_FORMAT, MMB_ERR_STATE_MISMATCH, MMB_ERR_UNSUPPORTED});
  }
  {
    std::vector<uint8_t> bad = good;
    bad[good.size() - 1] ^= 0x01;  // the last payload byte: only the checksum sees it
    refused(bad, {MMB_ERR_FORMAT});
  }
  refused(std::vector<uint8_t>(good.size(), 0), {MMB_ERR_FORMAT});

  CHECK(save_state(victim.get()) == before);
  // And the good blob still loads.
  REQUIRE(mmb_session_state_load(victim.get(), good.data(), good.size()) == MMB_OK);
  check_same_state(victim.get(), source.get());
}

TEST_CASE("sessions keep stepping after their model and runtime are destroyed", "[session][threads]") {
  const ModelCase c = property_case();
  const SyntheticModel weights = build_weights(c);
  RuntimePtr rt = make_runtime();
  ModelPtr model = load_model(rt.get(), weights);
  SessionPtr a = make_session(model.get()), b = make_session(model.get());
  const std::vector<int32_t> tokens = random_tokens(91, 16, c.config.vocab_size);
  ReferenceModel ref_a = build_reference(weights), ref_b = build_reference(weights);
  for (size_t i = 0; i < 4; ++i) {
    step(a.get(), tokens[i]);
    ref_a.step(tokens[i]);
  }
  model.reset();
  rt.reset();

  // Stepping, prefill, batch, fork, save and load all still work.
  check_close_to_reference(step(a.get(), tokens[4]), ref_a.step(tokens[4]));
  std::vector<float> logits(c.config.vocab_size);
  REQUIRE(mmb_session_prefill(b.get(), tokens.data(), 8, logits.data(), logits.size()) == MMB_OK);
  check_close_to_reference(logits, reference_after(ref_b, std::vector<int32_t>(tokens.begin(), tokens.begin() + 8)));
  mmb_session* both[2] = {a.get(), b.get()};
  const int32_t next[2] = {tokens[5], tokens[8]};
  REQUIRE(mmb_step_batch(both, next, 2, nullptr, 0) == MMB_OK);
  ref_a.step(next[0]);
  ref_b.step(next[1]);
  mmb_session* forked = nullptr;
  REQUIRE(mmb_session_fork(a.get(), &forked) == MMB_OK);
  SessionPtr fork(forked);
  a.reset();  // the fork now holds the last reference
  const std::vector<uint8_t> blob = save_state(b.get());
  REQUIRE(mmb_session_state_load(fork.get(), blob.data(), blob.size()) == MMB_OK);
  const std::vector<double> expected = ref_b.step(tokens[9]);
  check_close_to_reference(step(fork.get(), tokens[9]), expected);
  check_close_to_reference(step(b.get(), tokens[9]), expected);
  mmb_model_info info{};
  info.struct_size = sizeof info;
  CHECK(mmb_model_get_info(mmb_session_get_model(b.get()), &info) == MMB_OK);
  CHECK(info.vocab_size == int32_t(c.config.vocab_size));
}

TEST_CASE("a cancelled prefill stops at a chunk boundary and can be continued", "[session]") {
  Fixture f;
  const size_t n = 1100;
  const std::vector<int32_t> tokens = random_tokens(101, n, f.vocab);
  struct Progress {
    uint64_t calls = 0, cancelled_at = 0, total = 0;
    bool cancelled = false;
  } progress;
  mmb_prefill_options o;
  REQUIRE(mmb_prefill_options_init(&o, sizeof o) == MMB_OK);
  o.progress_user_data = &progress;
  o.progress = [](void* user, uint64_t done, uint64_t total) -> int32_t {
    auto* p = static_cast<Progress*>(user);
    ++p->calls;
    p->total = total;
    if (done == 0 || p->cancelled) return 1;
    p->cancelled = true;
    p->cancelled_at = done;
    return 0;
  };
  SessionPtr session = f.session();
  const float sentinel = 7.0f;
  std::vector<float> logits(f.vocab, sentinel);
  const mmb_status s = mmb_session_prefill_ex(session.get(), tokens.data(), n, logits.data(), logits.size(), &o);
  INFO("progress called " << progress.calls << " times");
  REQUIRE(progress.cancelled);
  CHECK(s == MMB_ERR_CANCELLED);
  CHECK(progress.total == n);
  const uint64_t at = position(session.get());
  CHECK(at == progress.cancelled_at);
  CHECK(at <= n);
  for (float v : logits) REQUIRE(v == sentinel);  // not written on failure

  // Continue from where it stopped; the whole prompt must then match the reference.
  if (at < n)
    REQUIRE(mmb_session_prefill(session.get(), tokens.data() + at, n - at, logits.data(), logits.size()) == MMB_OK);
  ReferenceModel ref = f.reference();
  const std::vector<double> expected = reference_after(ref, tokens);
  CHECK(ref.min_selection_margin() > kMinSelectionMargin);
  if (at < n) check_close_to_reference(logits, expected);
  check_close_to_reference(step(session.get(), 2), ref.step(2));
}

TEST_CASE("the function table serves ABI version 2 and nothing else", "[session]") {
  const mmb_api* api = mmb_get_api(MMB_ABI_VERSION);
  REQUIRE(api != nullptr);
  CHECK(MMB_ABI_VERSION == 2);
  CHECK(api->abi_version == MMB_ABI_VERSION);
  CHECK(api->struct_size >= sizeof(mmb_api));
  CHECK(mmb_get_api(999) == nullptr);
  CHECK(mmb_get_api(0) == nullptr);
  CHECK(mmb_get_api(1) == nullptr);  // its *_init members took no struct_size
  CHECK(api->status_string == &mmb_status_string);
  CHECK(api->last_error == &mmb_last_error);
  CHECK(api->version == &mmb_version);
  CHECK(api->version_string == &mmb_version_string);
  CHECK(api->runtime_options_init == &mmb_runtime_options_init);
  CHECK(api->runtime_create == &mmb_runtime_create);
  CHECK(api->runtime_destroy == &mmb_runtime_destroy);
  CHECK(api->runtime_get_backend == &mmb_runtime_get_backend);
  CHECK(api->load_options_init == &mmb_load_options_init);
  CHECK(api->model_load_file == &mmb_model_load_file);
  CHECK(api->model_load_memory == &mmb_model_load_memory);
  CHECK(api->model_load_io == &mmb_model_load_io);
  CHECK(api->model_get_info == &mmb_model_get_info);
  CHECK(api->model_get_meta == &mmb_model_get_meta);
  CHECK(api->model_destroy == &mmb_model_destroy);
  CHECK(api->session_options_init == &mmb_session_options_init);
  CHECK(api->session_create == &mmb_session_create);
  CHECK(api->session_destroy == &mmb_session_destroy);
  CHECK(api->session_reset == &mmb_session_reset);
  CHECK(api->session_get_position == &mmb_session_get_position);
  CHECK(api->session_get_model == &mmb_session_get_model);
  CHECK(api->session_step == &mmb_session_step);
  CHECK(api->prefill_options_init == &mmb_prefill_options_init);
  CHECK(api->session_prefill == &mmb_session_prefill);
  CHECK(api->session_prefill_ex == &mmb_session_prefill_ex);
  CHECK(api->step_batch == &mmb_step_batch);
  CHECK(api->session_state_size == &mmb_session_state_size);
  CHECK(api->session_state_save == &mmb_session_state_save);
  CHECK(api->session_state_load == &mmb_session_state_load);
  CHECK(api->session_fork == &mmb_session_fork);
  CHECK(api->tokenize == &mmb_tokenize);
  CHECK(api->token_to_bytes == &mmb_token_to_bytes);
  CHECK(api->detokenizer_create == &mmb_detokenizer_create);
  CHECK(api->detokenizer_destroy == &mmb_detokenizer_destroy);
  CHECK(api->detokenizer_push == &mmb_detokenizer_push);
  CHECK(api->detokenizer_flush == &mmb_detokenizer_flush);
  CHECK(api->sampler_params_init == &mmb_sampler_params_init);
  CHECK(api->sampler_create == &mmb_sampler_create);
  CHECK(api->sampler_destroy == &mmb_sampler_destroy);
  CHECK(api->sampler_reset == &mmb_sampler_reset);
  CHECK(api->sampler_accept == &mmb_sampler_accept);
  CHECK(api->sampler_sample == &mmb_sampler_sample);
  CHECK(api->generate_options_init == &mmb_generate_options_init);
  CHECK(api->generate == &mmb_generate);
  CHECK(api->job_options_init == &mmb_job_options_init);
}
