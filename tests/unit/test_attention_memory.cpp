// The memory of sessions of models with attention layers, through the public C API: the
// KV cache grows by a page of 64 tokens at a time and shrinks on reset, as the
// runtime's session memory reports it; paging such a session out and in changes
// nothing; allocation failures while the cache grows are a status with nothing
// consumed and nothing kept; jobs that reach the end of the context say so.
#include <catch2/catch.hpp>

#include "support/attention_models.hpp"
#include "support/failing_heap.hpp"
#include "support/job_helpers.hpp"
#include "support/model_harness.hpp"

#include <moemamba/moemamba.h>

#include <cstdio>
#include <string>

using namespace mmb;
using namespace mmb::testing;

namespace {

uint64_t resident_bytes(const mmb_runtime* rt) {
  mmb_session_memory m{};
  m.struct_size = sizeof m;
  REQUIRE(mmb_runtime_get_session_memory(rt, &m) == MMB_OK);
  return m.resident_bytes;
}

// Bytes of one KV page (64 tokens) of a session of the model keeping kv_type values.
uint64_t page_bytes(const mmb_model* model, int32_t kv_type) {
  return 64 * model_info(model).kv_values_per_token * (kv_type == MMB_KV_F16 ? 2 : 4);
}

// A CPU runtime whose jobs advance only in the host's calls (frame mode: the thread
// that waits does the work), with that session memory budget (0: none).
RuntimePtr frame_runtime(uint64_t budget = 0) {
  return make_runtime([&](mmb_runtime_options& o) {
    o.job_mode = MMB_JOBS_FRAME;
    o.session_memory_budget = budget;
  });
}

// Feeds n seeded random tokens in one prefill.
void advance(mmb_session* s, size_t n, uint64_t seed, uint32_t vocab) {
  const std::vector<int32_t> tokens = random_tokens(seed, n, vocab);
  const mmb_status st = mmb_session_prefill(s, tokens.data(), n, nullptr, 0);
  INFO(mmb_last_error());
  REQUIRE(st == MMB_OK);
}

}  // namespace

TEST_CASE("a session's memory grows by one KV page per 64 tokens and shrinks on reset", "[session][memory]") {
  AttentionFixture f("attention GQA g=2, full RoPE, q/k/v/o biases");
  const mmb_runtime* rt = f.rt.get();
  REQUIRE(resident_bytes(rt) == 0);
  for (int32_t kv : {MMB_KV_F16, MMB_KV_F32}) {
    INFO("kv_type " << kv);
    const uint64_t page = page_bytes(f.model.get(), kv);
    REQUIRE(page == 64 * 2 * (2 * 2 * 8) * (kv == MMB_KV_F16 ? 2 : 4));
    SessionPtr s = f.session(kv);
    const uint64_t empty = resident_bytes(rt);
    CHECK(empty > 0);
    // The page for tokens [0, 64) comes with the first token, the next with the 65th.
    const std::pair<size_t, uint64_t> steps[] = {{1, 1}, {63, 1}, {1, 2}, {63, 2}, {1, 3}, {100, 4}};
    for (const auto& [n, pages] : steps) {
      advance(s.get(), n, n, f.vocab);
      INFO("position " << position(s.get()));
      CHECK(resident_bytes(rt) == empty + pages * page);
    }
    // A fork holds pages for its copy of the cache; a loaded state those its tokens need.
    mmb_session* forked = nullptr;
    REQUIRE(mmb_session_fork(s.get(), &forked) == MMB_OK);
    SessionPtr fork(forked);
    CHECK(resident_bytes(rt) == 2 * (empty + 4 * page));
    SessionPtr loaded = f.session(kv);
    const std::vector<uint8_t> blob = save_state(s.get());
    REQUIRE(mmb_session_state_load(loaded.get(), blob.data(), blob.size()) == MMB_OK);
    CHECK(resident_bytes(rt) == 3 * (empty + 4 * page));

    // Reset gives every page back; so does loading a shorter state.
    REQUIRE(mmb_session_reset(s.get()) == MMB_OK);
    CHECK(resident_bytes(rt) == empty + 2 * (empty + 4 * page));
    SessionPtr short_source = f.session(kv);
    advance(short_source.get(), 10, 3, f.vocab);
    const std::vector<uint8_t> short_blob = save_state(short_source.get());
    short_source.reset();
    REQUIRE(mmb_session_state_load(fork.get(), short_blob.data(), short_blob.size()) == MMB_OK);
    CHECK(resident_bytes(rt) == empty + (empty + page) + (empty + 4 * page));
    s.reset();
    fork.reset();
    loaded.reset();
    CHECK(resident_bytes(rt) == 0);
  }
}

