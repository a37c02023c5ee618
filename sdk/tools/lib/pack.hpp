// `mmb pack` as a library call: a safetensors checkpoint (checkpoint.hpp) in, a .mmb
// bundle out. The CLI and the tests share it.
#pragma once

#include "base/dtype.hpp"
#include "base/progress.hpp"
#include "bundle/bundle_writer.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mmb {

struct PackOptions {
  std::optional<DType> dtype;  // the weights' dtype (packed_dtype.hpp); none: keep the input's
  WriterOptions writer;
  // tokenizer.json to convert (with the special_tokens_map.json, tokenizer_config.json
  // and generation_config.json beside it, if any);
  // empty: the checkpoint's (its config's "tokenizer" or a tokenizer.json beside
  // config.json), else the 256-entry byte tokenizer.
  std::string tokenizer_path;
  // Chat templates to store (name, Jinja file), each replacing the tokenizer's
  // template of that name; every template is compiled at pack time.
  std::vector<std::pair<std::string, std::string>> chat_templates;
  // Stored after "source_format" (the dialect) and the native config's "metadata";
  // a key given again replaces the earlier value.
  std::vector<std::pair<std::string, std::string>> metadata;
  // Progress of each step before writer.progress's, in bytes (base/progress.hpp); null:
  // none. read_progress: a checkpoint's tensors mapped or converted
  // (CheckpointOptions::progress), or a bundle input loaded and verified
  // (ReadOptions::progress); convert_progress: a bundle input's tensors converted to
  // `dtype` (repack_bundle). Returning false cancels (MMB_ERR_CANCELLED).
  ProgressFn* read_progress = nullptr;
  ProgressFn* convert_progress = nullptr;
};

struct PackSummary {
  std::string dialect;    // Checkpoint::dialect, or "mmb" for a bundle
  std::string tokenizer;  // the tokenizer.json used, "bytes", or "the bundle's"
  // For a converted tokenizer.json: the files applied beside it and what it holds
  // (" + tokenizer_config.json + generation_config.json: byte-level BPE, 50277 tokens,
  // 1 chat template, 2 stop ids"); else empty.
  std::string tokenizer_found;
  std::string dtypes;     // of the stored tensors: "bf16+f32"
  size_t tensors = 0;
  uint64_t params = 0;     // elements of all tensors, padded embedding rows included
  uint64_t bytes_in = 0;   // the safetensors files
  uint64_t bytes_out = 0;  // the bundle
  double seconds = 0;
};

// `input` is a checkpoint (checkpoint.hpp), or a bundle (a path ending in .mmb) whose
// model is written again in options.dtype (bundle_repack.hpp) with its own tokenizer
// and metadata unless options give others.
// Throws mmb::Error: what load_checkpoint or loading the bundle throws, MMB_ERR_FORMAT
// for a tokenizer that does not fit the vocabulary, MMB_ERR_UNSUPPORTED for weights q8
// cannot hold, MMB_ERR_IO when the bundle cannot be written.
PackSummary pack_checkpoint(const std::string& input, const std::string& output, const PackOptions& options);

}  // namespace mmb
