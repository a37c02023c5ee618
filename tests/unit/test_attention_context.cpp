// The context of a session of a model with attention layers, through the public C API:
// steps, prefills and batches that do not fit return MMB_ERR_CONTEXT_FULL with nothing
// consumed, reset makes room, the limit comes from the options or the model; the
// session options' new fields are checked, and mmb_model_info describes the KV cache.
#include <catch2/catch.hpp>

#include "support/attention_models.hpp"
#include "support/model_harness.hpp"

#include <moemamba/moemamba.h>

#include <cstddef>
#include <cstring>

using namespace mmb;
using namespace mmb::testing;

namespace {

// What a refused call must leave as it was: position, saved state, the next logits.
struct Snapshot {
  uint64_t at;
  std::vector<uint8_t> state;
  explicit Snapshot(const mmb_session* s) : at(position(s)), state(save_state(s)) {}
  void check_unchanged(const mmb_session* s) const {
    CHECK(position(s) == at);
    CHECK(save_state(s) == state);
  }
};

mmb_status create(mmb_model* model, const mmb_session_options& o, SessionPtr& out) {
  mmb_session* s = nullptr;
  const mmb_status status = mmb_session_create(model, &o, &s);
  out.reset(s);
  return status;
}

mmb_session_options options() {
  mmb_session_options o;
  REQUIRE(mmb_session_options_init(&o, sizeof o) == MMB_OK);
  return o;
}

}  // namespace

TEST_CASE("a step, prefill or batch that does not fit the context returns MMB_ERR_CONTEXT_FULL, consuming nothing",
          "[session][context]") {
  AttentionFixture f("jamba-like");
  const std::vector<int32_t> tokens = random_tokens(4, 80, f.vocab);
  const float sentinel = -4242.0f;
  for (int32_t kv : {MMB_KV_F16, MMB_KV_F32}) {
    INFO("kv_type " << kv);
    // A context of 70: one page and part of a second.
    SessionPtr s = f.session(kv, 70), twin = f.session(kv, 70);
    REQUIRE(mmb_session_prefill(s.get(), tokens.data(), 67, nullptr, 0) == MMB_OK);
    REQUIRE(mmb_session_prefill(twin.get(), tokens.data(), 67, nullptr, 0) == MMB_OK);

    // A prefill of 4 at position 67: 3 would fit, none is taken.
    Snapshot at67(s.get());
    std::vector<float> logits(f.vocab, sentinel);
    CHECK(mmb_session_prefill(s.get(), tokens.data() + 67, 4, logits.data(), logits.size()) == MMB_ERR_CONTEXT_FULL);
    CHECK_THAT(std::string(mmb_last_error()), Catch::Contains("70"));
    at67.check_unchanged(s.get());
    CHECK(logits == std::vector<float>(f.vocab, sentinel));

    // Exactly filling the context is fine.
    CHECK(same_bits(step(s.get(), tokens[67]), step(twin.get(), tokens[67])));
    std::vector<float> a(f.vocab), b(f.vocab);
    REQUIRE(mmb_session_prefill(s.get(), tokens.data() + 68, 2, a.data(), a.size()) == MMB_OK);
    REQUIRE(mmb_session_prefill(twin.get(), tokens.data() + 68, 2, b.data(), b.size()) == MMB_OK);
    CHECK(same_bits(a, b));

    // At the limit: a step, a prefill of one, a batch.
    Snapshot full(s.get());
    CHECK(mmb_session_step(s.get(), 5, logits.data(), logits.size()) == MMB_ERR_CONTEXT_FULL);
    CHECK(mmb_session_step(s.get(), 5, nullptr, 0) == MMB_ERR_CONTEXT_FULL);
    CHECK(mmb_session_prefill(s.get(), tokens.data(), 1, nullptr, 0) == MMB_ERR_CONTEXT_FULL);
    CHECK(logits == std::vector<float>(f.vocab, sentinel));
    full.check_unchanged(s.get());

    // A batch with one full session steps none of them.
    SessionPtr roomy = f.session(kv), roomy_twin = f.session(kv);
    step(roomy.get(), 9);
    step(roomy_twin.get(), 9);
    Snapshot roomy_before(roomy.get());
    mmb_session* batch[] = {roomy.get(), s.get()};
    const int32_t batch_tokens[] = {1, 2};
    std::vector<float> rows(2 * f.vocab, sentinel);
    CHECK(mmb_step_batch(batch, batch_tokens, 2, rows.data(), f.vocab) == MMB_ERR_CONTEXT_FULL);
    CHECK(rows == std::vector<float>(2 * f.vocab, sentinel));
    roomy_before.check_unchanged(roomy.get());
    full.check_unchanged(s.get());
    CHECK(same_bits(step(roomy.get(), 4), step(roomy_twin.get(), 4)));

    // Reset makes room: the session is then a fresh one.
    REQUIRE(mmb_session_reset(s.get()) == MMB_OK);
    CHECK(position(s.get()) == 0);
    SessionPtr fresh = f.session(kv, 70);
    CHECK(save_state(s.get()) == save_state(fresh.get()));
    CHECK(same_bits(step(s.get(), tokens[0]), step(fresh.get(), tokens[0])));
    CHECK(mmb_session_prefill(s.get(), tokens.data() + 1, 69, nullptr, 0) == MMB_OK);
    CHECK(mmb_session_step(s.get(), 0, nullptr, 0) == MMB_ERR_CONTEXT_FULL);
  }
  CHECK(std::string(mmb_status_string(MMB_ERR_CONTEXT_FULL)) == "MMB_ERR_CONTEXT_FULL");
}

