// mmb_tokenize on arbitrary bytes (with and without special-token parsing), then the
// streaming detokenizer over the ids and over ids taken from the input itself, for the
// byte model and a small BPE model. The byte model gives one id per byte.
#include "fuzz_models.hpp"

#include <cstdlib>
#include <cstring>
#include <string>

using namespace mmb::fuzz;

namespace {

std::string detokenize(const mmb_model* model, const std::vector<int32_t>& ids) {
  mmb_detokenizer* detok = nullptr;
  if (mmb_detokenizer_create(model, &detok) != MMB_OK) std::abort();
  std::string out;
  char buf[64];
  size_t len = 0;
  for (int32_t id : ids) {
    if (mmb_detokenizer_push(detok, id, buf, sizeof buf, &len) == MMB_OK) out.append(buf, len);
  }
  if (mmb_detokenizer_flush(detok, buf, sizeof buf, &len) == MMB_OK) out.append(buf, len);
  mmb_detokenizer_destroy(detok);
  return out;
}

std::vector<int32_t> tokenize(const mmb_model* model, const uint8_t* data, size_t size, uint32_t flags) {
  const char* text = reinterpret_cast<const char*>(data);
  size_t n = 0;
  const mmb_status counted = mmb_tokenize(model, text, size, nullptr, 0, &n, flags);
  if (counted != MMB_OK && counted != MMB_ERR_BUFFER_TOO_SMALL) std::abort();
  std::vector<int32_t> ids(n);
  size_t again = 0;
  if (mmb_tokenize(model, text, size, ids.data(), ids.size(), &again, flags) != MMB_OK || again != n) std::abort();
  return ids;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static RuntimePtr runtime = single_thread_runtime();
  static ModelPtr bytes_model = load_valid(runtime.get(), tiny_bundle(false));
  static ModelPtr bpe_model = load_valid(runtime.get(), bpe_bundle());

  const std::vector<int32_t> byte_ids = tokenize(bytes_model.get(), data, size, 0);
  if (byte_ids.size() != size) std::abort();
  detokenize(bytes_model.get(), byte_ids);

  for (uint32_t flags : {0u, uint32_t(MMB_TOKENIZE_PARSE_SPECIAL | MMB_TOKENIZE_ADD_BOS)}) {
    const std::vector<int32_t> ids = tokenize(bpe_model.get(), data, size, flags);
    detokenize(bpe_model.get(), ids);
  }
  // Arbitrary ids, in range or not, straight from the input.
  std::vector<int32_t> raw(size / 2);
  for (size_t i = 0; i < raw.size(); ++i) raw[i] = int32_t(int8_t(data[2 * i])) * 3 + data[2 * i + 1];
  detokenize(bpe_model.get(), raw);
  detokenize(bytes_model.get(), raw);
  return 0;
}
