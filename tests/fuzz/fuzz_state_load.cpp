// mmb_session_state_load on arbitrary bytes into sessions of real tiny models: a Mamba
// model (state format 1.0) and a hybrid with attention layers (1.1: KV cache after the
// floats), the latter with an f16 and an f32 cache; a session must step afterwards
// whether the load succeeded or not (a hybrid session at its context limit says
// MMB_ERR_CONTEXT_FULL instead). Each input is tried as given and again with its
// checksum made right (when its header is consistent), so the fuzzer also explores
// blobs that pass the checksum: positions, KV sizes and types, odd floats.
#include "fuzz_models.hpp"

#include "base/checksum.hpp"

#include <array>
#include <cstdlib>
#include <cstring>

using namespace mmb::fuzz;

namespace {

// The blob with bytes [40, 48) set to the xxh64 the loader expects (over bytes
// [0, 40), [48, header_size) and the payload: floats, then KV bytes from version 1.1),
// or empty when the header's sizes do not describe the input.
std::vector<uint8_t> with_valid_checksum(const uint8_t* data, size_t size) {
  if (size < 48) return {};
  uint16_t minor = 0;
  uint32_t header_size = 0;
  uint64_t count = 0, kv_bytes = 0;
  std::memcpy(&minor, data + 10, 2);
  std::memcpy(&header_size, data + 12, 4);
  std::memcpy(&count, data + 32, 8);
  if (header_size < 48 || header_size > size) return {};
  if (minor >= 1) {
    if (header_size < 64) return {};
    std::memcpy(&kv_bytes, data + 56, 8);
  }
  const uint64_t room = size - header_size;
  if (count > room / 4 || kv_bytes != room - count * 4) return {};
  std::vector<uint8_t> blob(data, data + size);
  mmb::Xxh64Stream hash;
  hash.update(blob.data(), 40);
  hash.update(blob.data() + 48, header_size - 48);
  hash.update(blob.data() + header_size, room);
  const uint64_t sum = hash.digest();
  std::memcpy(blob.data() + 40, &sum, 8);
  return blob;
}

SessionPtr make_session(mmb_model* model, int32_t kv_type) {
  mmb_session_options options;
  if (mmb_session_options_init(&options, sizeof options) != MMB_OK) std::abort();
  options.kv_type = kv_type;
  mmb_session* s = nullptr;
  if (mmb_session_create(model, &options, &s) != MMB_OK) std::abort();
  return SessionPtr(s);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static RuntimePtr runtime = single_thread_runtime();
  static ModelPtr model = load_valid(runtime.get(), tiny_bundle(false));
  static ModelPtr hybrid = load_valid(runtime.get(), hybrid_bundle());
  static std::array<SessionPtr, 3> sessions = {make_session(model.get(), MMB_KV_F16),
                                               make_session(hybrid.get(), MMB_KV_F16),
                                               make_session(hybrid.get(), MMB_KV_F32)};
  std::vector<float> logits(256);
  const std::vector<uint8_t> fixed = with_valid_checksum(data, size);
  for (const SessionPtr& session : sessions)
    for (const auto& [bytes, n] : {std::pair{data, size}, std::pair{fixed.data(), fixed.size()}}) {
      mmb_session_reset(session.get());
      mmb_session_state_load(session.get(), bytes, n);
      const mmb_status s = mmb_session_step(session.get(), 'a', logits.data(), logits.size());
      if (s == MMB_OK) continue;
      uint64_t position = 0;
      if (s != MMB_ERR_CONTEXT_FULL || mmb_session_get_position(session.get(), &position) != MMB_OK ||
          position < kHybridContext)
        std::abort();
    }
  return 0;
}
