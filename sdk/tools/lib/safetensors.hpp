// safetensors files, read and written by our own code.
//
// Layout: an 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end)}, ...,
//  "__metadata__": {"key": "value"}}, then the data section, which the offsets index.
// Reading maps the file read-only and validates all of the header before any tensor is
// handed out: the length against the file and a 100 MB cap, the JSON (duplicate names
// included), each dtype, shape and offset range, size == product(shape) * element size
// without overflow, and no two tensors sharing a byte.
#pragma once

#include "bundle/byte_source.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mmb {

// The element types `mmb pack` reads. F64 is accepted and narrowed to f32 when packed.
enum class SafetensorsDType : uint8_t { F32, F16, BF16, F64 };

std::string_view safetensors_dtype_name(SafetensorsDType t);  // "F32", "F16", "BF16", "F64"
size_t safetensors_dtype_size(SafetensorsDType t);

struct SafetensorsTensor {
  std::string name;
  SafetensorsDType dtype = SafetensorsDType::F32;
  std::vector<uint64_t> shape;
  std::span<const std::byte> data;  // little-endian values; not necessarily aligned

  uint64_t elements() const;
};

// The largest header accepted; real headers are a few hundred KB at most.
constexpr uint64_t kSafetensorsMaxHeader = 100u << 20;

class SafetensorsFile {
 public:
  // Maps `path` and validates it. Throws mmb::Error: MMB_ERR_IO when the file cannot be
  // opened or mapped, MMB_ERR_UNSUPPORTED for a dtype pack cannot use (I64, F8_E4M3,
  // ...), MMB_ERR_FORMAT for everything else, each message starting with `path`.
  static SafetensorsFile open(const std::string& path);
  // Validates an image already in memory; `bytes` must outlive the result.
  static SafetensorsFile parse(std::span<const std::byte> bytes, const std::string& what);

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }
  // In the order of their data offsets.
  const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }
  const SafetensorsTensor* find(std::string_view name) const;  // nullptr if absent
  // The "__metadata__" pairs, sorted by key.
  const std::vector<std::pair<std::string, std::string>>& metadata() const { return metadata_; }

 private:
  std::unique_ptr<ByteSource> source_;  // keeps the mapping the tensors point into
  std::string path_;
  uint64_t size_ = 0;
  std::vector<SafetensorsTensor> tensors_;
  std::vector<std::pair<std::string, std::string>> metadata_;
  std::vector<size_t> by_name_;  // indexes of tensors_, sorted by name, for find()
};

// Writes a safetensors file: tensors' data in the given order, the header padded with
// spaces to a multiple of 8 so that data starts aligned. Deterministic. Throws
// MMB_ERR_INVALID_ARGUMENT for duplicate or empty names, "__metadata__" as a name, or
// data whose size disagrees with the shape; MMB_ERR_IO when writing fails.
void write_safetensors(const std::string& path, const std::vector<SafetensorsTensor>& tensors,
                       const std::vector<std::pair<std::string, std::string>>& metadata = {});

}  // namespace mmb
