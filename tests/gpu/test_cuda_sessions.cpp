// Sessions on the CUDA backend, through the public C API, against the CPU backend and
// the float64 reference: every layer kind and option (the parity cases) with f32, f16
// and bf16 weights; prefill == steps; a batch of 64 sessions at mixed positions == each
// alone; states moving between the backends; the backend's description and memory.
//
// On the CPU emulator of tests/cuda_emu (MMB_CUDA_EMU) the same tests run fewer models,
// steps and sessions (tests/cuda/gpu_cases.hpp): every layer kind and dtype, at the same
// tolerances.
//
// Tolerance: the plugin keeps activations in f32 (its cuBLAS inputs are split into a
// high and a low 16-bit half, and its own kernels accumulate in f32), so its logits
// carry the same kind of float32 rounding as the CPU's, in a different order; the
// CPU's tolerance against the reference (logit_tolerance: 1e-4 of the largest logit,
// see model_harness.cpp) applies unchanged, to both comparisons.
#include <catch2/catch.hpp>

#include "cuda/gpu_cases.hpp"
#include "reference/reference_model.hpp"
#include "support/attention_models.hpp"
#include "support/mamba2_models.hpp"
#include "support/model_harness.hpp"

#include <moemamba/moemamba.h>

#include <algorithm>
#include <string>
#include <vector>

using namespace mmb;
using namespace mmb::testing;

namespace {

RuntimePtr cuda_runtime() { return make_runtime(2, MMB_BACKEND_CUDA); }

mmb_backend_info info_of(const mmb_runtime* runtime) {
  mmb_backend_info info{};
  info.struct_size = sizeof info;
  REQUIRE(mmb_runtime_get_backend_info(runtime, &info) == MMB_OK);
  return info;
}

std::vector<ModelCase> cases_with_dtypes() {
  return gpu::with_dtypes(gpu::cases(), {DType::F32, DType::F16, DType::BF16});
}

std::vector<float> prefill(mmb_session* s, const std::vector<int32_t>& tokens, uint32_t vocab) {
  std::vector<float> logits(vocab);
  REQUIRE(mmb_session_prefill(s, tokens.data(), tokens.size(), logits.data(), logits.size()) == MMB_OK);
  return logits;
}

}  // namespace

TEST_CASE("cuda: the backend describes its device and counts its memory", "[cuda]") {
  RuntimePtr rt = cuda_runtime();
  const mmb_backend_info before = info_of(rt.get());
  CHECK(before.backend == MMB_BACKEND_CUDA);
  CHECK(before.device_index == 0);
  CHECK(std::string(before.device_name).size() > 0);
  CHECK(before.device_memory_total > (1ull << 30));
  const ModelCase c = parity_cases().front();
  const SyntheticModel w = build_weights(c);
  uint64_t with_model = 0;
  {
    ModelPtr model = load_model(rt.get(), w);
    with_model = info_of(rt.get()).device_memory_used;
    CHECK(with_model >= before.device_memory_used + model_info(model.get()).weight_bytes / 2);
    SessionPtr s = make_session(model.get());
    CHECK(info_of(rt.get()).device_memory_used >= with_model + model_info(model.get()).state_bytes);
  }
  CHECK(info_of(rt.get()).device_memory_used == before.device_memory_used);
}

TEST_CASE("cuda: logits of every layer kind and dtype match the CPU and the float64 reference", "[cuda][parity]") {
  RuntimePtr gpu = cuda_runtime();
  RuntimePtr cpu = make_runtime();
  for (const ModelCase& c : cases_with_dtypes()) {
    INFO("model " << c.name << ", dtype " << int(c.dtype));
    const SyntheticModel w = build_weights(c);
    reference::ReferenceModel ref = build_reference(w);
    ModelPtr gm = load_model(gpu.get(), w), cm = load_model(cpu.get(), w);
    SessionPtr gs = make_session(gm.get()), cs = make_session(cm.get());
    const std::vector<int32_t> tokens = random_tokens(c.seed * 31, gpu::kEmulated ? 6 : 12, c.config.vocab_size);
    for (size_t t = 0; t < tokens.size(); ++t) {
      const std::vector<double> expected = ref.step(tokens[t]);
      const std::vector<float> g = step(gs.get(), tokens[t]), k = step(cs.get(), tokens[t]);
      const double tol = logit_tolerance(expected);
      INFO("step " << t << ": |gpu - ref| " << max_abs_diff(g, expected) << ", |gpu - cpu| " << max_abs_diff(g, k)
                   << ", tolerance " << tol);
      REQUIRE(max_abs_diff(g, expected) <= tol);
      REQUIRE(max_abs_diff(g, k) <= tol);
    }
    CHECK(ref.min_selection_margin() > kMinSelectionMargin);
  }
}

