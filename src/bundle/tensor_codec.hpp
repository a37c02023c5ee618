// How tensor bytes are stored in a bundle: as is, as one zstd frame, or byte-shuffled
// (one plane per byte of significance, most significant first) then one zstd frame.
// Shuffling groups the exponent bytes of floats together, which is what lets zstd
// find structure in half-precision and f32 weights.
#pragma once

#include "base/host_allocator.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace mmb {

enum class Codec : uint8_t { None = 0, Zstd = 1, ShuffleZstd = 2 };

std::string_view codec_name(Codec codec);  // "none", "zstd", "shuffle-zstd"

// Reorders n_values values of element_size bytes (little-endian) into element_size
// planes: plane 0 holds every value's most significant byte, the last plane the least
// significant. unshuffle_bytes is its inverse. src and dst must not overlap.
void shuffle_bytes(const std::byte* src, std::byte* dst, size_t n_values, size_t element_size);
void unshuffle_bytes(const std::byte* src, std::byte* dst, size_t n_values, size_t element_size);

// Encodes raw bytes (a whole number of element_size values) with Zstd or ShuffleZstd
// as one zstd frame that declares its content size. Deterministic for a given level
// and zstd version. Throws MMB_ERR_INVALID_ARGUMENT for Codec::None or a bad level.
std::vector<std::byte> encode_tensor(Codec codec, std::span<const std::byte> raw, size_t element_size, int level);

// The longest zstd frame header (ZSTD_FRAMEHEADERSIZE_MAX in zstd's static API).
inline constexpr size_t kZstdFrameHeaderMax = 18;

// Checks, from the first bytes of a stored tensor (up to kZstdFrameHeaderMax are used),
// that it begins a zstd frame declaring a content size of exactly raw_size.
// MMB_ERR_FORMAT otherwise.
void check_frame_header(std::span<const std::byte> head, uint64_t raw_size);

// Decodes `stored` into exactly dst.size() bytes. For zstd codecs, `stored` must be
// one zstd frame and nothing else (no second or skippable frame, no trailing bytes),
// its declared content size must equal dst.size(), and it must decode to exactly that
// many bytes; the decoder never writes past dst. Any violation is MMB_ERR_FORMAT.
// Scratch memory for the shuffle comes from `allocator`.
void decode_tensor(Codec codec, std::span<const std::byte> stored, std::span<std::byte> dst, size_t element_size,
                   const HostAllocator& allocator);

}  // namespace mmb
