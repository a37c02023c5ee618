// The manifest of a bundle (sdk/schema/bundle.fbs) as C++ values, and its FlatBuffers
// encoding. Encoding is deterministic; decoding verifies the buffer first (FlatBuffers
// Verifier and file identifier "MMB1") and never reads outside it.
#pragma once

#include "bundle/tensor_view.hpp"
#include "model/model_config.hpp"
#include "model/tokenizer_data.hpp"

#include <moemamba/moemamba.h>

#include <cstddef>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace mmb {

using Metadata = std::vector<std::pair<std::string, std::string>>;

struct Manifest {
  ModelConfig config;
  TokenizerData tokenizer;
  Metadata metadata;
  std::vector<TensorView> tensors;  // records only: data is null
};

// FlatBuffers bytes of the manifest. Tokenizer pieces become piece_bytes + piece_offsets
// (MMB_ERR_INVALID_ARGUMENT when they exceed the u32 offsets).
std::vector<std::byte> encode_manifest(const ModelConfig& config, const TokenizerData& tokenizer,
                                       const Metadata& metadata, const std::vector<TensorView>& tensors);

// Verifies and converts. `bytes` must be 8-byte aligned (FlatBuffers reads scalars in
// place). Throws MMB_ERR_FORMAT for a buffer that fails verification, a missing table,
// piece offsets that are not monotonic within piece_bytes, a shape of rank above 4;
// MMB_ERR_UNSUPPORTED for an unknown tensor dtype or codec, or tokenizer kind. Values
// are not range-checked here: see validate_config, check_tokenizer, check_metadata.
Manifest decode_manifest(std::span<const std::byte> bytes);

// Tokenizer rules: a known kind, normalizer and pre-tokenizer (else MMB_ERR_UNSUPPORTED),
// 1 to vocab_size pieces, merges between existing pieces, special, bos/eos/pad/unk,
// post_prefix, post_suffix and stop ids below vocab_size (-1 allowed for bos/eos/pad/
// unk). The pipeline steps are checked when the Tokenizer is built. Throws `status`
// otherwise.
void check_tokenizer(const TokenizerData& tokenizer, uint32_t vocab_size, mmb_status status);

// Metadata keys are non-empty and unique. Throws `status` otherwise.
void check_metadata(const Metadata& metadata, mmb_status status);

}  // namespace mmb
