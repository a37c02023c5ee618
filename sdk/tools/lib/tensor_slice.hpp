// Part of a checkpoint tensor, read as a native tensor of its own. Some families pack
// several native tensors into one: Granite 4.0 stores a layer's experts as one
// [E, 2 d_ff, d] tensor (expert j's activation rows, then its multiplier rows). A
// converter's tensor-name mapping names such a part by a suffix on the source name:
//   "name[j]"       the j-th slice of the leading dimension (that dimension dropped)
//   "name[a:b]"     rows a .. b-1 of the leading dimension
//   "name[j][a:b]"  rows a .. b-1 of the j-th slice
// Every such part is contiguous in its source (row-major), so it is used in place. The
// parts taken from one source must tile it exactly: a row nobody reads means the config
// and the checkpoint disagree (check_parts_tile).
#pragma once

#include "safetensors.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace mmb {

struct TensorSlice {
  std::string source;                                 // the checkpoint tensor's name
  std::optional<uint64_t> index;                      // [j]
  std::optional<std::pair<uint64_t, uint64_t>> rows;  // [a:b], a < b
};

// The name of a part, for a converter's mapping: sliced_name("w", 3, {{0, 8}}) is "w[3][0:8]".
std::string sliced_name(const std::string& source, std::optional<uint64_t> index,
                        std::optional<std::pair<uint64_t, uint64_t>> rows = std::nullopt);

// The slice a name denotes; nullopt when it has no well-formed suffix (a plain name).
std::optional<TensorSlice> parse_sliced_name(const std::string& name);

// The part of `source` (its name becomes sliced_name's). Throws mmb::Error
// (MMB_ERR_FORMAT) starting with `what` when the source has too few dimensions or the
// index or rows fall outside it.
SafetensorsTensor slice_tensor(const SafetensorsTensor& source, const TensorSlice& slice, const std::string& what);

// Throws mmb::Error (MMB_ERR_FORMAT) starting with `what` unless `parts` (sub-spans of
// source.data) cover every byte of it exactly once.
void check_parts_tile(const SafetensorsTensor& source, std::vector<std::span<const std::byte>> parts,
                      const std::string& what);

}  // namespace mmb
