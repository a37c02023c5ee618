// The table the CUDA backend plugin (libmoemamba_cuda.so, built from kernels/) hands
// the core. The core never links CUDA: src/backend/cuda_backend.cpp dlopens the plugin,
// calls its one exported function and reaches everything else through this table.
//
// The model crosses as the core's own C++ structs (ModelConfig, ModelWeights), so a
// plugin works only with the core of the same build: the entry point refuses any
// other kAbiVersion, and the core checks build_id against its own before use. No
// exception crosses the table: every function catches inside, fills `error` and
// returns an mmb_status (MMB_ERR_OUT_OF_MEMORY when device memory runs out,
// MMB_ERR_BACKEND for any other CUDA or cuBLAS failure).
//
// Threads: functions on one CudaModel (and its states) may be called from several
// host threads; the plugin serialises them per model (one stream per model). Device
// functions are thread-safe.
#pragma once

#include "model/model_config.hpp"
#include "model/model_weights.hpp"

#include <moemamba/moemamba.h>

#include <cstddef>
#include <cstdint>

namespace mmb::cuda_plugin {

inline constexpr uint32_t kAbiVersion = 1;

// What the core and the plugin compare: the library version and the sizes of the
// structs that cross the table.
#define MMB_CUDA_PLUGIN_STRINGIFY2(x) #x
#define MMB_CUDA_PLUGIN_STRINGIFY(x) MMB_CUDA_PLUGIN_STRINGIFY2(x)
inline const char* build_id() {
  static const char id[] = MMB_CUDA_PLUGIN_STRINGIFY(MMB_VERSION_MAJOR) "." MMB_CUDA_PLUGIN_STRINGIFY(
      MMB_VERSION_MINOR) "." MMB_CUDA_PLUGIN_STRINGIFY(MMB_VERSION_PATCH) "/abi" MMB_CUDA_PLUGIN_STRINGIFY(MMB_ABI_VERSION);
  return id;
}
inline constexpr uint64_t layout_check() {
  return sizeof(ModelConfig) * 1000003ull + sizeof(LayerConfig) * 10007ull + sizeof(ModelWeights) * 101ull +
         sizeof(LayerWeights) * 7ull + sizeof(Matrix);
}

// A failure's message, written by the plugin (NUL-terminated, truncated to fit).
struct ErrorText {
  char message[512];
};

struct DeviceInfo {
  int32_t index = 0;
  char name[128] = {};
  int32_t compute_major = 0, compute_minor = 0;
  uint64_t memory_total = 0;  // bytes of device memory
  uint64_t memory_free = 0;   // free when the device was opened
};

// Opaque to the core.
struct Device;
struct CudaModel;
struct CudaState;

struct Table {
  uint32_t abi_version;  // kAbiVersion
  const char* build_id;  // build_id() as the plugin was compiled
  uint64_t layout;       // layout_check() as the plugin was compiled

  // Devices present (0 when there is no driver or no device: not an error).
  int32_t (*device_count)();
  // Opens device `index` (its context, streams and cuBLAS handle) and describes it.
  mmb_status (*device_open)(int32_t index, Device** out, DeviceInfo* info, ErrorText* error);
  void (*device_close)(Device* device);  // after every model on it is freed
  // Device memory this plugin holds on `device` now (weights, states, scratch), bytes.
  uint64_t (*device_bytes_used)(const Device* device);

  // Copies the model's weights to the device (f16 and bf16 kept, f32 kept, q8 and q4 widened
  // to f16) and builds what stepping needs. The weights are read during the call only.
  mmb_status (*model_upload)(Device* device, const ModelConfig* config, const ModelWeights* weights,
                             CudaModel** out, ErrorText* error);
  void (*model_free)(CudaModel* model);  // after every state of it is freed

  // A session's recurrent state on the device, in the core's layout (state_floats()
  // floats: per Mamba part at LayerWeights::state_offset, the conv window
  // [d_inner, d_conv - 1] oldest first, then the scan state [d_inner, d_state]),
  // created zeroed.
  mmb_status (*state_create)(CudaModel* model, CudaState** out, ErrorText* error);
  void (*state_free)(CudaState* state);
  // host == nullptr: zero the state. Otherwise copy state_floats() floats in.
  mmb_status (*state_write)(CudaModel* model, CudaState* state, const float* host, ErrorText* error);
  mmb_status (*state_read)(CudaModel* model, const CudaState* state, float* host, ErrorText* error);
  mmb_status (*state_copy)(CudaModel* model, const CudaState* from, CudaState* to, ErrorText* error);

  // One token for each of n distinct states (any n >= 1). When logits is not null,
  // row i (vocab_size floats) goes to logits + i * stride.
  mmb_status (*step)(CudaModel* model, CudaState* const* states, const int32_t* tokens, size_t n, float* logits,
                     size_t stride, ErrorText* error);
  // n tokens of one state in order, the same as n steps; logits (vocab_size floats)
  // of the last token when not null.
  mmb_status (*prefill)(CudaModel* model, CudaState* state, const int32_t* tokens, size_t n, float* logits,
                        ErrorText* error);

  // Measures the device's copy bandwidth (bytes read + written per second by a large
  // device-to-device copy), for the benchmarks' memory-bandwidth floor.
  mmb_status (*device_copy_bandwidth)(Device* device, double* bytes_per_s, ErrorText* error);
};

// The plugin's one exported symbol: its table, or nullptr when it was built for
// another abi_version.
using EntryFn = const Table* (*)(uint32_t abi_version);
inline constexpr const char* kEntryName = "mmb_cuda_plugin_table";

}  // namespace mmb::cuda_plugin
