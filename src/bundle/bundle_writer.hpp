// Writes .mmb bundles. Library-internal (used by `mmb pack`, `mmb synth` and the tests).
//
// Layout: the 64-byte header, then the tensors in the order given (each on a 64-byte
// boundary; raw tensors of at least 4096 bytes on a 4096-byte page boundary; zero bytes
// between), then the manifest (on a 64-byte boundary, zstd-compressed unless disabled
// or not smaller), and finally the header is filled in. The manifest comes last so that
// tensors can be written as they are encoded: memory use beyond the inputs is one
// window of encoded tensors (64 MiB of input per thread, or the largest tensor), not
// the model's size.
//
// Deterministic: the same contents and options give the same bytes, on every run and
// for any thread count (with the same zstd version). Offsets are u64, so bundles over
// 4 GiB work.
#pragma once

#include "base/dtype.hpp"
#include "base/progress.hpp"
#include "bundle/tensor_codec.hpp"
#include "model/model_config.hpp"
#include "model/tokenizer_data.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace mmb {

struct WriterTensor {
  std::string name;
  DType dtype = DType::F32;
  std::vector<uint64_t> shape;
  std::span<const std::byte> data;  // raw little-endian values, tensor_bytes(dtype, shape) bytes
};

struct BundleContents {
  ModelConfig config;
  TokenizerData tokenizer = TokenizerData::bytes();
  std::vector<std::pair<std::string, std::string>> metadata;
  std::vector<WriterTensor> tensors;  // written in this order
};

struct WriterOptions {
  // For every tensor; a tensor whose frame would not be smaller than its raw bytes is
  // stored raw instead. ShuffleZstd applies to any dtype (planes by significance).
  Codec codec = Codec::None;
  int level = 3;              // zstd level, ZSTD_minCLevel() to ZSTD_maxCLevel()
  int threads = 1;            // compression threads, >= 1 (output is the same for any count)
  bool compress_manifest = true;
  // Progress in raw bytes of the tensors written (base/progress.hpp), called on the
  // thread that called the writer after each tensor is written: first with done = 0,
  // last with done = total once the whole bundle is written. Return false to cancel:
  // the writer throws MMB_ERR_CANCELLED (a file writer removes its temporary file).
  ProgressFn* progress = nullptr;
};

// Checks the contents and options first and throws mmb::Error(MMB_ERR_INVALID_ARGUMENT)
// naming the problem before writing anything: a config validate_config rejects, a
// missing, unexpected, duplicate or wrongly shaped tensor, q8 on a tensor that is not
// a weight matrix, a data size that is not tensor_bytes(dtype, shape), a tokenizer or
// metadata the reader would refuse, a bad level or thread count.
std::vector<std::byte> write_bundle_to_memory(const BundleContents& contents, const WriterOptions& options);
// Writes to `path` through a temporary file in the same directory, renamed into place
// once complete (readers never see a partial bundle; it is not fsync'ed). Throws
// MMB_ERR_IO naming the path and the errno text; the temporary file is removed.
void write_bundle_to_file(const BundleContents& contents, const WriterOptions& options, const std::string& path);

}  // namespace mmb
