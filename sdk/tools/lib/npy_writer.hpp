// Writes a float32 array as a NumPy .npy file (format version 1.0: little-endian '<f4',
// C order), streaming the values so large arrays never sit whole in memory. Read it
// back with numpy.load(path).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace mmb {

class NpyWriter {
 public:
  // Creates (or truncates) `path` and writes the header for `shape`. Throws
  // std::runtime_error naming the file when it cannot be opened or written.
  NpyWriter(const std::string& path, std::vector<uint64_t> shape);
  NpyWriter(const NpyWriter&) = delete;
  NpyWriter& operator=(const NpyWriter&) = delete;
  ~NpyWriter();  // closes the file; an unfinished array stays short on disk

  // Appends values in C order. Throws std::runtime_error past the shape's element count
  // or on a write error.
  void write(const float* values, size_t n);
  // Checks that every element was written and closes the file (throws otherwise).
  void finish();

  // The whole header for `shape`: magic, version 1.0, length, the dictionary padded with
  // spaces and a newline so the data starts at a multiple of 64 bytes.
  static std::string header(const std::vector<uint64_t>& shape);

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
  uint64_t expected_ = 1;
  uint64_t written_ = 0;
};

}  // namespace mmb
