// The safetensors files of one checkpoint, looked up by tensor name: a single file,
// or the shards that a model.safetensors.index.json names. For an index, every shard
// it maps must exist and hold the tensors mapped to it, and hold no others.
#pragma once

#include "safetensors.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mmb {

class SafetensorsSet {
 public:
  struct Entry {
    const SafetensorsTensor* tensor;
    const SafetensorsFile* file;
  };

  SafetensorsSet(SafetensorsSet&&) = default;
  SafetensorsSet& operator=(SafetensorsSet&&) = default;
  SafetensorsSet(const SafetensorsSet&) = delete;  // entries point into files_
  SafetensorsSet& operator=(const SafetensorsSet&) = delete;

  // Both throw mmb::Error (MMB_ERR_IO, MMB_ERR_FORMAT, MMB_ERR_UNSUPPORTED) naming the file.
  static SafetensorsSet open_file(const std::string& path);
  // {"metadata": {...}, "weight_map": {"tensor name": "shard file name", ...}}; shard
  // names are plain file names in the index's directory.
  static SafetensorsSet open_index(const std::string& index_path);

  const std::string& what() const { return what_; }  // the file or the index, for messages
  const Entry* find(const std::string& name) const;  // nullptr if absent
  const std::map<std::string, Entry>& entries() const { return entries_; }
  uint64_t total_bytes() const;  // of all files

 private:
  SafetensorsSet() = default;
  std::string what_;
  std::vector<SafetensorsFile> files_;  // filled before entries_ points into it
  std::map<std::string, Entry> entries_;
};

}  // namespace mmb
