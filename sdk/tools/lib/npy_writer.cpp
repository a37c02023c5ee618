#include "npy_writer.hpp"

#include <bit>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace mmb {

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
  file_ = std::make_unique<ReplacingFile>(path);
  file_->write(head.data(), head.size());
}

void NpyWriter::write(const float* values, size_t n) {
  if (!file_) throw std::runtime_error("npy: " + path_ + " is already finished");
  if (n > expected_ - written_)
    throw std::runtime_error("npy: " + std::to_string(written_ + n) + " values for " + path_ + ", whose shape holds " +
                             std::to_string(expected_));
  if constexpr (std::endian::native == std::endian::little) {
    file_->write(values, n * sizeof(float));
  } else {
    for (size_t i = 0; i < n; ++i) {
      const uint32_t bits = std::bit_cast<uint32_t>(values[i]);
      const unsigned char le[4] = {static_cast<unsigned char>(bits), static_cast<unsigned char>(bits >> 8),
                                   static_cast<unsigned char>(bits >> 16), static_cast<unsigned char>(bits >> 24)};
      file_->write(le, 4);
    }
  }
  written_ += n;
}

void NpyWriter::finish() {
  if (!file_) throw std::runtime_error("npy: " + path_ + " is already finished");
  if (written_ != expected_)
    throw std::runtime_error("npy: " + path_ + " got " + std::to_string(written_) + " of its " +
                             std::to_string(expected_) + " values");
  file_->commit();
  file_.reset();
}

}  // namespace mmb
