// Saved states of models with attention layers (state format 1.1: a 64-byte header, the
// recurrent state's floats, then the keys and values of the tokens consumed): the
// format itself, its size, and every blob a session must refuse, leaving itself as it
// was: another model's, one with a KV part where the model has none (and the reverse),
// damaged or truncated ones, and one holding more tokens than the session's context.
#include <catch2/catch.hpp>

#include "support/attention_models.hpp"
#include "support/model_harness.hpp"

#include "base/error.hpp"
#include "runtime/state_blob.hpp"

#include <moemamba/moemamba.h>

#include <algorithm>
#include <cstring>

using namespace mmb;
using namespace mmb::testing;

namespace {

template <typename T>
T field(const std::vector<uint8_t>& blob, size_t at) {
  T v;
  std::memcpy(&v, blob.data() + at, sizeof v);
  return v;
}

mmb_status check_status(const std::vector<std::byte>& blob, uint64_t fingerprint, uint64_t floats, uint64_t kv_values) {
  try {
    check_state_blob(blob.data(), blob.size(), fingerprint, floats, kv_values);
    return MMB_OK;
  } catch (const Error& e) {
    return e.status();
  }
}

// A blob with the given header fields around `payload` (floats then KV bytes), its
// checksum right: for blobs whose only fault is what a test puts in them.
std::vector<uint8_t> craft_blob(uint64_t fingerprint, uint64_t position, const std::vector<uint8_t>& floats,
                                const std::vector<uint8_t>* kv_bytes, uint32_t kv_type = 0) {
  const StateKv kv{kv_type, kv_bytes ? kv_bytes->size() : 0};
  const size_t header = state_header_size(kv_bytes ? &kv : nullptr);
  std::vector<uint8_t> blob(header + floats.size() + kv.bytes);
  std::copy(floats.begin(), floats.end(), blob.begin() + ptrdiff_t(header));
  if (kv_bytes) std::copy(kv_bytes->begin(), kv_bytes->end(), blob.begin() + ptrdiff_t(header + floats.size()));
  write_state_blob(blob.data(), fingerprint, position, nullptr, floats.size() / 4, kv_bytes ? &kv : nullptr);
  return blob;
}

// A session and its twin, fed the same tokens: after a refused load the session must
// still be at its position, save the same state and step exactly like the twin.
struct Bystander {
  SessionPtr session, twin;
  std::vector<uint8_t> saved;
  Bystander(const AttentionFixture& f, int32_t kv, uint64_t max_context = 0)
      : session(f.session(kv, max_context)), twin(f.session(kv, max_context)) {
    const std::vector<int32_t> tokens = random_tokens(8, 70, f.vocab);
    REQUIRE(mmb_session_prefill(session.get(), tokens.data(), tokens.size(), nullptr, 0) == MMB_OK);
    REQUIRE(mmb_session_prefill(twin.get(), tokens.data(), tokens.size(), nullptr, 0) == MMB_OK);
    saved = save_state(session.get());
  }
  void refuses(const std::vector<uint8_t>& blob, mmb_status expected, const char* fragment) {
    const mmb_status s = mmb_session_state_load(session.get(), blob.data(), blob.size());
    const std::string message = mmb_last_error();
    INFO(message);
    CHECK(s == expected);
    CHECK_THAT(message, Catch::Contains(fragment));
    CHECK(position(session.get()) == 70);
    CHECK(save_state(session.get()) == saved);
    CHECK(same_bits(step(session.get(), 3), step(twin.get(), 3)));
    REQUIRE(mmb_session_state_load(session.get(), saved.data(), saved.size()) == MMB_OK);
    REQUIRE(mmb_session_state_load(twin.get(), saved.data(), saved.size()) == MMB_OK);
  }
};

}  // namespace

