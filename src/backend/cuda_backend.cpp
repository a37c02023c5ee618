// The plugin is built for Linux only; Windows: cuda_backend_windows.cpp.
#ifndef _WIN32
#include "backend/cuda_backend.hpp"

#include "backend/cuda_plugin.hpp"
#include "base/error.hpp"
#include "model/model.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

namespace mmb {
namespace {

namespace plugin = cuda_plugin;
constexpr const char* kPluginFile = "libmoemamba_cuda.so";

void check(mmb_status status, const plugin::ErrorText& error, const char* what) {
  if (status == MMB_OK) return;
  fail(status, "CUDA backend: ", what, ": ", error.message[0] ? error.message : "no message");
}

// The plugin path the host named in MMB_CUDA_PLUGIN, or nullptr.
const char* plugin_override() {
  const char* path = std::getenv("MMB_CUDA_PLUGIN");
  return path && *path ? path : nullptr;
}

// The folder this library's code was loaded from ("" when unknown).
std::string own_folder() {
  Dl_info info{};
  if (!dladdr(reinterpret_cast<void*>(&open_cuda_backend), &info) || !info.dli_fname) return "";
  std::string path = info.dli_fname;
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash + 1);
}

// The plugin's table, loaded once per process; throws with every place tried.
const plugin::Table& load_table() {
  static std::mutex mutex;
  static const plugin::Table* table = nullptr;
  std::lock_guard lock(mutex);
  if (table) return *table;

  std::string tried;
  void* handle = nullptr;
  auto attempt = [&](const std::string& path) {
    if (handle || path.empty()) return;
    handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!handle) tried += cat("\n  ", path, ": ", dlerror());
  };
  if (const char* path = plugin_override()) {
    attempt(path);
  } else {
    const std::string folder = own_folder();
    if (!folder.empty()) attempt(folder + kPluginFile);
    attempt(kPluginFile);
  }
  if (!handle) fail(MMB_ERR_BACKEND, "the CUDA backend plugin ", kPluginFile, " could not be loaded:", tried);

  auto entry = reinterpret_cast<plugin::EntryFn>(dlsym(handle, plugin::kEntryName));
  if (!entry) fail(MMB_ERR_BACKEND, "the CUDA backend plugin has no ", plugin::kEntryName, " (not a moemamba plugin)");
  const plugin::Table* t = entry(plugin::kAbiVersion);
  if (!t || t->abi_version != plugin::kAbiVersion || std::strcmp(t->build_id, plugin::build_id()) != 0 ||
      t->layout != plugin::layout_check())
    fail(MMB_ERR_BACKEND, "the CUDA backend plugin comes from another build (plugin ", t ? t->build_id : "?",
         ", library ", plugin::build_id(), "): use the plugin shipped with this library");
  table = t;
  return *table;
}

class CudaSession final : public SessionCompute {
 public:
  CudaSession(const plugin::Table& table, plugin::CudaModel* model, plugin::CudaState* state, size_t state_bytes,
              const HostAllocator& allocator)
      : table_(table), model_(model), state_(state), state_bytes_(state_bytes), allocator_(allocator) {}
  ~CudaSession() { table_.state_free(state_); }

  void destroy() noexcept override { HostDeleter<CudaSession>{allocator_}(this); }
  void read_state(void* out) const override {
    plugin::ErrorText e{};
    check(table_.state_read(model_, state_, static_cast<float*>(out), &e), e, "reading a session's state");
  }
  void write_state(const void* in) override {
    plugin::ErrorText e{};
    check(table_.state_write(model_, state_, static_cast<const float*>(in), &e), e, "writing a session's state");
  }
  void copy_state_from(const SessionCompute& other) override {
    plugin::ErrorText e{};
    check(table_.state_copy(model_, static_cast<const CudaSession&>(other).state_, state_, &e), e, "copying a state");
  }
  // The plugin runs no attention layers (unsupported() refuses them): no KV cache.
  uint64_t kv_tokens() const override { return 0; }
  void read_kv(void*) const override {}
  void write_kv(const void*, uint64_t tokens, KvType) override {
    if (tokens) fail(MMB_ERR_INTERNAL, "a KV cache given to a CUDA session");
  }
  void hold_kv(uint64_t) override {}
  size_t host_bytes() const override { return sizeof(CudaSession) + state_bytes_; }
  plugin::CudaState* state() const { return state_; }

 private:
  const plugin::Table& table_;
  plugin::CudaModel* model_;
  plugin::CudaState* state_;
  size_t state_bytes_;
  HostAllocator allocator_;
};

class CudaModelCompute final : public ModelCompute {
 public:
  CudaModelCompute(const plugin::Table& table, plugin::CudaModel* model, uint64_t state_floats,
                   const HostAllocator& allocator)
      : table_(table), model_(model), state_bytes_(state_floats * sizeof(float)), allocator_(allocator) {}
  ~CudaModelCompute() { table_.model_free(model_); }

  void destroy() noexcept override { HostDeleter<CudaModelCompute>{allocator_}(this); }

  OwnedBy<SessionCompute> create_session(const ContextOptions&) const override {
    plugin::ErrorText e{};
    plugin::CudaState* state = nullptr;
    check(table_.state_create(model_, &state, &e), e, "creating a session's state");
    try {
      return OwnedBy<SessionCompute>(make_host<CudaSession>(allocator_, table_, model_, state, state_bytes_, allocator_).release());
    } catch (...) {
      table_.state_free(state);
      throw;
    }
  }

