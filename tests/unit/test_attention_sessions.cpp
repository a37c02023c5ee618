// Sessions of models with attention layers through the public C API: prefill against
// steps, batched steps against single steps, forks, and saved states (with either KV
// element type, loaded into a session of the same or the other type), each across the
// 64-token pages of the KV cache.
#include <catch2/catch.hpp>

#include "support/attention_models.hpp"
#include "support/model_harness.hpp"

#include "runtime/state_blob.hpp"

#include <moemamba/moemamba.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <thread>

using namespace mmb;
using namespace mmb::testing;
using mmb::reference::ReferenceModel;

namespace {

bool has_mamba2(const ModelConfig& config) {
  return std::any_of(config.layers.begin(), config.layers.end(),
                     [](const LayerConfig& l) { return l.kind == LayerKind::Mamba2; });
}

size_t kv_element_size(int32_t kv_type) { return kv_type == MMB_KV_F16 ? 2 : 4; }

std::vector<float> prefill(mmb_session* s, const int32_t* tokens, size_t n, uint32_t vocab) {
  std::vector<float> logits(vocab);
  const mmb_status st = mmb_session_prefill(s, tokens, n, logits.data(), logits.size());
  INFO(mmb_last_error());
  REQUIRE(st == MMB_OK);
  return logits;
}

// An IEEE half's value, decoded here from its bits.
double half_value(uint16_t h) {
  const int exponent = (h >> 10) & 31, mantissa = h & 1023;
  const double magnitude = exponent ? std::ldexp(1024 + mantissa, exponent - 25) : std::ldexp(mantissa, -24);
  return (h & 0x8000) ? -magnitude : magnitude;
}

void check_close(const std::vector<float>& got, const std::vector<double>& expected, const ModelConfig& config,
                 int32_t kv_type) {
  const double diff = max_abs_diff(got, expected), tol = kv_logit_tolerance(expected, config, kv_type);
  INFO("max |lib - ref| = " << diff << ", tolerance " << tol);
  CHECK(diff <= tol);
}

const char* const kHandMade[] = {"attention MHA, no RoPE",
                                 "attention GQA g=2, full RoPE, q/k/v/o biases",
                                 "attention GQA g=4, partial RoPE, scale",
                                 "attention MQA, heads of 6",
                                 "attention wide heads, no block norm",
                                 "attention only",
                                 "jamba-like",
                                 "granite-4.0-h-like",
                                 "nemotron-h-like",
                                 "group-limited routing",
                                 "embedding, residual and logits scales"};

}  // namespace

TEST_CASE("attention models: prefill of n tokens equals n steps bit for bit, across KV pages", "[session][threads]") {
  // An attention row reads the keys and values of the tokens before it from the cache,
  // and a prefill chunk stores all its rows' keys and values before any row reads: every
  // row sees what a step at its position sees, and the projections give the same bits
  // for any number of rows. Mamba-1's prefill scans in token order too. Prompts of one
  // call (chunks of 64 rows), calls of 16 tokens (the 16-row chunks), and a prompt that
  // starts mid-page; lengths around the page boundaries. Mamba-2's prefill is the
  // chunked SSD form, another summation order by design: there, within the tolerance.
  const size_t lengths[] = {1, 2, 16, 17, 63, 64, 65, 128, 150, 200};
  for (const char* name : kHandMade) {
    AttentionFixture f(name);
    const bool exact = !has_mamba2(f.c.config);
    const std::vector<int32_t> tokens = random_tokens(f.c.seed + 11, 203, f.vocab);
    for (int32_t kv : {MMB_KV_F16, MMB_KV_F32}) {
      INFO("model " << name << ", kv_type " << kv);
      SessionPtr stepped = f.session(kv);
      std::vector<std::vector<float>> step_logits;
      std::vector<std::vector<uint8_t>> step_states;
      for (size_t t = 0, k = 0; t < 200; ++t) {
        std::vector<float> logits = step(stepped.get(), tokens[t]);
        if (t + 1 == lengths[k]) {
          step_logits.push_back(std::move(logits));
          step_states.push_back(save_state(stepped.get()));
          ++k;
        }
      }
      for (size_t k = 0; k < std::size(lengths); ++k) {
        const size_t n = lengths[k];
        INFO("prompt of " << n << " tokens");
        SessionPtr whole = f.session(kv), by16 = f.session(kv), mid_page = f.session(kv);
        const std::vector<float> one_call = prefill(whole.get(), tokens.data(), n, f.vocab);
        std::vector<float> last16;
        for (size_t done = 0; done < n; done += 16) last16 = prefill(by16.get(), tokens.data() + done, std::min<size_t>(16, n - done), f.vocab);
        std::vector<float> after_steps;
        for (size_t t = 0; t < std::min<size_t>(n, 50); ++t) after_steps = step(mid_page.get(), tokens[t]);
        if (n > 50) after_steps = prefill(mid_page.get(), tokens.data() + 50, n - 50, f.vocab);
        if (exact) {
          CHECK(same_bits(one_call, step_logits[k]));
          CHECK(same_bits(last16, step_logits[k]));
          CHECK(same_bits(after_steps, step_logits[k]));
          CHECK(save_state(whole.get()) == step_states[k]);
          CHECK(save_state(by16.get()) == step_states[k]);
          CHECK(save_state(mid_page.get()) == step_states[k]);
        } else {
          const std::vector<double> expected = widen(step_logits[k]);
          const double tol = kv_logit_tolerance(expected, f.c.config, kv);
          CHECK(max_abs_diff(one_call, expected) <= tol);
          CHECK(max_abs_diff(last16, expected) <= tol);
          CHECK(max_abs_diff(after_steps, expected) <= tol);
          CHECK(save_state(whole.get()).size() == step_states[k].size());
        }
        CHECK(position(whole.get()) == n);
      }
      // Each continues like the reference.
      ReferenceModel ref = f.reference();
      for (size_t t = 0; t < 200; ++t) ref.step(tokens[t]);
      for (size_t t = 200; t < tokens.size(); ++t) check_close(step(stepped.get(), tokens[t]), ref.step(tokens[t]), f.c.config, kv);
    }
  }
}