TEST_CASE("a 1.1 state blob: header fields, round trip, and damage found at every byte", "[state]") {
  const std::vector<float> floats = {1.5f, -2.0f, 3.25f};
  const std::vector<uint8_t> kv = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};  // 3 tokens x 2 values x f16
  std::vector<uint8_t> float_bytes(12);
  std::memcpy(float_bytes.data(), floats.data(), 12);
  const std::vector<uint8_t> made = craft_blob(77, 3, float_bytes, &kv, 0);
  const std::vector<std::byte> blob(reinterpret_cast<const std::byte*>(made.data()),
                                    reinterpret_cast<const std::byte*>(made.data()) + made.size());
  REQUIRE(blob.size() == 64 + 12 + 12);
  CHECK(field<uint16_t>(made, 8) == 1);
  CHECK(field<uint16_t>(made, 10) == 1);
  CHECK(field<uint32_t>(made, 12) == 64);
  CHECK(field<uint32_t>(made, 48) == 0);
  CHECK(field<uint32_t>(made, 52) == 0);
  CHECK(field<uint64_t>(made, 56) == 12);
  const StateBlobView view = check_state_blob(blob.data(), blob.size(), 77, 3, 2);
  CHECK(view.position == 3);
  CHECK(std::memcmp(view.payload, floats.data(), 12) == 0);
  REQUIRE(view.kv != nullptr);
  CHECK(std::memcmp(view.kv, kv.data(), kv.size()) == 0);

  for (size_t cut = 0; cut < blob.size(); ++cut) {
    INFO("cut at " << cut);
    CHECK(check_status(std::vector<std::byte>(blob.begin(), blob.begin() + ptrdiff_t(cut)), 77, 3, 2) == MMB_ERR_FORMAT);
  }
  for (size_t i = 0; i < blob.size(); ++i) {
    INFO("byte " << i << " flipped");
    std::vector<std::byte> flipped = blob;
    flipped[i] ^= std::byte{0x10};
    // The major version decides first; every other byte is covered by the magic, the
    // header's consistency or the checksum (the KV bytes included).
    CHECK(check_status(flipped, 77, 3, 2) == (i == 8 || i == 9 ? MMB_ERR_UNSUPPORTED : MMB_ERR_FORMAT));
  }
}

TEST_CASE("a saved state's size: 64-byte header, the floats, the keys and values of every token", "[state][session]") {
  AttentionFixture f("jamba-like");
  const uint64_t floats = state_floats(f.c.config), kv_values = expected_kv_values_per_token(f.c.config);
  CHECK(model_info(f.model.get()).kv_values_per_token == kv_values);
  for (int32_t kv : {MMB_KV_F16, MMB_KV_F32}) {
    const size_t element = kv == MMB_KV_F16 ? 2 : 4;
    SessionPtr s = f.session(kv);
    uint64_t at = 0;
    for (uint64_t p : {0, 1, 64, 65, 130}) {
      for (; at < p; ++at) REQUIRE(mmb_session_step(s.get(), int32_t(at % f.vocab), nullptr, 0) == MMB_OK);
      INFO("kv_type " << kv << ", position " << p);
      size_t size = 0;
      REQUIRE(mmb_session_state_size(s.get(), &size) == MMB_OK);
      CHECK(size == kStateHeaderSizeWithKv + 4 * floats + p * kv_values * element);
      const std::vector<uint8_t> blob = save_state(s.get());
      REQUIRE(blob.size() == size);
      CHECK(field<uint16_t>(blob, 10) == 1);
      CHECK(field<uint32_t>(blob, 12) == kStateHeaderSizeWithKv);
      CHECK(field<uint64_t>(blob, 24) == p);
      CHECK(field<uint32_t>(blob, 48) == uint32_t(kv));
      CHECK(field<uint64_t>(blob, 56) == p * kv_values * element);
    }
  }
  // A model without attention layers still writes the 48-byte 1.0 header and a
  // constant size.
  RuntimePtr rt = make_runtime();
  const ModelCase plain = parity_cases()[0];
  ModelPtr model = load_model(rt.get(), build_weights(plain));
  SessionPtr s = make_session(model.get());
  const size_t size0 = save_state(s.get()).size();
  for (int32_t t : random_tokens(1, 70, plain.config.vocab_size)) step(s.get(), t);
  const std::vector<uint8_t> blob = save_state(s.get());
  CHECK(blob.size() == size0);
  CHECK(blob.size() == kStateHeaderSize + 4 * state_floats(plain.config));
  CHECK(field<uint16_t>(blob, 10) == 0);
}