// On the emulator: 1, 7, 40 and 300 tokens (one chunk boundary); past 40 the tokens are
// stepped on the CPU backend, which the parity test holds to the same tolerance.
TEST_CASE("cuda: prefill equals stepping, also across chunk boundaries", "[cuda]") {
  RuntimePtr gpu = cuda_runtime();
  RuntimePtr cpu = make_runtime();
  const std::vector<size_t> sizes = gpu::kEmulated ? std::vector<size_t>{1, 7, 40, 300}
                                                   : std::vector<size_t>{1, 7, 513, 1100};
  for (const ModelCase& c : gpu::machinery_cases({DType::F32, DType::BF16, DType::F16}, true)) {
    INFO("model " << c.name);
    const SyntheticModel w = build_weights(c);
    ModelPtr model = load_model(gpu.get(), w);
    ModelPtr on_cpu = gpu::kEmulated ? load_model(cpu.get(), w) : nullptr;
    for (size_t n : sizes) {
      INFO(n << " tokens");
      const std::vector<int32_t> tokens = random_tokens(n + c.seed, n, c.config.vocab_size);
      SessionPtr a = make_session(model.get());
      SessionPtr b = make_session(gpu::kEmulated && n > 40 ? on_cpu.get() : model.get());
      const std::vector<float> pre = prefill(a.get(), tokens, c.config.vocab_size);
      std::vector<float> stepped;
      for (int32_t t : tokens) stepped = step(b.get(), t);
      REQUIRE(max_abs_diff(pre, widen(stepped)) <= logit_tolerance(widen(stepped)));
      CHECK(position(a.get()) == n);
      // The states agree too: one more step from each.
      REQUIRE(max_abs_diff(step(a.get(), 1), widen(step(b.get(), 1))) <= logit_tolerance(widen(stepped)));
    }
  }
}

// On the emulator: two rounds, and every 7th session checked alone (positions 0..8
// all among them).
TEST_CASE("cuda: a batch of 64 sessions at mixed positions equals each alone", "[cuda]") {
  RuntimePtr gpu = cuda_runtime();
  for (const ModelCase& c : gpu::machinery_cases({DType::F32, DType::BF16, DType::F16}, true)) {
    INFO("model " << c.name);
    const SyntheticModel w = build_weights(c);
    ModelPtr model = load_model(gpu.get(), w);
    const uint32_t vocab = c.config.vocab_size;
    constexpr size_t kSessions = 64;
    const size_t checked_every = gpu::kEmulated ? 7 : 1;
    std::vector<SessionPtr> batched, alone(kSessions);
    std::vector<mmb_session*> handles;
    std::vector<std::vector<int32_t>> histories;
    for (size_t i = 0; i < kSessions; ++i) {
      batched.push_back(make_session(model.get()));
      histories.push_back(random_tokens(i * 13 + 1, i % 9, vocab));  // positions 0..8
      handles.push_back(batched.back().get());
    }
    // The histories: the sessions with a token left at each position step as a batch;
    // the sessions checked alone step the same tokens one by one.
    for (size_t pos = 0; pos < 8; ++pos) {
      std::vector<mmb_session*> some;
      std::vector<int32_t> tokens;
      for (size_t i = 0; i < kSessions; ++i)
        if (pos < histories[i].size()) some.push_back(handles[i]), tokens.push_back(histories[i][pos]);
      REQUIRE(mmb_step_batch(some.data(), tokens.data(), some.size(), nullptr, 0) == MMB_OK);
    }
    for (size_t i = 0; i < kSessions; i += checked_every) {
      alone[i] = make_session(model.get());
      for (int32_t t : histories[i]) step(alone[i].get(), t);
    }
    for (int round = 0; round < (gpu::kEmulated ? 2 : 3); ++round) {
      const std::vector<int32_t> tokens = random_tokens(100 + round, kSessions, vocab);
      std::vector<float> logits(kSessions * vocab);
      REQUIRE(mmb_step_batch(handles.data(), tokens.data(), kSessions, logits.data(), vocab) == MMB_OK);
      for (size_t i = 0; i < kSessions; i += checked_every) {
        const std::vector<float> one = step(alone[i].get(), tokens[i]);
        const std::vector<float> row(logits.begin() + i * vocab, logits.begin() + (i + 1) * vocab);
        INFO("session " << i << ", round " << round);
        REQUIRE(max_abs_diff(row, widen(one)) <= logit_tolerance(widen(one)));
      }
    }
  }
}

