#include "safetensors_set.hpp"

#include "base/error.hpp"
#include "json_fields.hpp"

#include <filesystem>

namespace mmb {

using nlohmann::json;

SafetensorsSet SafetensorsSet::open_file(const std::string& path) {
  SafetensorsSet set;
  set.what_ = path;
  set.files_.push_back(SafetensorsFile::open(path));
  for (const auto& t : set.files_[0].tensors()) set.entries_.emplace(t.name, Entry{&t, &set.files_[0]});
  return set;
}

SafetensorsSet SafetensorsSet::open_index(const std::string& index_path) {
  SafetensorsSet set;
  set.what_ = index_path;
  const json index = parse_json_strict(read_text_file(index_path), index_path);
  JsonFields top(index, index_path);
  const json& weight_map = top.value("weight_map");
  JsonFields map(weight_map, top.field("weight_map"));

  // Shard file name -> the tensors the index puts there.
  std::map<std::string, std::vector<std::string>> shards;
  for (auto it = weight_map.begin(); it != weight_map.end(); ++it) {
    const std::string shard = map.string(it.key());
    // Only names in the index's own directory: an index must not reach elsewhere.
    if (shard.empty() || shard == "." || shard == ".." || shard.find('/') != std::string::npos || shard.find('\\') != std::string::npos)
      fail(MMB_ERR_FORMAT, map.field(it.key()), ": \"", shard, "\" is not a plain file name");
    shards[shard].push_back(it.key());
  }
  if (shards.empty()) fail(MMB_ERR_FORMAT, top.field("weight_map"), ": maps no tensors");

  const std::filesystem::path dir = std::filesystem::path(index_path).parent_path();
  set.files_.reserve(shards.size());
  for (const auto& [shard, names] : shards) set.files_.push_back(SafetensorsFile::open((dir / shard).string()));

  size_t i = 0;
  for (const auto& [shard, names] : shards) {
    const SafetensorsFile& file = set.files_[i++];
    for (const std::string& name : names) {
      const SafetensorsTensor* t = file.find(name);
      if (!t) fail(MMB_ERR_FORMAT, index_path, ": maps tensor '", name, "' to ", shard, ", which does not hold it");
      set.entries_.emplace(name, Entry{t, &file});
    }
  }
  for (const SafetensorsFile& file : set.files_) {
    for (const auto& t : file.tensors()) {
      const Entry* e = set.find(t.name);
      if (!e || e->file != &file)
        fail(MMB_ERR_FORMAT, file.path(), ": holds tensor '", t.name, "', which ", index_path,
             e ? cat(" maps to ", e->file->path()) : std::string(" does not list"));
    }
  }
  return set;
}

const SafetensorsSet::Entry* SafetensorsSet::find(const std::string& name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second;
}

uint64_t SafetensorsSet::total_bytes() const {
  uint64_t n = 0;
  for (const auto& f : files_) n += f.size();
  return n;
}

}  // namespace mmb