TEST_CASE("a state with a KV part is refused by a model without attention, and the reverse", "[state][session]") {
  // Another model's blob fails on its fingerprint; blobs made with the right fingerprint
  // fail on the KV part itself: STATE_MISMATCH either way.
  AttentionFixture f("jamba-like");
  ModelCase plain = attention_case("jamba-like");
  plain.name = "jamba-like without attention";
  plain.config.layers.erase(plain.config.layers.begin() + 2);  // the attention layer
  const SyntheticModel plain_weights = build_attention_weights(plain);
  ModelPtr plain_model = load_model(f.rt.get(), plain_weights);
  REQUIRE(model_info(plain_model.get()).kv_values_per_token == 0);

  SessionPtr plain_session = make_session(plain_model.get());
  for (int32_t t : random_tokens(9, 5, f.vocab)) step(plain_session.get(), t);
  const std::vector<uint8_t> plain_blob = save_state(plain_session.get());
  Bystander hybrid(f, MMB_KV_F16);
  hybrid.refuses(plain_blob, MMB_ERR_STATE_MISMATCH, "another model");
  // The same floats and fingerprint with a KV part of 5 tokens' worth of bytes.
  const uint64_t plain_fingerprint = field<uint64_t>(plain_blob, 16);
  const std::vector<uint8_t> floats(plain_blob.begin() + kStateHeaderSize, plain_blob.end());
  const std::vector<uint8_t> kv(5 * 2 * 64);
  {
    const std::vector<uint8_t> with_kv = craft_blob(plain_fingerprint, 5, floats, &kv);
    const mmb_status s = mmb_session_state_load(plain_session.get(), with_kv.data(), with_kv.size());
    INFO(mmb_last_error());
    CHECK(s == MMB_ERR_STATE_MISMATCH);
    CHECK_THAT(std::string(mmb_last_error()), Catch::Contains("KV cache"));
    CHECK(save_state(plain_session.get()) == plain_blob);
  }
  // A model without attention accepts a 1.1 blob whose KV part is empty.
  const std::vector<uint8_t> empty;
  const std::vector<uint8_t> empty_kv = craft_blob(plain_fingerprint, 5, floats, &empty);
  CHECK(mmb_session_state_load(plain_session.get(), empty_kv.data(), empty_kv.size()) == MMB_OK);
  CHECK(save_state(plain_session.get()) == plain_blob);

  // The hybrid's blob into the plain model; then rewritten as a 1.0 blob without KV.
  const uint32_t hybrid_floats = uint32_t(4 * state_floats(f.c.config));
  const mmb_status s = mmb_session_state_load(plain_session.get(), hybrid.saved.data(), hybrid.saved.size());
  CHECK(s == MMB_ERR_STATE_MISMATCH);
  const std::vector<uint8_t> no_kv =
      craft_blob(field<uint64_t>(hybrid.saved, 16), 0,
                 std::vector<uint8_t>(hybrid.saved.begin() + 64, hybrid.saved.begin() + 64 + hybrid_floats), nullptr);
  hybrid.refuses(no_kv, MMB_ERR_STATE_MISMATCH, "no KV cache");
}

