// A CUDA plugin from another build: its table carries a build id the library does not
// share, as a plugin left over from an older release would. The loader must refuse it.
#include "backend/cuda_plugin.hpp"

namespace {

const mmb::cuda_plugin::Table kForeign = {
    mmb::cuda_plugin::kAbiVersion, "0.0.1/abi0", 0, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
    nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr};

}  // namespace

extern "C" __attribute__((visibility("default"))) const mmb::cuda_plugin::Table* mmb_cuda_plugin_table(uint32_t) {
  return &kForeign;
}