TEST_CASE("hybrid sessions paged out and in under a budget continue exactly as sessions never paged",
          "[session][memory]") {
  // Three sessions at about 100 tokens (two pages each) under a budget for two: each
  // turn pages the least recently used one out. Their logits and states match twins in
  // a runtime without a budget, to the bit; explicit page-outs too.
  AttentionFixture f("jamba-like");
  SessionPtr probe = f.session(MMB_KV_F32);
  advance(probe.get(), 100, 1, f.vocab);
  const uint64_t per_session = resident_bytes(f.rt.get());
  probe.reset();

  RuntimePtr rt = frame_runtime(2 * per_session + per_session / 2);
  ModelPtr model = load_model(rt.get(), f.weights);
  std::vector<SessionPtr> paged, kept;
  for (size_t i = 0; i < 3; ++i) {
    paged.push_back(make_session(model.get(), MMB_KV_F32));
    kept.push_back(f.session(MMB_KV_F32));
    advance(paged[i].get(), 95 + i, 10 + i, f.vocab);
    advance(kept[i].get(), 95 + i, 10 + i, f.vocab);
  }
  for (int turn = 0; turn < 8; ++turn) {
    for (size_t i = 0; i < 3; ++i) {
      const int32_t token = int32_t((turn * 7 + i * 13) % f.vocab);
      CHECK(same_bits(step(paged[i].get(), token), step(kept[i].get(), token)));
    }
    if (turn == 4) REQUIRE(mmb_session_page_out(paged[1].get()) == MMB_OK);
  }
  mmb_session_memory m{};
  m.struct_size = sizeof m;
  REQUIRE(mmb_runtime_get_session_memory(rt.get(), &m) == MMB_OK);
  CHECK(m.page_outs > 0);
  CHECK(m.page_ins > 0);
  for (size_t i = 0; i < 3; ++i) CHECK(save_state(paged[i].get()) == save_state(kept[i].get()));
}

TEST_CASE("allocation failures while the KV cache grows: nothing consumed, nothing kept, the session usable",
          "[oom][memory]") {
  FailingHeap heap;
  {
    RuntimePtr rt = runtime_on(heap);
    const ModelCase c = attention_case("attention GQA g=4, partial RoPE, scale");
    const SyntheticModel weights = build_attention_weights(c);
    ModelPtr model = load_model(rt.get(), weights);
    const uint32_t vocab = c.config.vocab_size;
    const std::vector<int32_t> tokens = random_tokens(2, 200, vocab);

    // Sessions and their twins at positions where the next tokens need new pages.
    struct Pair {
      SessionPtr session, twin;
      std::vector<uint8_t> saved;
    };
    auto pair_at = [&](size_t at, int32_t kv) {
      Pair p{make_session(model.get(), kv), make_session(model.get(), kv), {}};
      if (at) {
        REQUIRE(mmb_session_prefill(p.session.get(), tokens.data(), at, nullptr, 0) == MMB_OK);
        REQUIRE(mmb_session_prefill(p.twin.get(), tokens.data(), at, nullptr, 0) == MMB_OK);
      }
      p.saved = save_state(p.session.get());
      return p;
    };
    auto unchanged = [](Pair& p) {
      CHECK(save_state(p.session.get()) == p.saved);
    };

    // A step into a new page, a prefill across three, a batch whose sessions each need one.
    Pair one = pair_at(64, MMB_KV_F16);
    const size_t step_points = inject_each(
        heap, [&] { return mmb_session_step(one.session.get(), 5, nullptr, 0); }, [&] { unchanged(one); });
    Pair many = pair_at(0, MMB_KV_F32);
    std::vector<float> logits(vocab);
    const size_t prefill_points = inject_each(
        heap, [&] { return mmb_session_prefill(many.session.get(), tokens.data(), 140, logits.data(), logits.size()); },
        [&] { unchanged(many); });
    std::vector<Pair> batch;
    for (size_t at : {64, 128, 0}) batch.push_back(pair_at(at, at == 128 ? MMB_KV_F32 : MMB_KV_F16));
    mmb_session* handles[] = {batch[0].session.get(), batch[1].session.get(), batch[2].session.get()};
    const int32_t batch_tokens[] = {1, 2, 3};
    const size_t batch_points = inject_each(
        heap, [&] { return mmb_step_batch(handles, batch_tokens, 3, nullptr, 0); },
        [&] {
          for (Pair& p : batch) unchanged(p);
        });
    // A state of 150 tokens loaded over one of 64, and a fork of it.
    Pair source = pair_at(150, MMB_KV_F16), target = pair_at(64, MMB_KV_F16);
    const size_t load_points = inject_each(
        heap, [&] { return mmb_session_state_load(target.session.get(), source.saved.data(), source.saved.size()); },
        [&] { unchanged(target); });
    mmb_session* forked = nullptr;
    const size_t fork_points = inject_each(
        heap, [&] { forked = nullptr; return mmb_session_fork(source.session.get(), &forked); },
        [&] { CHECK(forked == nullptr); });
    SessionPtr fork(forked);
    std::printf("[oom] KV growth: step %zu injection points, prefill %zu, batch %zu, state load %zu, fork %zu\n",
                step_points, prefill_points, batch_points, load_points, fork_points);
    CHECK(step_points == 1);
    CHECK(prefill_points == 3);
    CHECK(batch_points == 3);
    CHECK(load_points == 2);
    CHECK(fork_points > 3);

    // Each then went on exactly like its twin.
    step(one.twin.get(), 5);
    CHECK(save_state(one.session.get()) == save_state(one.twin.get()));
    std::vector<float> twin_logits(vocab);
    REQUIRE(mmb_session_prefill(many.twin.get(), tokens.data(), 140, twin_logits.data(), vocab) == MMB_OK);
    CHECK(same_bits(logits, twin_logits));
    CHECK(save_state(many.session.get()) == save_state(many.twin.get()));
    for (size_t i = 0; i < 3; ++i) {
      step(batch[i].twin.get(), batch_tokens[i]);
      CHECK(save_state(batch[i].session.get()) == save_state(batch[i].twin.get()));
    }
    CHECK(save_state(target.session.get()) == source.saved);
    CHECK(save_state(fork.get()) == source.saved);
    CHECK(same_bits(step(fork.get(), 9), step(source.twin.get(), 9)));
  }
  CHECK(heap.outstanding() == 0);
  CHECK(heap.misuses() == 0);
}

