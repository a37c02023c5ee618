// Opens a .mmb bundle, verifies all of it, and gives named tensor views.
//
// Verification happens before anything is returned (docs/bundle-format.md lists it):
// magic, version, header fields, manifest range and xxh64, FlatBuffers verification,
// config ranges, tokenizer and metadata sanity, every tensor's dtype, codec, rank,
// shape (no 64-bit overflow), sizes, offset and size within the file, alignment, no
// overlaps with each other or with the header or manifest, unique names, exactly the
// tensors the config implies with their shapes, zstd frames that declare and decode to
// exactly raw_size, and (unless skipped) each tensor's xxh64. A failure throws
// mmb::Error with a distinct status (MMB_ERR_FORMAT for malformed or corrupt bytes,
// MMB_ERR_UNSUPPORTED for a newer version or an unknown flag, codec or dtype,
// MMB_ERR_IO from the source, MMB_ERR_CANCELLED from the progress callback) and a
// message naming the field, the tensor and the offsets. std::bad_alloc escapes.
#pragma once

#include "base/function_ref.hpp"
#include "base/host_allocator.hpp"
#include "base/progress.hpp"
#include "bundle/bundle_format.hpp"
#include "bundle/byte_source.hpp"
#include "bundle/tensor_view.hpp"
#include "model/model_config.hpp"
#include "model/tokenizer_data.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace mmb {

struct ReadOptions {
  // Verify each tensor's xxh64. The manifest's checksum is always verified.
  bool verify_checksums = true;
  // false: verify the structure only and leave every TensorView::data null; no tensor
  // byte is read, decoded or allocated (for inspecting a bundle).
  bool load_tensor_data = true;
  // Spreads independent work (tensor decoding, copies, checksums) over threads: calls
  // task(i) once for every i in [0, n_tasks) and returns when all are done. The tasks
  // never throw. May be null: serial.
  FunctionRef<void(size_t n_tasks, FunctionRef<void(size_t task)> task)>* parallel = nullptr;
  // Progress in bytes of work (bytes read through host I/O, then the raw bytes of each
  // tensor once it is decoded, copied or checked), always called on the thread that
  // called load(): first with done = 0, last with done = total. Return false to
  // cancel: load() then throws MMB_ERR_CANCELLED.
  ProgressFn* progress = nullptr;
};

class LoadedBundle {
 public:
  // Reads and verifies everything. Keeps the source alive while tensors point into it;
  // memory for decoded tensors comes from `allocator`, which must outlive the bundle.
  static std::unique_ptr<LoadedBundle> load(std::unique_ptr<ByteSource> source,
                                            const ReadOptions& options,
                                            const HostAllocator& allocator);
  ~LoadedBundle();

  uint32_t format_version() const { return format_version_; }
  const ModelConfig& config() const { return config_; }
  // The manifest's tokenizer; empty after release_tokenizer_data().
  const TokenizerData& tokenizer() const { return tokenizer_; }
  void release_tokenizer_data() { tokenizer_ = TokenizerData(); }
  const std::vector<std::pair<std::string, std::string>>& metadata() const { return metadata_; }
  const std::vector<TensorView>& tensors() const { return tensors_; }  // in manifest order
  const TensorView* find(const std::string& name) const;  // nullptr if absent
  ManifestCodec manifest_codec() const { return manifest_codec_; }
  uint64_t manifest_stored_size() const { return manifest_stored_size_; }
  uint64_t manifest_raw_size() const { return manifest_raw_size_; }
  uint64_t file_size() const;
  const ByteSource& source() const;

 private:
  LoadedBundle();
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint32_t format_version_ = 0;
  ModelConfig config_;
  TokenizerData tokenizer_;
  std::vector<std::pair<std::string, std::string>> metadata_;
  std::vector<TensorView> tensors_;
  ManifestCodec manifest_codec_ = ManifestCodec::None;
  uint64_t manifest_stored_size_ = 0;
  uint64_t manifest_raw_size_ = 0;
};

}  // namespace mmb
