// A file written in full or not at all: bytes go to a temporary file beside the
// destination, which commit() renames over it. A failed write (a full disk, a file size
// limit) or a writer that never commits leaves the destination as it was, so a
// half-written bundle or state is never found under its name.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mmb {

class ReplacingFile {
 public:
  // Creates the temporary file; throws MMB_ERR_IO naming it when it cannot.
  explicit ReplacingFile(std::string path);
  ~ReplacingFile();  // removes the temporary file unless committed
  ReplacingFile(const ReplacingFile&) = delete;
  ReplacingFile& operator=(const ReplacingFile&) = delete;

  // Throw MMB_ERR_IO with the system's reason (e.g. "No space left on device").
  void write(const void* data, size_t n);
  void write_at(uint64_t offset, const void* data, size_t n);
  // Closes the temporary file and renames it over the destination.
  void commit();

  // The whole file at once.
  static void write_whole(const std::string& path, std::string_view bytes);

 private:
  std::string path_, temp_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace mmb
