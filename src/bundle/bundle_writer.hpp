// Writes .mmb bundles. Library-internal (used by `mmb pack` and the tests).
// Deterministic: the same contents and options give the same bytes, on every run
// and thread count. Offsets are u64, so bundles over 4 GiB work.
#pragma once

#include "base/dtype.hpp"
#include "bundle/bundle_reader.hpp"
#include "model/model_config.hpp"
#include "model/tokenizer_data.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace mmb {

struct WriterTensor {
  std::string name;
  DType dtype = DType::F32;
  std::vector<uint64_t> shape;
  std::span<const std::byte> data;  // raw little-endian values, product(shape) * dtype_size bytes
};

struct BundleContents {
  ModelConfig config;
  TokenizerData tokenizer = TokenizerData::bytes();
  std::vector<std::pair<std::string, std::string>> metadata;
  std::vector<WriterTensor> tensors;  // written in this order
};

struct WriterOptions {
  Codec codec = Codec::None;  // for every tensor; ShuffleZstd applies to any dtype (planes by significance)
  int level = 3;              // zstd level
  int threads = 1;            // compression threads (output is the same for any count)
  bool compress_manifest = true;
};

// Checks the contents (validate_config, tensor_specs, sizes) and throws
// mmb::Error(MMB_ERR_INVALID_ARGUMENT / MMB_ERR_FORMAT) before writing anything.
std::vector<std::byte> write_bundle_to_memory(const BundleContents& contents, const WriterOptions& options);
// Writes to `path` (via a temporary file renamed into place). Throws MMB_ERR_IO.
void write_bundle_to_file(const BundleContents& contents, const WriterOptions& options, const std::string& path);

}  // namespace mmb
