// The fixed 64-byte header at the start of every .mmb file (little-endian).
// DESIGN.md section 4; docs/bundle-format.md describes every field.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mmb {

inline constexpr char kBundleMagic[8] = {'M', 'O', 'E', 'M', 'A', 'M', 'B', 'A'};
inline constexpr uint32_t kBundleFormatVersion = 1;
inline constexpr uint64_t kBundleHeaderSize = 64;
// Every tensor starts on a multiple of kTensorAlignment (the reader requires it). The
// writer also puts each raw tensor of at least one page on a page boundary, so mapped
// weights never share a page with their neighbours; the reader does not require that.
inline constexpr uint64_t kTensorAlignment = 64;
inline constexpr uint64_t kRawTensorAlignment = 4096;

enum class ManifestCodec : uint32_t { None = 0, Zstd = 1 };

// Byte offsets of the header fields.
struct BundleHeaderLayout {
  static constexpr uint64_t magic = 0;                 // char[8]
  static constexpr uint64_t format_version = 8;        // u32
  static constexpr uint64_t flags = 12;                // u32, 0 in version 1
  static constexpr uint64_t manifest_offset = 16;      // u64
  static constexpr uint64_t manifest_stored_size = 24; // u64
  static constexpr uint64_t manifest_raw_size = 32;    // u64
  static constexpr uint64_t manifest_codec = 40;       // u32
  static constexpr uint64_t reserved = 44;             // u32, 0
  static constexpr uint64_t manifest_xxh64 = 48;       // u64, of the raw manifest bytes
  static constexpr uint64_t padding = 56;              // 8 bytes, 0
};

// Limits that keep a hostile bundle from asking for absurd work before any check.
inline constexpr uint64_t kMaxManifestRawSize = 256ull << 20;
inline constexpr uint32_t kMaxTensorRank = 4;

// The header's values. The magic, reserved and padding fields are implied.
struct BundleHeader {
  uint32_t format_version = kBundleFormatVersion;
  uint32_t flags = 0;
  uint64_t manifest_offset = 0;
  uint64_t manifest_stored_size = 0;
  uint64_t manifest_raw_size = 0;
  ManifestCodec manifest_codec = ManifestCodec::None;
  uint64_t manifest_xxh64 = 0;
};

void encode_header(const BundleHeader& header, std::byte (&out)[kBundleHeaderSize]);

// Parses a header and checks every field that does not depend on the file around it:
// magic (MMB_ERR_FORMAT), format_version (newer: MMB_ERR_UNSUPPORTED, 0: MMB_ERR_FORMAT),
// flags (unknown bits: MMB_ERR_UNSUPPORTED), manifest_codec (unknown: MMB_ERR_UNSUPPORTED),
// reserved and padding (MMB_ERR_FORMAT unless 0), manifest sizes (MMB_ERR_FORMAT).
BundleHeader decode_header(const std::byte (&in)[kBundleHeaderSize]);

// Checks that the manifest lies within a file of `file_size` bytes, after the header.
void check_manifest_range(const BundleHeader& header, uint64_t file_size);

}  // namespace mmb
