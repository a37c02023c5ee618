// The table of src/backend/cuda_plugin.hpp and the plugin's one exported symbol. Each
// function selects the model's device on the calling thread (restoring the caller's
// afterwards), serialises per model, and turns every failure into a status and message:
// nothing throws across the table, and RAII owners free what a failed call allocated.
#include "cuda_model.hpp"
#include "device_bandwidth.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

namespace mmb::cuda_plugin {

namespace {

using cuda::PluginError;

void set_error(ErrorText* error, const char* message) {
  if (!error) return;
  std::strncpy(error->message, message, sizeof(error->message) - 1);
  error->message[sizeof(error->message) - 1] = '\0';
}

// Runs body; a thrown failure becomes its status and message.
template <typename Body>
mmb_status guarded(ErrorText* error, Body&& body) noexcept {
  try {
    body();
    return MMB_OK;
  } catch (const PluginError& e) {
    set_error(error, e.what());
    return e.status();
  } catch (const std::bad_alloc&) {
    set_error(error, "CUDA plugin: out of host memory");
    return MMB_ERR_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    set_error(error, e.what());
    return MMB_ERR_INTERNAL;
  } catch (...) {
    set_error(error, "CUDA plugin: unknown failure");
    return MMB_ERR_INTERNAL;
  }
}

// Makes `index` the current device of this thread for the scope.
class DeviceScope {
 public:
  explicit DeviceScope(int index) {
    if (cudaGetDevice(&previous_) != cudaSuccess) previous_ = -1;
    if (previous_ != index) MMB_CUDA_CHECK(cudaSetDevice(index));
    else previous_ = -1;
  }
  ~DeviceScope() {
    if (previous_ >= 0) cudaSetDevice(previous_);
  }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int previous_ = -1;
};

int32_t device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return count;
}

mmb_status device_open(int32_t index, Device** out, DeviceInfo* info, ErrorText* error) {
  return guarded(error, [&] {
    if (index < 0 || index >= device_count())
      throw PluginError(MMB_ERR_INVALID_ARGUMENT, "no CUDA device " + std::to_string(index));
    DeviceScope scope(index);
    auto device = std::make_unique<Device>();
    device->index = index;
    cudaDeviceProp prop{};
    MMB_CUDA_CHECK(cudaGetDeviceProperties(&prop, index));
    DeviceInfo& d = device->info;
    d.index = index;
    std::memcpy(d.name, prop.name, std::min(sizeof(d.name) - 1, std::strlen(prop.name)));
    d.compute_major = prop.major;
    d.compute_minor = prop.minor;
    size_t free_bytes = 0, total_bytes = 0;
    MMB_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    d.memory_total = total_bytes;
    d.memory_free = free_bytes;
    if (prop.major < 8)
      throw PluginError(MMB_ERR_UNSUPPORTED, std::string("CUDA device ") + prop.name + " has compute capability " +
                                                 std::to_string(prop.major) + "." + std::to_string(prop.minor) +
                                                 "; the plugin is built for 8.0 and newer");
    // cuBLAS must load (libcublas.so.13 on the loader path) before anything is uploaded.
    { cuda::CublasHandle probe; }
    if (info) *info = d;
    *out = device.release();
  });
}

void device_close(Device* device) { delete device; }

uint64_t device_bytes_used(const Device* device) { return device ? device->memory.bytes.load() : 0; }

mmb_status model_upload(Device* device, const ModelConfig* config, const ModelWeights* weights, CudaModel** out,
                        ErrorText* error) {
  return guarded(error, [&] {
    DeviceScope scope(device->index);
    auto model = std::make_unique<CudaModel>(device, *config);
    model->dims = cuda::model_dims(*config);
    const char* graphs = std::getenv("MMB_CUDA_GRAPHS");
    model->use_graphs = !(graphs && std::strcmp(graphs, "0") == 0);
    cuda::upload_weights(&device->memory, *config, *weights, model->weights);
    cuda::prepare_model(*model);
    MMB_CUDA_CHECK(cudaDeviceSynchronize());
    *out = model.release();
  });
}

void model_free(CudaModel* model) {
  if (!model) return;
  try {
    DeviceScope scope(model->device->index);
    delete model;
  } catch (...) {
    delete model;
  }
}

mmb_status state_create(CudaModel* model, CudaState** out, ErrorText* error) {
  return guarded(error, [&] {
    DeviceScope scope(model->device->index);
    std::lock_guard<std::mutex> lock(model->mutex);
    auto state = std::make_unique<CudaState>();
    state->model = model;
    const size_t bytes = std::max<uint64_t>(model->dims.state_floats, 1) * sizeof(float);
    state->buffer = cuda::DeviceBuffer(&model->device->memory, bytes, "a session state");
    MMB_CUDA_CHECK(cudaMemsetAsync(state->buffer.get(), 0, bytes, model->stream.get()));
    MMB_CUDA_CHECK(cudaStreamSynchronize(model->stream.get()));
    *out = state.release();
  });
}

void state_free(CudaState* state) {
  if (!state) return;
  try {
    DeviceScope scope(state->model->device->index);
    delete state;
  } catch (...) {
    delete state;
  }
}

size_t state_bytes(const CudaModel* model) { return size_t(model->dims.state_floats) * sizeof(float); }

mmb_status state_write(CudaModel* model, CudaState* state, const float* host, ErrorText* error) {
  return guarded(error, [&] {
    DeviceScope scope(model->device->index);
    std::lock_guard<std::mutex> lock(model->mutex);
    cudaStream_t stream = model->stream.get();
    if (host)
      MMB_CUDA_CHECK(cudaMemcpyAsync(state->data(), host, state_bytes(model), cudaMemcpyHostToDevice, stream));
    else
      MMB_CUDA_CHECK(cudaMemsetAsync(state->data(), 0, state_bytes(model), stream));
    MMB_CUDA_CHECK(cudaStreamSynchronize(stream));
  });
}

mmb_status state_read(CudaModel* model, const CudaState* state, float* host, ErrorText* error) {
  return guarded(error, [&] {
    DeviceScope scope(model->device->index);
    std::lock_guard<std::mutex> lock(model->mutex);
    cudaStream_t stream = model->stream.get();
    MMB_CUDA_CHECK(cudaMemcpyAsync(host, state->data(), state_bytes(model), cudaMemcpyDeviceToHost, stream));
    MMB_CUDA_CHECK(cudaStreamSynchronize(stream));
  });
}

mmb_status state_copy(CudaModel* model, const CudaState* from, CudaState* to, ErrorText* error) {
  return guarded(error, [&] {
    DeviceScope scope(model->device->index);
    std::lock_guard<std::mutex> lock(model->mutex);
    cudaStream_t stream = model->stream.get();
    MMB_CUDA_CHECK(cudaMemcpyAsync(to->data(), from->data(), state_bytes(model), cudaMemcpyDeviceToDevice, stream));
    MMB_CUDA_CHECK(cudaStreamSynchronize(stream));
  });
}

mmb_status step(CudaModel* model, CudaState* const* states, const int32_t* tokens, size_t n, float* logits,
                size_t stride, ErrorText* error) {
  return guarded(error, [&] {
    DeviceScope scope(model->device->index);
    std::lock_guard<std::mutex> lock(model->mutex);
    cuda::step_states(*model, states, tokens, n, logits, stride);
  });
}

mmb_status prefill(CudaModel* model, CudaState* state, const int32_t* tokens, size_t n, float* logits,
                   ErrorText* error) {
  return guarded(error, [&] {
    DeviceScope scope(model->device->index);
    std::lock_guard<std::mutex> lock(model->mutex);
    cuda::prefill_state(*model, *state, tokens, n, logits);
  });
}

mmb_status device_copy_bandwidth(Device* device, double* bytes_per_s, ErrorText* error) {
  return guarded(error, [&] {
    DeviceScope scope(device->index);
    *bytes_per_s = cuda::measure_copy_bandwidth(&device->memory);
  });
}

const Table kTable = {
    kAbiVersion,  build_id(),        layout_check(), device_count, device_open, device_close, device_bytes_used,
    model_upload, model_free,        state_create,   state_free,   state_write, state_read,   state_copy,
    step,         prefill,           device_copy_bandwidth,
};

}  // namespace

}  // namespace mmb::cuda_plugin

extern "C" __attribute__((visibility("default"))) const mmb::cuda_plugin::Table* mmb_cuda_plugin_table(
    uint32_t abi_version) {
  return abi_version == mmb::cuda_plugin::kAbiVersion ? &mmb::cuda_plugin::kTable : nullptr;
}
