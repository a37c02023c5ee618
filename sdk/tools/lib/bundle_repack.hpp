// A bundle's model with its weights in another dtype: what `mmb pack BUNDLE.mmb`
// writes (a shipped bf16 bundle made q8 without its checkpoint) and `mmb bench load`
// times. Each tensor goes to packed_dtype.hpp's dtype for the weights' dtype, through
// f32: a q8 source gives its dequantized values.
#pragma once

#include "base/progress.hpp"
#include "bundle/bundle_reader.hpp"
#include "bundle/bundle_writer.hpp"

#include <cstddef>
#include <optional>
#include <vector>

namespace mmb {

// Movable, not copyable: contents.tensors point into storage (converted tensors) or
// into the source bundle (tensors whose dtype stays), which must outlive it.
struct RepackedBundle {
  BundleContents contents;
  std::vector<std::vector<std::byte>> storage;

  RepackedBundle() = default;
  RepackedBundle(RepackedBundle&&) = default;
  RepackedBundle& operator=(RepackedBundle&&) = default;
  RepackedBundle(const RepackedBundle&) = delete;
  RepackedBundle& operator=(const RepackedBundle&) = delete;
};

// The bundle's config, tokenizer, metadata and tensors (in its order), converted to
// `weights`; nullopt keeps every tensor as it is. The bundle must hold its tensor
// data (ReadOptions::load_tensor_data). Throws mmb::Error(MMB_ERR_UNSUPPORTED) naming
// the tensor when q8 cannot hold one of its values (NaN, Inf, huge). `progress`: in
// raw bytes of the bundle's tensors, after each tensor (base/progress.hpp); returning
// false cancels (MMB_ERR_CANCELLED).
RepackedBundle repack_bundle(const LoadedBundle& bundle, std::optional<DType> weights, ProgressFn* progress = nullptr);

}  // namespace mmb
