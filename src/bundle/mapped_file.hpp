// A whole file mapped read-only: mmap on POSIX (mapped_file_posix.cpp), a file mapping
// object on Windows (mapped_file_windows.cpp). Raw tensors are used straight from the
// mapping, so pages are shared with every other process mapping the same bundle.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace mmb {

class MappedFile {
 public:
  // `path` is UTF-8. Throws MMB_ERR_IO when the file cannot be opened or mapped, or is
  // not a regular file. An empty file has no mapping (data() is null).
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::byte* data() const { return map_; }
  uint64_t size() const { return size_; }

 private:
  const std::byte* map_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace mmb
