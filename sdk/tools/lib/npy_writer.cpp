#include "npy_writer.hpp"

#include <bit>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace mmb {

namespace {

[[noreturn]] void io_failure(const std::string& what, const std::string& path) {
  throw std::runtime_error(what + " " + path + ": " + std::strerror(errno));
}

}  // namespace

std::string NpyWriter::header(const std::vector<uint64_t>& shape) {
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < shape.size(); ++i) dict += (i ? ", " : "") + std::to_string(shape[i]);
  if (shape.size() == 1) dict += ",";  // a Python 1-tuple
  dict += "), }";
  // magic (6) + version (2) + header length (2), then the dictionary ending in '\n'.
  const size_t unpadded = 10 + dict.size() + 1;
  dict.append((64 - unpadded % 64) % 64, ' ');
  dict += '\n';
  if (dict.size() > 0xFFFF) throw std::runtime_error("npy: shape too long for a version 1.0 header");
  std::string out = "\x93NUMPY";
  out += char(1);
  out += char(0);
  out += char(dict.size() & 0xFF);
  out += char(dict.size() >> 8);
  return out + dict;
}

NpyWriter::NpyWriter(const std::string& path, std::vector<uint64_t> shape) : path_(path) {
  const std::string head = header(shape);
  for (uint64_t d : shape) expected_ *= d;
  file_ = std::fopen(path.c_str(), "wb");
  if (!file_) io_failure("cannot create", path);
  if (std::fwrite(head.data(), 1, head.size(), file_) != head.size()) io_failure("cannot write", path);
}

NpyWriter::~NpyWriter() {
  if (file_) std::fclose(file_);
}

void NpyWriter::write(const float* values, size_t n) {
  if (!file_) throw std::runtime_error("npy: " + path_ + " is already finished");
  if (n > expected_ - written_)
    throw std::runtime_error("npy: " + std::to_string(written_ + n) + " values for " + path_ + ", whose shape holds " +
                             std::to_string(expected_));
  if constexpr (std::endian::native == std::endian::little) {
    if (std::fwrite(values, sizeof(float), n, file_) != n) io_failure("cannot write", path_);
  } else {
    for (size_t i = 0; i < n; ++i) {
      const uint32_t bits = std::bit_cast<uint32_t>(values[i]);
      const unsigned char le[4] = {static_cast<unsigned char>(bits), static_cast<unsigned char>(bits >> 8),
                                   static_cast<unsigned char>(bits >> 16), static_cast<unsigned char>(bits >> 24)};
      if (std::fwrite(le, 1, 4, file_) != 4) io_failure("cannot write", path_);
    }
  }
  written_ += n;
}

void NpyWriter::finish() {
  if (!file_) throw std::runtime_error("npy: " + path_ + " is already finished");
  if (written_ != expected_)
    throw std::runtime_error("npy: " + path_ + " got " + std::to_string(written_) + " of its " +
                             std::to_string(expected_) + " values");
  std::FILE* f = file_;
  file_ = nullptr;
  if (std::fclose(f) != 0) io_failure("cannot write", path_);
}

}  // namespace mmb
