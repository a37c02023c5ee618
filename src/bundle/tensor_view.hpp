// One tensor of a bundle: what the manifest says about it, and once loaded, its bytes.
#pragma once

#include "base/dtype.hpp"
#include "bundle/tensor_codec.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace mmb {

// A decoded tensor, ready to use: data points into the mapped file or borrowed buffer
// (raw tensors) or into memory owned by the LoadedBundle (decoded, copied, or read
// through host I/O). data is null only when the bundle was opened without its data
// (ReadOptions::load_tensor_data = false) or in a manifest record.
struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  std::vector<uint64_t> shape;  // row-major, outermost first
  const std::byte* data = nullptr;  // 64-byte aligned, raw_size bytes
  uint64_t raw_size = 0;
  // As stored in the file, for inspect/verify/bench.
  Codec codec = Codec::None;
  uint64_t offset = 0;
  uint64_t stored_size = 0;
  uint64_t xxh64 = 0;  // of the raw bytes, seed 0

  uint64_t elements() const;
};

}  // namespace mmb