  // A session's state lives on the device: that is what the session budget counts.
  size_t session_host_bytes(const ContextOptions&) const override { return sizeof(CudaSession) + state_bytes_; }

  void step(SessionCompute* const* sessions, const int32_t* tokens, size_t n, float* logits,
            size_t stride) const override {
    constexpr size_t kGroup = 256;
    plugin::CudaState* states[kGroup];
    for (size_t start = 0; start < n; start += kGroup) {
      const size_t m = std::min(kGroup, n - start);
      for (size_t i = 0; i < m; ++i) states[i] = static_cast<CudaSession*>(sessions[start + i])->state();
      plugin::ErrorText e{};
      check(table_.step(model_, states, tokens + start, m, logits ? logits + start * stride : nullptr, stride, &e), e,
            "step");
    }
  }

  void prefill(SessionCompute& session, const int32_t* tokens, size_t n, float* logits) const override {
    plugin::ErrorText e{};
    check(table_.prefill(model_, static_cast<CudaSession&>(session).state(), tokens, n, logits, &e), e, "prefill");
  }

  size_t prefill_chunk() const override { return 512; }

 private:
  const plugin::Table& table_;
  plugin::CudaModel* model_;
  uint64_t state_bytes_;
  HostAllocator allocator_;
};

class CudaBackend final : public Backend {
 public:
  CudaBackend(const plugin::Table& table, plugin::Device* device, const plugin::DeviceInfo& info,
              const HostAllocator& allocator)
      : table_(table), device_(device), info_(info), allocator_(allocator) {}
  ~CudaBackend() override { table_.device_close(device_); }

  int32_t kind() const override { return MMB_BACKEND_CUDA; }

  BackendDescription describe() const override {
    BackendDescription d;
    d.kind = MMB_BACKEND_CUDA;
    d.device_index = info_.index;
    d.device_name = info_.name;
    d.device_memory_total = info_.memory_total;
    d.device_memory_used = table_.device_bytes_used(device_);
    return d;
  }

  double measure_read_bandwidth() const override {
    plugin::ErrorText e{};
    double copy = 0.0;
    check(table_.device_copy_bandwidth(device_, &copy, &e), e, "measuring the device's bandwidth");
    // The copy's traffic (read + written) per second: what HBM moves when it only reads.
    return copy;
  }

  // The plugin's kernels cover Mamba-1, MoE, MLP and parallel layers; newer kinds and
  // options run on the CPU until their kernels exist.
  std::string unsupported(const ModelConfig& config) const override {
    for (size_t i = 0; i < config.layers.size(); ++i) {
      const LayerConfig& l = config.layers[i];
      if (l.kind == LayerKind::Mamba2) return cat("layer ", i, " is a Mamba-2 layer, which the CUDA backend does not run yet");
      if (l.kind == LayerKind::Attention)
        return cat("layer ", i, " is an attention layer, which the CUDA backend does not run yet");
      if (l.has_mamba() && l.mamba.dt_bc_norm != InnerNorm::None)
        return cat("layer ", i, " normalises dt, B and C, which the CUDA backend does not do yet");
      if (l.has_moe() && l.moe.n_groups > 1)
        return cat("layer ", i, " selects experts within groups, which the CUDA backend does not do yet");
    }
    if (config.embedding_scale != 1.0f || config.residual_scale != 1.0f || config.logits_divisor != 1.0f)
      return "the model scales its embedding, residual or logits, which the CUDA backend does not do yet";
    return {};
  }

  OwnedBy<ModelCompute> prepare(const Model& model) const override {
    if (std::string why = unsupported(model.config()); !why.empty()) fail(MMB_ERR_UNSUPPORTED, why);
    plugin::ErrorText e{};
    plugin::CudaModel* m = nullptr;
    check(table_.model_upload(device_, &model.config(), &model.weights(), &m, &e), e, "uploading the weights");
    try {
      return OwnedBy<ModelCompute>(
          make_host<CudaModelCompute>(allocator_, table_, m, model.state_floats(), allocator_).release());
    } catch (...) {
      table_.model_free(m);
      throw;
    }
  }

 private:
  const plugin::Table& table_;
  plugin::Device* device_;
  plugin::DeviceInfo info_;
  const HostAllocator& allocator_;
};

}  // namespace

// Without NVIDIA's driver library there is no device: say so without loading the plugin
// (which would map cuBLAS for nothing). An explicit MMB_CUDA_PLUGIN always loads it.
void require_driver() {
  if (plugin_override()) return;
  void* driver = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
  if (!driver) fail(MMB_ERR_BACKEND, "no NVIDIA driver on this machine (libcuda.so.1 cannot be loaded)");
  dlclose(driver);
}

std::unique_ptr<Backend> open_cuda_backend(const HostAllocator& allocator, int32_t device_index) {
  require_driver();
  const plugin::Table& table = load_table();
  const int32_t count = table.device_count();
  if (count <= 0) fail(MMB_ERR_BACKEND, "no CUDA device is present (or no NVIDIA driver)");
  if (device_index >= count)
    fail(MMB_ERR_BACKEND, "CUDA device ", device_index, " does not exist (", count, " present)");
  plugin::ErrorText e{};
  plugin::Device* device = nullptr;
  plugin::DeviceInfo info;
  check(table.device_open(device_index, &device, &info, &e), e, cat("opening device ", device_index).c_str());
  try {
    return std::make_unique<CudaBackend>(table, device, info, allocator);
  } catch (...) {
    table.device_close(device);
    throw;
  }
}

}  // namespace mmb
#endif
