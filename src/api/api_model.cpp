// mmb_model_*: loading bundles from a file, memory or host I/O; model information.
#include "api/api_guard.hpp"
#include "api/api_objects.hpp"
#include "api/api_structs.hpp"

#include "bundle/bundle_reader.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace mmb::api {

void retain(mmb_model* m) { m->refs.fetch_add(1, std::memory_order_relaxed); }
void release(mmb_model* m) {
  if (m && m->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    mmb_runtime* r = m->runtime;
    destroy(m, r->impl.allocator());
    release(r);
  }
}

namespace {

// Reads, verifies and binds a bundle from `source`, on the runtime's threads.
mmb_model* load_model(mmb_runtime* runtime, std::unique_ptr<ByteSource> source, const mmb_load_options& o) {
  ThreadPool& pool = runtime->impl.pool();
  auto parallel_body = [&pool](size_t n_tasks, FunctionRef<void(size_t)> task) {
    pool.run(n_tasks, [&](size_t i, int) { task(i); });
  };
  FunctionRef<void(size_t, FunctionRef<void(size_t)>)> parallel(parallel_body);
  auto progress_body = [&o](uint64_t done, uint64_t total) { return o.progress(o.progress_user_data, done, total) != 0; };
  FunctionRef<bool(uint64_t, uint64_t)> progress(progress_body);

  ReadOptions read;
  read.verify_checksums = !(o.flags & MMB_LOAD_SKIP_CHECKSUMS);
  read.parallel = &parallel;
  read.progress = o.progress ? &progress : nullptr;
  auto bundle = LoadedBundle::load(std::move(source), read, runtime->impl.allocator());
  const HostAllocator& allocator = runtime->impl.allocator();
  const Backend& backend = runtime->impl.backend_for(bundle->config());
  auto* handle = make_host<mmb_model>(allocator, runtime, make_host<Model>(allocator, std::move(bundle), runtime->impl.memory(), backend))
                     .release();
  retain(runtime);
  return handle;
}

mmb_load_options load_options(const mmb_load_options* options) {
  const mmb_load_options o = read_struct(options);
  if (o.flags & ~uint32_t(MMB_LOAD_SKIP_CHECKSUMS | MMB_LOAD_COPY_MEMORY))
    fail(MMB_ERR_INVALID_ARGUMENT, "mmb_load_options.flags has unknown bits 0x", std::hex, o.flags);
  return o;
}

}  // namespace

void Extensible<mmb_load_options>::set_defaults(mmb_load_options&) {}  // all zero: verify checksums, borrow memory

}  // namespace mmb::api

using namespace mmb;