TEST_CASE("a batch of more than 256 sessions with one full consumes nothing", "[session][context]") {
  // The batch is stepped in groups of 256 sessions: the room of every session, in every
  // group, is checked before the first group steps.
  AttentionFixture f("attention only");
  std::vector<SessionPtr> sessions;
  std::vector<mmb_session*> handles;
  for (size_t i = 0; i < 257; ++i) {
    sessions.push_back(f.session(MMB_KV_F16, i == 256 ? 1 : 0));
    handles.push_back(sessions.back().get());
  }
  step(handles[256], 3);  // the last session's context is now full
  const std::vector<int32_t> tokens(257, 1);
  CHECK(mmb_step_batch(handles.data(), tokens.data(), tokens.size(), nullptr, 0) == MMB_ERR_CONTEXT_FULL);
  for (size_t i = 0; i < 256; ++i) CHECK(position(handles[i]) == 0);
  CHECK(position(handles[256]) == 1);
}

TEST_CASE("the context limit: the session's max_context, else the model's context_length, else 4096",
          "[session][context]") {
  // context_length 100 in the model: a session without max_context takes 100 tokens.
  ModelCase c = attention_case("attention MHA, no RoPE");
  c.config.context_length = 100;
  RuntimePtr rt = make_runtime();
  ModelPtr model = load_model(rt.get(), build_attention_weights(c));
  CHECK(model_info(model.get()).context_length == 100);
  const std::vector<int32_t> tokens = random_tokens(6, 100, c.config.vocab_size);
  SessionPtr by_model = make_session(model.get());
  REQUIRE(mmb_session_prefill(by_model.get(), tokens.data(), 100, nullptr, 0) == MMB_OK);
  CHECK(mmb_session_step(by_model.get(), 1, nullptr, 0) == MMB_ERR_CONTEXT_FULL);
  // max_context overrides it, above or below.
  SessionPtr larger = make_session(model.get(), MMB_KV_F16, 101);
  REQUIRE(mmb_session_prefill(larger.get(), tokens.data(), 100, nullptr, 0) == MMB_OK);
  CHECK(mmb_session_step(larger.get(), 1, nullptr, 0) == MMB_OK);
  CHECK(mmb_session_step(larger.get(), 1, nullptr, 0) == MMB_ERR_CONTEXT_FULL);
  SessionPtr smaller = make_session(model.get(), MMB_KV_F32, 3);
  REQUIRE(mmb_session_prefill(smaller.get(), tokens.data(), 3, nullptr, 0) == MMB_OK);
  CHECK(mmb_session_step(smaller.get(), 1, nullptr, 0) == MMB_ERR_CONTEXT_FULL);

  // context_length 0: 4096.
  AttentionFixture f("attention MHA, no RoPE");
  CHECK(model_info(f.model.get()).context_length == 4096);
  SessionPtr s = f.session();
  const std::vector<int32_t> long_prompt = random_tokens(7, 4096, f.vocab);
  REQUIRE(mmb_session_prefill(s.get(), long_prompt.data(), 4096, nullptr, 0) == MMB_OK);
  CHECK(mmb_session_step(s.get(), 1, nullptr, 0) == MMB_ERR_CONTEXT_FULL);

  // A model without attention layers has no limit: max_context is ignored.
  const ModelCase plain = parity_cases()[0];
  ModelPtr plain_model = load_model(rt.get(), build_weights(plain));
  CHECK(model_info(plain_model.get()).context_length == 0);
  SessionPtr unlimited = make_session(plain_model.get(), MMB_KV_F32, 2);
  for (int32_t t : random_tokens(8, 10, plain.config.vocab_size)) CHECK(mmb_session_step(unlimited.get(), t, nullptr, 0) == MMB_OK);
}

