// Shared by the [bundle] tests: small models, byte sources the host might provide,
// and a manifest builder written straight from sdk/schema/bundle.fbs, so malformed
// bundles can be crafted field by field without going through the library's writer.
#pragma once

#include "bundle/bundle_reader.hpp"
#include "bundle/bundle_writer.hpp"
#include "synthetic_model.hpp"

#include <moemamba/moemamba.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace mmb::test {

// The 256-entry byte tokenizer, spelled out here so these tests do not depend on the
// tokenizer's own code.
TokenizerData byte_tokenizer();

// make_synthetic_model(named_shape("tiny")) (every layer kind) with the byte tokenizer.
SyntheticModel tiny_model(DType dtype, uint64_t seed = 1);

// A fresh directory, removed with everything in it when this goes out of scope.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

std::vector<std::byte> read_file(const std::string& path);
void write_file(const std::string& path, std::span<const std::byte> bytes);

// A buffer whose data() is 64-byte aligned plus `shift` bytes.
class ShiftedBuffer {
 public:
  ShiftedBuffer(std::span<const std::byte> bytes, size_t shift);
  const std::byte* data() const { return storage_.data() + start_; }
  size_t size() const { return size_; }

 private:
  std::vector<std::byte> storage_;
  size_t start_ = 0, size_ = 0;
};

// Host I/O over bytes in memory; reads deliver at most max_chunk bytes (short reads).
// Failures on demand: the read or seek with index fail_at_read / fail_at_seek (counting
// from 0) returns an error, and claimed_size (when set) is what the size callback says.
struct MemoryIo {
  std::span<const std::byte> bytes;
  size_t max_chunk = SIZE_MAX;
  uint64_t fail_at_read = UINT64_MAX;
  uint64_t fail_at_seek = UINT64_MAX;
  bool fail_size = false;
  uint64_t claimed_size = 0;
  uint64_t position = 0;
  uint64_t reads = 0, seeks = 0;
  mmb_io io();
};

// Host I/O over a virtual file of `size` bytes that holds `pieces` at their offsets and
// zeros everywhere else, generated on the fly: files of many GiB cost nothing.
struct SparseIo {
  uint64_t size = 0;
  std::vector<std::pair<uint64_t, std::vector<std::byte>>> pieces;  // sorted, disjoint
  uint64_t position = 0;
  uint64_t bytes_read = 0;
  mmb_io io();
};

struct LoadResult {
  mmb_status status = MMB_OK;
  std::string message;
  std::unique_ptr<LoadedBundle> bundle;
};

// Loads and turns a failure into its status and message.
LoadResult try_load(std::unique_ptr<ByteSource> source, const ReadOptions& options = {});
LoadResult try_load_memory(std::span<const std::byte> bytes, bool verify_checksums = true);

// One tensor record as the schema has it; dtype and codec are raw so tests can write
// values no enum has.
struct CraftedTensor {
  std::string name;
  uint8_t dtype = 0;
  uint8_t codec = 0;
  std::vector<uint64_t> shape;
  uint64_t offset = 0, stored_size = 0, raw_size = 0, xxh64 = 0;
};

struct CraftedTokenizer {
  bool present = true;
  uint8_t kind = 0, pre_tokenizer = 0, normalizer = 0;
  std::vector<uint8_t> piece_bytes;
  std::vector<uint32_t> piece_offsets;
  std::vector<int32_t> merges;
  std::vector<std::pair<int32_t, std::string>> specials, added;
  int32_t bos_id = -1, eos_id = -1, pad_id = -1, unk_id = -1;
};

// A bundle taken apart: its bytes up to the manifest, and a manifest to rebuild.
struct CraftedBundle {
  std::vector<std::byte> data;  // header and tensor data; the new manifest is appended
  ModelConfig config;
  std::vector<size_t> layers_without_table;  // layer indices written with no sub-table
  std::vector<size_t> layers_without_moe_table;  // written without their moe table only
  CraftedTokenizer tokenizer;
  std::vector<std::pair<std::string, std::string>> metadata;
  std::vector<CraftedTensor> tensors;
  bool compress_manifest = false;

  // From a bundle written by the library (read back with its tensor data untouched).
  static CraftedBundle from(const std::vector<std::byte>& file);
  CraftedTensor& tensor(const std::string& name);
  std::vector<std::byte> manifest() const;  // FlatBuffers bytes
  std::vector<std::byte> build() const;     // data + manifest at a 64-byte boundary, fresh header
};

// `data` (header space and tensors) + a manifest at the next 64-byte boundary, stored
// raw or as one zstd frame, with a fresh header pointing at it.
std::vector<std::byte> assemble_bundle(std::vector<std::byte> data, std::span<const std::byte> manifest, bool compress);

// A version-1 header pointing at a manifest, written byte by byte from the layout.
std::vector<std::byte> make_header(uint64_t manifest_offset, uint64_t stored_size, uint64_t raw_size,
                                   uint32_t codec, uint64_t manifest_xxh64);

uint64_t xxh64_of(std::span<const std::byte> bytes);
std::vector<std::byte> zstd_frame(std::span<const std::byte> bytes, int level = 3);

}  // namespace mmb::test