TEST_CASE("attention models: a batch step of sessions at mixed positions equals their single steps bit for bit",
          "[session][threads]") {
  // Positions on both sides of the page boundaries; sessions with f16 and f32 caches and
  // different context limits in one batch. Each row of a batch is computed by the same
  // code as a single step.
  const size_t positions[] = {0, 1, 63, 64, 100, 127};
  constexpr size_t n = std::size(positions);
  for (const char* name : kHandMade) {
    AttentionFixture f(name);
    INFO("model " << name);
    std::vector<SessionPtr> batch, single;
    std::vector<mmb_session*> handles;
    for (size_t i = 0; i < n; ++i) {
      const int32_t kv = i % 2 ? MMB_KV_F32 : MMB_KV_F16;
      batch.push_back(f.session(kv, 200 + i));
      single.push_back(f.session(kv));
      handles.push_back(batch.back().get());
      const std::vector<int32_t> prompt = random_tokens(40 + i, positions[i], f.vocab);
      if (prompt.empty()) continue;
      REQUIRE(mmb_session_prefill(batch[i].get(), prompt.data(), prompt.size(), nullptr, 0) == MMB_OK);
      REQUIRE(mmb_session_prefill(single[i].get(), prompt.data(), prompt.size(), nullptr, 0) == MMB_OK);
    }
    const size_t stride = f.vocab + 5;
    const float sentinel = -12345.0f;
    for (int round = 0; round < 4; ++round) {
      INFO("round " << round);
      const std::vector<int32_t> tokens = random_tokens(70 + round, n, f.vocab);
      std::vector<float> out(n * stride, sentinel);
      const mmb_status s = mmb_step_batch(handles.data(), tokens.data(), n, out.data(), stride);
      INFO(mmb_last_error());
      REQUIRE(s == MMB_OK);
      for (size_t i = 0; i < n; ++i) {
        const std::vector<float> row(out.begin() + ptrdiff_t(i * stride), out.begin() + ptrdiff_t(i * stride + f.vocab));
        CHECK(same_bits(row, step(single[i].get(), tokens[i])));
        for (size_t k = f.vocab; k < stride; ++k) CHECK(out[i * stride + k] == sentinel);
      }
    }
    for (size_t i = 0; i < n; ++i) {
      CHECK(position(batch[i].get()) == positions[i] + 4);
      CHECK(save_state(batch[i].get()) == save_state(single[i].get()));
    }
  }
}