TEST_CASE("mmb_session_options: max_context and kv_type are checked, the 8-byte version still works", "[session][context]") {
  AttentionFixture f("attention MHA, no RoPE");
  mmb_session_options o = options();
  CHECK(o.struct_size == sizeof o);
  CHECK(o.max_context == 0);
  CHECK(o.kv_type == MMB_KV_F16);
  CHECK(o.reserved == 0);
  struct Bad {
    const char* what;
    void (*edit)(mmb_session_options&);
    const char* field;
  };
  const Bad bad[] = {
      {"kv_type 2", [](mmb_session_options& x) { x.kv_type = 2; }, "kv_type"},
      {"kv_type -1", [](mmb_session_options& x) { x.kv_type = -1; }, "kv_type"},
      {"reserved set", [](mmb_session_options& x) { x.reserved = 1; }, "reserved"},
      {"max_context above 2^24", [](mmb_session_options& x) { x.max_context = (1ull << 24) + 1; }, "max_context"},
      {"flags set", [](mmb_session_options& x) { x.flags = 1; }, "flags"},
      {"a struct_size no header had", [](mmb_session_options& x) { x.struct_size = 16; }, "struct_size"},
  };
  for (const Bad& b : bad) {
    INFO(b.what);
    mmb_session_options x = options();
    b.edit(x);
    SessionPtr s;
    CHECK(create(f.model.get(), x, s) == MMB_ERR_INVALID_ARGUMENT);
    CHECK(s == nullptr);
    CHECK_THAT(std::string(mmb_last_error()), Catch::Contains(b.field));
  }
  {  // The largest context is accepted (its pages are taken only as it fills).
    mmb_session_options x = options();
    x.max_context = 1ull << 24;
    SessionPtr s;
    CHECK(create(f.model.get(), x, s) == MMB_OK);
  }

  // A host built against the 0.4 header passes 8 bytes: the fields past them are not
  // read (here: garbage), and the defaults apply (f16, the model's context).
  mmb_session_options old;
  std::memset(&old, 0xAB, sizeof old);
  REQUIRE(mmb_session_options_init(&old, offsetof(mmb_session_options, max_context)) == MMB_OK);
  CHECK(old.struct_size == 8);
  CHECK(old.kv_type == int32_t(0xABABABAB));  // init wrote nothing past its 8 bytes
  SessionPtr s;
  REQUIRE(create(f.model.get(), old, s) == MMB_OK);
  step(s.get(), 1);
  const std::vector<uint8_t> blob = save_state(s.get());
  uint32_t kv_type = 9;
  std::memcpy(&kv_type, blob.data() + 48, 4);
  CHECK(kv_type == MMB_KV_F16);
}

TEST_CASE("mmb_model_info: attention layers, context length and KV values per token", "[session][context]") {
  AttentionFixture f("jamba-like");  // mamba, moe, attention (2 kv heads of 4), mlp, mamba, moe
  const mmb_model_info info = model_info(f.model.get());
  CHECK(info.n_layers == 6);
  CHECK(info.n_attention_layers == 1);
  CHECK(info.n_mamba_layers == 2);
  CHECK(info.n_moe_layers == 2);
  CHECK(info.n_mlp_layers == 1);
  CHECK(info.context_length == 4096);
  CHECK(info.kv_values_per_token == 2 * 2 * 4);
  CHECK(info.kv_values_per_token == expected_kv_values_per_token(f.c.config));
  CHECK(info.state_bytes == 4 * state_floats(f.c.config));

  AttentionFixture two("attention GQA g=2, full RoPE, q/k/v/o biases");  // two layers of 2 kv heads of 8
  CHECK(model_info(two.model.get()).n_attention_layers == 2);
  CHECK(model_info(two.model.get()).kv_values_per_token == 2 * (2 * 2 * 8));

  RuntimePtr rt = make_runtime();
  ModelPtr plain = load_model(rt.get(), build_weights(parity_cases()[0]));
  const mmb_model_info p = model_info(plain.get());
  CHECK(p.n_attention_layers == 0);
  CHECK(p.context_length == 0);
  CHECK(p.kv_values_per_token == 0);

  // A host built against the 0.4 header passes the struct without the new fields:
  // accepted, and nothing past it is written.
  mmb_model_info old;
  std::memset(&old, 0xCD, sizeof old);
  old.struct_size = offsetof(mmb_model_info, n_attention_layers);
  REQUIRE(mmb_model_get_info(f.model.get(), &old) == MMB_OK);
  CHECK(old.n_layers == 6);
  CHECK(old.n_attention_layers == int32_t(0xCDCDCDCD));
  CHECK(old.kv_values_per_token == 0xCDCDCDCDCDCDCDCDull);
}
