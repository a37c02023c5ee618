// Writes a float32 array as a NumPy .npy file (format version 1.0: little-endian '<f4',
// C order), streaming the values so large arrays never sit whole in memory. Read it
// back with numpy.load(path). The file appears under its name only once finish()
// succeeds (base/replacing_file.hpp).
#pragma once

#include "base/replacing_file.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mmb {

class NpyWriter {
 public:
  // Starts `path` (replaced when finish() succeeds) with the header for `shape`.
  // Throws naming the file when it cannot be created or written.
  NpyWriter(const std::string& path, std::vector<uint64_t> shape);
  NpyWriter(const NpyWriter&) = delete;
  NpyWriter& operator=(const NpyWriter&) = delete;
  ~NpyWriter() = default;  // an unfinished array is discarded: `path` is left as it was

  // Appends values in C order. Throws std::runtime_error past the shape's element count
  // or on a write error.
  void write(const float* values, size_t n);
  // Checks that every element was written, then puts the file in place (throws otherwise).
  void finish();

  // The whole header for `shape`: magic, version 1.0, length, the dictionary padded with
  // spaces and a newline so the data starts at a multiple of 64 bytes.
  static std::string header(const std::vector<uint64_t>& shape);

 private:
  std::string path_;
  std::unique_ptr<ReplacingFile> file_;
  uint64_t expected_ = 1;
  uint64_t written_ = 0;
};

}  // namespace mmb