TEST_CASE("attention models: a fork mid-sequence and its original continue as uninterrupted runs", "[session]") {
  // Forks at the start, at a page boundary and mid-page; both sides then cross the next
  // boundary, stepped in turns so that any page they shared would show.
  for (const char* name : {"attention GQA g=4, partial RoPE, scale", "jamba-like", "nemotron-h-like"}) {
    AttentionFixture f(name);
    for (int32_t kv : {MMB_KV_F16, MMB_KV_F32})
      for (size_t at : {size_t(0), size_t(64), size_t(70)}) {
        INFO("model " << name << ", kv_type " << kv << ", fork at " << at);
        const std::vector<int32_t> prefix = random_tokens(31, at, f.vocab);
        const std::vector<int32_t> x = random_tokens(32, 70, f.vocab), y = random_tokens(33, 70, f.vocab);
        SessionPtr a = f.session(kv), run_x = f.session(kv), run_y = f.session(kv);
        if (at) {
          for (mmb_session* s : {a.get(), run_x.get(), run_y.get()})
            REQUIRE(mmb_session_prefill(s, prefix.data(), at, nullptr, 0) == MMB_OK);
        }
        mmb_session* forked = nullptr;
        REQUIRE(mmb_session_fork(a.get(), &forked) == MMB_OK);
        SessionPtr b(forked);
        CHECK(position(b.get()) == at);
        CHECK(save_state(b.get()) == save_state(a.get()));
        for (size_t i = 0; i < x.size(); ++i) {
          CHECK(same_bits(step(a.get(), x[i]), step(run_x.get(), x[i])));
          CHECK(same_bits(step(b.get(), y[i]), step(run_y.get(), y[i])));
        }
        // The fork outlives its original.
        a.reset();
        CHECK(same_bits(step(b.get(), 7), step(run_y.get(), 7)));
        CHECK(save_state(b.get()) == save_state(run_y.get()));
      }
  }
}

TEST_CASE("attention models: a state saved mid-stream continues exactly where it is loaded", "[session]") {
  // Saved at position 70 (a prefill and three steps): 64-byte header, the state's floats,
  // then 70 tokens of keys and values. Loaded into a fresh session and into one further
  // along (more pages than the state needs): both continue as the original, to the bit.
  for (const char* name : {"attention GQA g=2, full RoPE, q/k/v/o biases", "attention only", "granite-4.0-h-like"}) {
    AttentionFixture f(name);
    const std::vector<int32_t> tokens = random_tokens(f.c.seed + 21, 110, f.vocab);
    for (int32_t kv : {MMB_KV_F16, MMB_KV_F32}) {
      INFO("model " << name << ", kv_type " << kv);
      SessionPtr original = f.session(kv);
      REQUIRE(mmb_session_prefill(original.get(), tokens.data(), 67, nullptr, 0) == MMB_OK);
      for (size_t i = 67; i < 70; ++i) step(original.get(), tokens[i]);
      const std::vector<uint8_t> blob = save_state(original.get());
      CHECK(blob.size() == kStateHeaderSizeWithKv + 4 * state_floats(f.c.config) +
                               70 * expected_kv_values_per_token(f.c.config) * kv_element_size(kv));

      SessionPtr fresh = f.session(kv), busy = f.session(kv);
      for (int32_t t : random_tokens(22, 150, f.vocab)) REQUIRE(mmb_session_step(busy.get(), t, nullptr, 0) == MMB_OK);
      for (mmb_session* s : {fresh.get(), busy.get()}) {
        const mmb_status st = mmb_session_state_load(s, blob.data(), blob.size());
        INFO(mmb_last_error());
        REQUIRE(st == MMB_OK);
        CHECK(position(s) == 70);
        CHECK(save_state(s) == blob);
      }
      for (size_t i = 70; i < tokens.size(); ++i) {
        const std::vector<float> expected = step(original.get(), tokens[i]);
        CHECK(same_bits(step(fresh.get(), tokens[i]), expected));
        CHECK(same_bits(step(busy.get(), tokens[i]), expected));
      }
    }
  }
}