extern "C" {

MMB_API mmb_status mmb_load_options_init(mmb_load_options* options, size_t struct_size) {
  return api::init_struct(options, struct_size);
}

MMB_API mmb_status mmb_model_load_file(mmb_runtime* runtime, const char* path, const mmb_load_options* options,
                                       mmb_model** out) {
  return api::guard([&] {
    api::require(runtime, "runtime");
    api::require(path, "path");
    api::require(out, "out");
    mmb_load_options o = api::load_options(options);
    *out = api::load_model(runtime, open_file_source(path), o);
  });
}

MMB_API mmb_status mmb_model_load_memory(mmb_runtime* runtime, const void* data, size_t size,
                                         const mmb_load_options* options, mmb_model** out) {
  return api::guard([&] {
    api::require(runtime, "runtime");
    api::require(data, "data");
    api::require(out, "out");
    mmb_load_options o = api::load_options(options);
    auto source = open_memory_source(data, size, (o.flags & MMB_LOAD_COPY_MEMORY) != 0, runtime->impl.allocator());
    *out = api::load_model(runtime, std::move(source), o);
  });
}

MMB_API mmb_status mmb_model_load_io(mmb_runtime* runtime, const mmb_io* io, const mmb_load_options* options,
                                     mmb_model** out) {
  return api::guard([&] {
    api::require(runtime, "runtime");
    api::require(io, "io");
    api::require(out, "out");
    api::check_struct_size(io->struct_size, sizeof(mmb_io), sizeof(mmb_io), "mmb_io");
    if (!io->size || !io->seek || !io->read) fail(MMB_ERR_INVALID_ARGUMENT, "mmb_io needs size, seek and read callbacks");
    mmb_load_options o = api::load_options(options);
    *out = api::load_model(runtime, open_io_source(*io), o);
  });
}

MMB_API mmb_status mmb_model_get_info(const mmb_model* model, mmb_model_info* out) {
  return api::guard([&] {
    api::require(model, "model");
    api::require(out, "out");
    api::check_struct_size(out->struct_size, offsetof(mmb_model_info, n_attention_layers), sizeof(mmb_model_info),
                           "mmb_model_info");
    const Model& m = *model->impl;
    const ModelConfig& c = m.config();
    mmb_model_info info{};
    info.struct_size = out->struct_size;
    info.vocab_size = int32_t(c.vocab_size);
    info.d_model = int32_t(c.d_model);
    info.n_layers = int32_t(c.layers.size());
    for (const auto& l : c.layers) {
      info.n_mamba_layers += l.has_mamba() || l.kind == LayerKind::Mamba2;  // a parallel layer counts as both
      info.n_moe_layers += l.has_moe();
      info.n_mlp_layers += l.kind == LayerKind::MLP;
      info.n_attention_layers += l.kind == LayerKind::Attention;
      if (l.has_moe()) {
        info.n_experts = std::max(info.n_experts, int32_t(l.moe.n_experts));
        info.top_k = std::max(info.top_k, int32_t(l.moe.top_k));
      }
    }
    const Tokenizer& t = m.tokenizer();
    info.bos_id = t.bos_id();
    info.eos_id = t.eos_id();
    info.pad_id = t.pad_id();
    info.unk_id = t.unk_id();
    info.weight_dtype = int32_t(m.weights().embed.dtype);
    info.params_total = params_total(c);
    info.params_active = params_active(c);
    info.weight_bytes = m.sizes().weight_bytes;
    info.active_weight_bytes = m.sizes().active_weight_bytes;
    info.state_bytes = m.state_floats() * sizeof(float);
    info.fingerprint = m.fingerprint();
    info.name = m.name().c_str();
    info.kv_values_per_token = m.kv_values_per_token();
    info.context_length = c.has_attention() ? c.default_context() : 0;
    info.n_chat_templates = int32_t(m.chat_templates().size());
    info.n_stop_tokens = int32_t(m.stop_tokens().size());
    std::memcpy(out, &info, out->struct_size);
  });
}

MMB_API mmb_status mmb_model_get_meta(const mmb_model* model, const char* key, char* buf, size_t cap, size_t* len) {
  return api::guard([&] {
    api::require(model, "model");
    api::require(key, "key");
    api::require(len, "len");
    const std::string* value = model->impl->meta(key);
    if (!value) fail(MMB_ERR_INVALID_ARGUMENT, "the model has no metadata key '", key, "'");
    *len = value->size();
    if (!buf || cap <= value->size())
      fail(MMB_ERR_BUFFER_TOO_SMALL, "metadata '", key, "' needs ", value->size() + 1, " bytes, buffer has ", buf ? cap : 0);
    std::memcpy(buf, value->data(), value->size());
    buf[value->size()] = '\0';
  });
}

MMB_API mmb_status mmb_model_get_stop_tokens(const mmb_model* model, int32_t* tokens, size_t cap, size_t* n) {
  return api::guard([&] {
    api::require(model, "model");
    api::require(n, "n");
    const std::vector<int32_t>& stops = model->impl->stop_tokens();
    *n = stops.size();
    if (stops.size() > cap || (!tokens && !stops.empty()))
      fail(MMB_ERR_BUFFER_TOO_SMALL, "the model has ", stops.size(), " stop tokens, buffer has room for ", tokens ? cap : 0);
    std::copy(stops.begin(), stops.end(), tokens);
  });
}

MMB_API void mmb_model_destroy(mmb_model* model) { api::release(model); }

}  // extern "C"