TEST_CASE("cuda: states move between the GPU and the CPU, and forks are independent", "[cuda]") {
  RuntimePtr gpu = cuda_runtime();
  RuntimePtr cpu = make_runtime();
  for (const ModelCase& c : gpu::machinery_cases({DType::F32, DType::BF16, DType::F16}, true)) {
    INFO("model " << c.name);
    const SyntheticModel w = build_weights(c);
    ModelPtr gm = load_model(gpu.get(), w), cm = load_model(cpu.get(), w);
    const std::vector<int32_t> tokens = random_tokens(c.seed + 5, 20, c.config.vocab_size);
    SessionPtr g = make_session(gm.get());
    for (size_t t = 0; t < 10; ++t) step(g.get(), tokens[t]);
    // Saved on the GPU, loaded on the CPU: both go on alike.
    const std::vector<uint8_t> blob = save_state(g.get());
    SessionPtr k = make_session(cm.get());
    REQUIRE(mmb_session_state_load(k.get(), blob.data(), blob.size()) == MMB_OK);
    SessionPtr fork;
    {
      mmb_session* f = nullptr;
      REQUIRE(mmb_session_fork(g.get(), &f) == MMB_OK);
      fork.reset(f);
    }
    for (size_t t = 10; t < 20; ++t) {
      const std::vector<float> a = step(g.get(), tokens[t]), b = step(k.get(), tokens[t]);
      REQUIRE(max_abs_diff(a, widen(b)) <= logit_tolerance(widen(b)));
    }
    // Saved on the CPU, loaded on the GPU.
    const std::vector<uint8_t> back = save_state(k.get());
    SessionPtr g2 = make_session(gm.get());
    REQUIRE(mmb_session_state_load(g2.get(), back.data(), back.size()) == MMB_OK);
    const std::vector<float> a = step(g2.get(), 3), b = step(k.get(), 3);
    REQUIRE(max_abs_diff(a, widen(b)) <= logit_tolerance(widen(b)));
    // The fork stayed at position 10, untouched by its parent's steps.
    CHECK(position(fork.get()) == 10);
    SessionPtr k10 = make_session(cm.get());
    REQUIRE(mmb_session_state_load(k10.get(), blob.data(), blob.size()) == MMB_OK);
    const std::vector<float> f = step(fork.get(), tokens[10]), r = step(k10.get(), tokens[10]);
    REQUIRE(max_abs_diff(f, widen(r)) <= logit_tolerance(widen(r)));
  }
}

namespace {

void collect_log(void* user_data, int32_t level, const char* message) {
  static_cast<std::vector<std::string>*>(user_data)->push_back(message);
}

}  // namespace

// Layer kinds the plugin has no kernels for yet (Mamba-2, Mamba-1's dt/B/C norms): an
// explicit CUDA runtime refuses the model; backend auto runs it on the CPU, says why in
// its log, and gives the CPU backend's logits bit for bit.
TEST_CASE("cuda: a model the plugin cannot run is refused on cuda and runs on the CPU under auto", "[cuda]") {
  struct Refused {
    const char* name;
    SyntheticModel weights;
  };
  const Refused models[] = {
      {"mamba + mamba2 mixed plan", build_mamba2_weights(mamba2_case("mamba + mamba2 mixed plan"))},
      {"falcon-mamba-like: RMS dt/B/C norms", build_mamba2_weights(mamba2_case("falcon-mamba-like: RMS dt/B/C norms"))},
      {"jamba-like (attention)", build_attention_weights(attention_case("jamba-like"))},
      {"nemotron-h-like (attention, relu2, group-limited)", build_attention_weights(attention_case("nemotron-h-like"))},
  };
  for (const Refused& r : models) {
    const char* name = r.name;
    INFO(name);
    const SyntheticModel& weights = r.weights;
    const std::vector<std::byte> bytes = bundle_bytes(weights);

    RuntimePtr cuda = cuda_runtime();
    mmb_model* refused = nullptr;
    CHECK(mmb_model_load_memory(cuda.get(), bytes.data(), bytes.size(), nullptr, &refused) == MMB_ERR_UNSUPPORTED);
    CHECK(refused == nullptr);
    CHECK_THAT(std::string(mmb_last_error()), Catch::Contains("CUDA backend does not"));

    std::vector<std::string> log;
    mmb_runtime_options o;
    REQUIRE(mmb_runtime_options_init(&o, sizeof o) == MMB_OK);
    o.backend = MMB_BACKEND_AUTO;
    o.n_threads = 2;
    o.log_fn = collect_log;
    o.log_user_data = &log;
    o.log_level = MMB_LOG_INFO;
    mmb_runtime* raw = nullptr;
    REQUIRE(mmb_runtime_create(&o, &raw) == MMB_OK);
    RuntimePtr automatic(raw);
    ModelPtr on_auto = load_model(automatic.get(), weights);
    CHECK(std::any_of(log.begin(), log.end(),
                      [](const std::string& m) { return m.find("runs on the CPU backend") != std::string::npos; }));

    RuntimePtr cpu = make_runtime(2, MMB_BACKEND_CPU);
    ModelPtr on_cpu = load_model(cpu.get(), weights);
    SessionPtr a = make_session(on_auto.get()), b = make_session(on_cpu.get());
    for (int32_t token : {1, 5, 2, 7}) CHECK(step(a.get(), token) == step(b.get(), token));
  }
}