TEST_CASE("damaged, truncated and inconsistent states are refused and leave the session as it was", "[state][session]") {
  AttentionFixture f("attention GQA g=2, full RoPE, q/k/v/o biases");
  const uint64_t kv_values = expected_kv_values_per_token(f.c.config);
  for (int32_t kv : {MMB_KV_F16, MMB_KV_F32}) {
    INFO("kv_type " << kv);
    Bystander b(f, kv);
    SessionPtr source = f.session(kv);
    const std::vector<int32_t> tokens = random_tokens(12, 100, f.vocab);
    REQUIRE(mmb_session_prefill(source.get(), tokens.data(), tokens.size(), nullptr, 0) == MMB_OK);
    const std::vector<uint8_t> good = save_state(source.get());
    const size_t kv_at = good.size() - 100 * kv_values * (kv == MMB_KV_F16 ? 2 : 4);

    for (size_t at : {kv_at, kv_at + (good.size() - kv_at) / 2, good.size() - 1}) {  // in the KV part
      std::vector<uint8_t> bad = good;
      bad[at] ^= 0x01;
      b.refuses(bad, MMB_ERR_FORMAT, "checksum");
    }
    b.refuses(std::vector<uint8_t>(good.begin(), good.end() - 1), MMB_ERR_FORMAT, "bytes");
    b.refuses(std::vector<uint8_t>(good.begin(), good.begin() + ptrdiff_t(kv_at + 64)), MMB_ERR_FORMAT, "bytes");
    b.refuses(std::vector<uint8_t>(good.begin(), good.begin() + 64), MMB_ERR_FORMAT, "bytes");
    b.refuses(std::vector<uint8_t>(good.begin(), good.begin() + 40), MMB_ERR_FORMAT, "header");

    // Right checksums, wrong contents: a position that does not match the KV bytes, and
    // an unknown KV element type.
    const uint64_t fingerprint = field<uint64_t>(good, 16);
    const std::vector<uint8_t> floats(good.begin() + 64, good.begin() + ptrdiff_t(kv_at));
    const std::vector<uint8_t> kv_part(good.begin() + ptrdiff_t(kv_at), good.end());
    b.refuses(craft_blob(fingerprint, 99, floats, &kv_part, uint32_t(kv)), MMB_ERR_FORMAT, "KV part");
    b.refuses(craft_blob(fingerprint, 100, floats, &kv_part, 2), MMB_ERR_FORMAT, "KV element type");
    // The same bytes read as the other element type describe another token count.
    b.refuses(craft_blob(fingerprint, 100, floats, &kv_part, kv == MMB_KV_F16 ? 1 : 0), MMB_ERR_FORMAT, "KV part");
    CHECK(mmb_session_state_load(b.session.get(), good.data(), good.size()) == MMB_OK);
  }
}

TEST_CASE("a state holding more tokens than the session's context is refused", "[state][session][context]") {
  AttentionFixture f("attention MQA, heads of 6");
  SessionPtr source = f.session(MMB_KV_F16);
  const std::vector<int32_t> tokens = random_tokens(13, 90, f.vocab);
  REQUIRE(mmb_session_prefill(source.get(), tokens.data(), 90, nullptr, 0) == MMB_OK);
  const std::vector<uint8_t> blob = save_state(source.get());

  Bystander small(f, MMB_KV_F32, 89);
  small.refuses(blob, MMB_ERR_CONTEXT_FULL, "89");
  // Exactly the context: loads, and is then full.
  SessionPtr exact = f.session(MMB_KV_F16, 90);
  REQUIRE(mmb_session_state_load(exact.get(), blob.data(), blob.size()) == MMB_OK);
  CHECK(position(exact.get()) == 90);
  CHECK(mmb_session_step(exact.get(), 1, nullptr, 0) == MMB_ERR_CONTEXT_FULL);
  CHECK(mmb_session_reset(exact.get()) == MMB_OK);
  CHECK(same_bits(step(exact.get(), 1), step(make_session(f.model.get(), MMB_KV_F16).get(), 1)));
}
