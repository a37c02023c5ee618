// zstd for paged-out session states: a fast level, since paging sits between frames
// of a game and a state is rewritten by every step anyway.
#pragma once

#include <cstddef>
#include <vector>

namespace mmb {

// Throws std::bad_alloc or MMB_ERR_INTERNAL.
std::vector<std::byte> compress_state(const void* data, size_t size);
// Throws MMB_ERR_FORMAT when the data does not decompress to exactly `size` bytes.
std::vector<std::byte> decompress_state(const std::vector<std::byte>& compressed, size_t size);

}  // namespace mmb