TEST_CASE("jobs on a hybrid model: the end of the context ends the job with MMB_ERR_CONTEXT_FULL", "[jobs][context]") {
  // Two jobs on one model, stepped in the same batches (frame mode: the waiting thread
  // advances both): one in a session of 40 tokens, one with room to spare. The first
  // ends with MMB_ERR_CONTEXT_FULL once its context is full, every token it emitted in
  // its state; the second is not affected and produces what mmb_generate produces.
  RuntimePtr rt = frame_runtime();
  ModelPtr model = load_model(rt.get(), build_attention_weights(attention_case("attention only")));
  mmb_sampler_params params;
  REQUIRE(mmb_sampler_params_init(&params, sizeof params) == MMB_OK);
  params.seed = 5;
  mmb_sampler* raw = nullptr;
  REQUIRE(mmb_sampler_create(&params, &raw) == MMB_OK);
  SamplerPtr sampler(raw);
  mmb_job_options o;
  REQUIRE(mmb_job_options_init(&o, sizeof o) == MMB_OK);
  o.max_tokens = 60;
  o.stop_at_eos = 0;
  o.tokenize_flags = 0;
  const std::string prompt = "Ten bytes.";

  SessionPtr small = make_session(model.get(), MMB_KV_F16, 40), roomy = make_session(model.get(), MMB_KV_F16, 200);
  mmb_job *a = nullptr, *b = nullptr;
  REQUIRE(mmb_job_submit_text(small.get(), sampler.get(), prompt.data(), prompt.size(), &o, &a) == MMB_OK);
  REQUIRE(mmb_job_submit_text(roomy.get(), sampler.get(), prompt.data(), prompt.size(), &o, &b) == MMB_OK);
  JobPtr job_a(a), job_b(b);
  int32_t state = -1;
  REQUIRE(mmb_job_wait(b, 60000, &state) == MMB_OK);
  REQUIRE(state == MMB_JOB_FINISHED);
  REQUIRE(mmb_job_wait(a, 60000, &state) == MMB_OK);
  REQUIRE(state == MMB_JOB_FINISHED);

  mmb_status result = MMB_OK;
  REQUIRE(mmb_job_poll(a, &state, &result) == MMB_OK);
  CHECK(result == MMB_ERR_CONTEXT_FULL);
  size_t emitted = 0;
  std::vector<int32_t> tokens(100);
  REQUIRE(mmb_job_read_tokens(a, tokens.data(), tokens.size(), &emitted) == MMB_OK);
  CHECK(position(small.get()) == 40);
  CHECK(emitted == 40 - prompt.size());

  REQUIRE(mmb_job_poll(b, &state, &result) == MMB_OK);
  CHECK(result == MMB_OK);
  size_t n = 0;
  REQUIRE(mmb_job_read_tokens(b, tokens.data(), tokens.size(), &n) == MMB_OK);
  tokens.resize(n);
  CHECK(n == 60);
  std::vector<int32_t> generated;
  mmb_generate_options go;
  REQUIRE(mmb_generate_options_init(&go, sizeof go) == MMB_OK);
  go.max_tokens = 60;
  go.stop_at_eos = 0;
  go.tokenize_flags = 0;
  SessionPtr blocking = make_session(model.get(), MMB_KV_F16, 200);
  auto collect = [](void* user, int32_t token, const char*, size_t) -> int32_t {
    if (token >= 0) static_cast<std::vector<int32_t>*>(user)->push_back(token);
    return 1;
  };
  REQUIRE(mmb_generate(blocking.get(), sampler.get(), prompt.data(), prompt.size(), &go, collect, &generated) == MMB_OK);
  CHECK(tokens == generated);

  // A prompt longer than what is left of the context is refused at submission.
  mmb_job* refused = nullptr;
  REQUIRE(mmb_session_reset(small.get()) == MMB_OK);
  const std::string long_prompt(41, 'x');
  CHECK(mmb_job_submit_text(small.get(), sampler.get(), long_prompt.data(), long_prompt.size(), &o, &refused) ==
        MMB_ERR_CONTEXT_FULL);
  CHECK(refused == nullptr);
  CHECK(position(small.get()) == 0);
}
