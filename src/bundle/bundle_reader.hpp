// Opens a .mmb bundle, verifies all of it, and gives named tensor views.
//
// Verification happens before anything is returned: magic, version, header fields,
// manifest checksum and FlatBuffers verification, config ranges, every tensor's
// dtype, codec, shape, offset and size within the file, alignment, no overlaps,
// unique names, exactly the tensors the config implies with their shapes, zstd
// frames that decode to exactly raw_size, and (unless skipped) each xxh64.
// A failure throws mmb::Error with a distinct status and a message naming the
// field, the tensor and the offsets.
#pragma once

#include "base/dtype.hpp"
#include "base/function_ref.hpp"
#include "base/host_allocator.hpp"
#include "bundle/byte_source.hpp"
#include "model/model_config.hpp"
#include "model/tokenizer_data.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace mmb {

enum class Codec : uint8_t { None = 0, Zstd = 1, ShuffleZstd = 2 };

// A decoded tensor, ready to use: data points into the mapped file (raw tensors)
// or into memory owned by the LoadedBundle (decoded or read through host I/O).
struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  std::vector<uint64_t> shape;
  const std::byte* data = nullptr;  // 64-byte aligned
  uint64_t raw_size = 0;
  // As stored in the file, for inspect/verify/bench.
  Codec codec = Codec::None;
  uint64_t offset = 0;
  uint64_t stored_size = 0;
  uint64_t xxh64 = 0;

  uint64_t elements() const;
};

struct ReadOptions {
  bool verify_checksums = true;
  // Spreads independent work (tensor decoding, checksums) over threads. May be null: serial.
  FunctionRef<void(size_t n_tasks, FunctionRef<void(size_t task)> task)>* parallel = nullptr;
  // Progress in bytes; return false to cancel (MMB_ERR_CANCELLED).
  FunctionRef<bool(uint64_t done, uint64_t total)>* progress = nullptr;
};

class LoadedBundle {
 public:
  // Reads and verifies everything. Keeps the source alive while tensors point into it.
  static std::unique_ptr<LoadedBundle> load(std::unique_ptr<ByteSource> source,
                                            const ReadOptions& options,
                                            const HostAllocator& allocator);
  ~LoadedBundle();

  uint32_t format_version() const { return format_version_; }
  const ModelConfig& config() const { return config_; }
  const TokenizerData& tokenizer() const { return tokenizer_; }
  const std::vector<std::pair<std::string, std::string>>& metadata() const { return metadata_; }
  const std::vector<TensorView>& tensors() const { return tensors_; }
  const TensorView* find(const std::string& name) const;  // nullptr if absent
  uint64_t manifest_stored_size() const { return manifest_stored_size_; }
  uint64_t manifest_raw_size() const { return manifest_raw_size_; }
  uint64_t file_size() const;

 private:
  LoadedBundle() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint32_t format_version_ = 0;
  ModelConfig config_;
  TokenizerData tokenizer_;
  std::vector<std::pair<std::string, std::string>> metadata_;
  std::vector<TensorView> tensors_;
  uint64_t manifest_stored_size_ = 0;
  uint64_t manifest_raw_size_ = 0;
};

}  // namespace mmb
