// mmb_session_state_load on arbitrary bytes into a session of a real tiny model; a
// session must step afterwards whether the load succeeded or not. Each input is tried
// as given and again with its checksum made right (when its header is consistent), so
// the fuzzer also explores blobs that pass the checksum: positions, odd floats.
#include "fuzz_models.hpp"

#include "base/checksum.hpp"

#include <cstdlib>
#include <cstring>

using namespace mmb::fuzz;

namespace {

// The blob with bytes [40, 48) set to the xxh64 the loader expects, or empty when the
// header's sizes do not describe the input.
std::vector<uint8_t> with_valid_checksum(const uint8_t* data, size_t size) {
  if (size < 48) return {};
  uint32_t header_size = 0;
  uint64_t count = 0;
  std::memcpy(&header_size, data + 12, 4);
  std::memcpy(&count, data + 32, 8);
  if (header_size < 48 || header_size > size || count != (size - header_size) / 4 ||
      header_size + count * 4 != size)
    return {};
  std::vector<uint8_t> blob(data, data + size);
  mmb::Xxh64Stream hash;
  hash.update(blob.data(), 40);
  hash.update(blob.data() + header_size, count * 4);
  const uint64_t sum = hash.digest();
  std::memcpy(blob.data() + 40, &sum, 8);
  return blob;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static RuntimePtr runtime = single_thread_runtime();
  static ModelPtr model = load_valid(runtime.get(), tiny_bundle(false));
  static SessionPtr session = [] {
    mmb_session* s = nullptr;
    if (mmb_session_create(model.get(), nullptr, &s) != MMB_OK) std::abort();
    return SessionPtr(s);
  }();
  std::vector<float> logits(256);
  const std::vector<uint8_t> fixed = with_valid_checksum(data, size);
  for (const auto& [bytes, n] : {std::pair{data, size}, std::pair{fixed.data(), fixed.size()}}) {
    mmb_session_reset(session.get());
    mmb_session_state_load(session.get(), bytes, n);
    if (mmb_session_step(session.get(), 'a', logits.data(), logits.size()) != MMB_OK) std::abort();
  }
  return 0;
}
