// mmb_model_load_io on arbitrary bytes served by memory-backed host callbacks. The
// first input byte caps the read size, so short reads are explored too.
#include "fuzz_models.hpp"
#include "fuzz_session_use.hpp"

#include <algorithm>
#include <cstring>

using namespace mmb::fuzz;

namespace {

struct MemoryFile {
  const uint8_t* data;
  uint64_t size;
  uint64_t at;
  size_t max_chunk;
};

int32_t io_size(void* user, uint64_t* size) {
  *size = static_cast<MemoryFile*>(user)->size;
  return 0;
}

int32_t io_seek(void* user, uint64_t offset) {
  auto* f = static_cast<MemoryFile*>(user);
  if (offset > f->size) return -1;
  f->at = offset;
  return 0;
}

int64_t io_read(void* user, void* dst, size_t n) {
  auto* f = static_cast<MemoryFile*>(user);
  const size_t take = size_t(std::min<uint64_t>({n, f->max_chunk, f->size - f->at}));
  std::memcpy(dst, f->data + f->at, take);
  f->at += take;
  return int64_t(take);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static RuntimePtr runtime = single_thread_runtime();
  if (size == 0) return 0;
  const size_t max_chunk = data[0] < 128 ? size_t(-1) : size_t(data[0] - 127) * 64;
  for (uint32_t flags : {0u, uint32_t(MMB_LOAD_SKIP_CHECKSUMS)}) {
    MemoryFile file{data + 1, size - 1, 0, max_chunk};
    mmb_io io{};
    io.struct_size = sizeof io;
    io.user_data = &file;
    io.size = io_size;
    io.seek = io_seek;
    io.read = io_read;
    mmb_load_options options;
    if (mmb_load_options_init(&options, sizeof options) != MMB_OK) std::abort();
    options.flags = flags;
    mmb_model* model = nullptr;
    if (mmb_model_load_io(runtime.get(), &io, &options, &model) != MMB_OK) continue;
    use_loaded_model(model);
    mmb_model_destroy(model);
  }
  return 0;
}
