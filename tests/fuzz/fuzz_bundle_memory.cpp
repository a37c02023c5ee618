// mmb_model_load_memory on arbitrary bytes, with and without checksum verification
// (without, the fuzzer gets past the checksums into the manifest and tensors).
#include "fuzz_models.hpp"
#include "fuzz_session_use.hpp"

using namespace mmb::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static RuntimePtr runtime = single_thread_runtime();
  // A copy at a 64-byte boundary, as a host's own buffer would likely be.
  std::vector<std::byte> bytes(reinterpret_cast<const std::byte*>(data), reinterpret_cast<const std::byte*>(data) + size);
  for (uint32_t flags : {0u, uint32_t(MMB_LOAD_SKIP_CHECKSUMS)}) {
    mmb_load_options options;
    if (mmb_load_options_init(&options, sizeof options) != MMB_OK) std::abort();
    options.flags = flags;
    mmb_model* model = nullptr;
    if (mmb_model_load_memory(runtime.get(), bytes.data(), bytes.size(), &options, &model) != MMB_OK) continue;
    use_loaded_model(model);
    mmb_model_destroy(model);
  }
  return 0;
}
