// The fixed 64-byte header at the start of every .mmb file (little-endian).
// DESIGN.md section 4; docs/bundle-format.md describes every field.
#pragma once

#include <cstdint>

namespace mmb {

inline constexpr char kBundleMagic[8] = {'M', 'O', 'E', 'M', 'A', 'M', 'B', 'A'};
inline constexpr uint32_t kBundleFormatVersion = 1;
inline constexpr uint64_t kBundleHeaderSize = 64;
inline constexpr uint64_t kTensorAlignment = 64;      // compressed tensors
inline constexpr uint64_t kRawTensorAlignment = 4096; // raw tensors: page-aligned for mmap use

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

}  // namespace mmb