TEST_CASE("attention models: a state loaded into a session of the other kv_type is converted", "[session]") {
  // f16 into f32: each value widened exactly. f32 into f16: each rounded to the nearest
  // half, within 2^-11 of itself (2^-25 absolute below the normal halves). Both sessions
  // then continue like the reference, within the f16 tolerance (their caches hold f16
  // values).
  AttentionFixture f("jamba-like");
  const size_t n = 80, kv_values = expected_kv_values_per_token(f.c.config);
  const size_t floats = 4 * state_floats(f.c.config);
  const std::vector<int32_t> tokens = random_tokens(5, n + 20, f.vocab);
  SessionPtr half = f.session(MMB_KV_F16), full = f.session(MMB_KV_F32);
  REQUIRE(mmb_session_prefill(half.get(), tokens.data(), n, nullptr, 0) == MMB_OK);
  REQUIRE(mmb_session_prefill(full.get(), tokens.data(), n, nullptr, 0) == MMB_OK);
  const std::vector<uint8_t> half_blob = save_state(half.get()), full_blob = save_state(full.get());
  const size_t kv_at = kStateHeaderSizeWithKv + floats;

  SessionPtr widened = f.session(MMB_KV_F32), narrowed = f.session(MMB_KV_F16);
  REQUIRE(mmb_session_state_load(widened.get(), half_blob.data(), half_blob.size()) == MMB_OK);
  REQUIRE(mmb_session_state_load(narrowed.get(), full_blob.data(), full_blob.size()) == MMB_OK);
  const std::vector<uint8_t> w = save_state(widened.get()), m = save_state(narrowed.get());
  REQUIRE(w.size() == kv_at + 4 * n * kv_values);
  REQUIRE(m.size() == kv_at + 2 * n * kv_values);
  // Fingerprint, position and float count; the floats.
  for (const auto& [converted, source] : {std::pair{&w, &half_blob}, std::pair{&m, &full_blob}}) {
    CHECK(std::equal(converted->begin() + 16, converted->begin() + 40, source->begin() + 16));
    CHECK(std::equal(converted->begin() + 64, converted->begin() + ptrdiff_t(kv_at), source->begin() + 64));
  }
  size_t widened_exactly = 0, rounded_to_nearest = 0;
  for (size_t i = 0; i < n * kv_values; ++i) {
    uint16_t h;
    float x;
    std::memcpy(&h, half_blob.data() + kv_at + 2 * i, 2);
    std::memcpy(&x, w.data() + kv_at + 4 * i, 4);
    widened_exactly += double(x) == half_value(h);
    std::memcpy(&x, full_blob.data() + kv_at + 4 * i, 4);
    std::memcpy(&h, m.data() + kv_at + 2 * i, 2);
    rounded_to_nearest += std::abs(half_value(h) - double(x)) <= std::ldexp(std::abs(double(x)), -11) + std::ldexp(1.0, -25);
  }
  CHECK(widened_exactly == n * kv_values);
  CHECK(rounded_to_nearest == n * kv_values);

  for (mmb_session* s : {widened.get(), narrowed.get()}) {
    ReferenceModel ref = f.reference();
    for (size_t i = 0; i < n; ++i) ref.step(tokens[i]);
    for (size_t i = n; i < tokens.size(); ++i) check_close(step(s, tokens[i]), ref.step(tokens[i]), f.c.config, MMB_KV_F16);
  }
}

TEST_CASE("hybrid sessions prefilled and stepped on four threads at once equal single-threaded runs bit for bit",
          "[session][threads]") {
  // Concurrent prefills contend for the model's 64-row scratch: those that do not get it
  // run in 16-row chunks, which give the same bits. Each thread's session is checked
  // after a 150-token prompt (three KV pages) and 20 steps.
  AttentionFixture f("jamba-like");
  constexpr int n_threads = 4, prompt = 150, steps = 20;
  auto tokens_of = [&](int s) { return random_tokens(900 + uint64_t(s), prompt + steps, f.vocab); };
  auto kv_of = [](int s) { return s % 2 ? MMB_KV_F32 : MMB_KV_F16; };
  std::vector<std::vector<float>> expected(n_threads);
  std::vector<std::vector<uint8_t>> expected_state(n_threads);
  for (int s = 0; s < n_threads; ++s) {
    SessionPtr session = f.session(kv_of(s));
    const std::vector<int32_t> tokens = tokens_of(s);
    REQUIRE(mmb_session_prefill(session.get(), tokens.data(), prompt, nullptr, 0) == MMB_OK);
    for (int i = prompt; i < prompt + steps; ++i) expected[s] = step(session.get(), tokens[i]);
    expected_state[s] = save_state(session.get());
  }
  for (int round = 0; round < 3; ++round) {
    std::vector<SessionPtr> sessions;
    for (int s = 0; s < n_threads; ++s) sessions.push_back(f.session(kv_of(s)));
    std::vector<std::vector<float>> got(n_threads, std::vector<float>(f.vocab));
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int s = 0; s < n_threads; ++s)
      threads.emplace_back([&, s] {
        // No Catch assertions off the main thread: count failures instead.
        const std::vector<int32_t> tokens = tokens_of(s);
        if (mmb_session_prefill(sessions[s].get(), tokens.data(), prompt, nullptr, 0) != MMB_OK) ++failures;
        for (int i = prompt; i < prompt + steps; ++i)
          if (mmb_session_step(sessions[s].get(), tokens[i], got[s].data(), got[s].size()) != MMB_OK) ++failures;
      });
    for (std::thread& t : threads) t.join();
    REQUIRE(failures == 0);
    for (int s = 0; s < n_threads; ++s) {
      INFO("round " << round << ", session " << s);
      CHECK(same_bits(got[s], expected[s]));
      CHECK(save_state(sessions[s].get()) == expected_state[s]);
    }
  }
}
