#include "bundle/bundle_format.hpp"

#include "base/error.hpp"

#include <cstring>

namespace mmb {

namespace {

// Explicit little-endian (de)serialization: the file layout never depends on the host.
void put_u32(std::byte* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = std::byte(v >> (8 * i));
}
void put_u64(std::byte* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = std::byte(v >> (8 * i));
}
uint32_t get_u32(const std::byte* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t(p[i]) << (8 * i);
  return v;
}
uint64_t get_u64(const std::byte* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t(p[i]) << (8 * i);
  return v;
}

}  // namespace

void encode_header(const BundleHeader& h, std::byte (&out)[kBundleHeaderSize]) {
  using L = BundleHeaderLayout;
  std::memset(out, 0, sizeof out);
  std::memcpy(out + L::magic, kBundleMagic, sizeof kBundleMagic);
  put_u32(out + L::format_version, h.format_version);
  put_u32(out + L::flags, h.flags);
  put_u64(out + L::manifest_offset, h.manifest_offset);
  put_u64(out + L::manifest_stored_size, h.manifest_stored_size);
  put_u64(out + L::manifest_raw_size, h.manifest_raw_size);
  put_u32(out + L::manifest_codec, uint32_t(h.manifest_codec));
  put_u64(out + L::manifest_xxh64, h.manifest_xxh64);
}

BundleHeader decode_header(const std::byte (&in)[kBundleHeaderSize]) {
  using L = BundleHeaderLayout;
  if (std::memcmp(in + L::magic, kBundleMagic, sizeof kBundleMagic) != 0)
    fail(MMB_ERR_FORMAT, "header: bad magic at offset 0 (not a .mmb bundle)");
  BundleHeader h;
  h.format_version = get_u32(in + L::format_version);
  if (h.format_version == 0) fail(MMB_ERR_FORMAT, "header: format_version is 0");
  if (h.format_version > kBundleFormatVersion)
    fail(MMB_ERR_UNSUPPORTED, "header: format_version ", h.format_version, " is newer than this library reads (",
         kBundleFormatVersion, ")");
  h.flags = get_u32(in + L::flags);
  if (h.flags != 0) fail(MMB_ERR_UNSUPPORTED, "header: unknown flags 0x", std::hex, h.flags);
  const uint32_t codec = get_u32(in + L::manifest_codec);
  if (codec > uint32_t(ManifestCodec::Zstd)) fail(MMB_ERR_UNSUPPORTED, "header: unknown manifest_codec ", codec);
  h.manifest_codec = ManifestCodec(codec);
  if (get_u32(in + L::reserved) != 0) fail(MMB_ERR_FORMAT, "header: reserved field at offset ", L::reserved, " is not 0");
  for (uint64_t i = L::padding; i < kBundleHeaderSize; ++i)
    if (in[i] != std::byte{0}) fail(MMB_ERR_FORMAT, "header: padding byte at offset ", i, " is not 0");
  h.manifest_offset = get_u64(in + L::manifest_offset);
  h.manifest_stored_size = get_u64(in + L::manifest_stored_size);
  h.manifest_raw_size = get_u64(in + L::manifest_raw_size);
  h.manifest_xxh64 = get_u64(in + L::manifest_xxh64);
  if (h.manifest_raw_size == 0 || h.manifest_raw_size > kMaxManifestRawSize)
    fail(MMB_ERR_FORMAT, "header: manifest_raw_size ", h.manifest_raw_size, " is outside [1, ", kMaxManifestRawSize, "]");
  if (h.manifest_stored_size == 0) fail(MMB_ERR_FORMAT, "header: manifest_stored_size is 0");
  if (h.manifest_codec == ManifestCodec::None && h.manifest_stored_size != h.manifest_raw_size)
    fail(MMB_ERR_FORMAT, "header: uncompressed manifest has stored size ", h.manifest_stored_size, " but raw size ",
         h.manifest_raw_size);
  return h;
}

void check_manifest_range(const BundleHeader& h, uint64_t file_size) {
  if (h.manifest_offset < kBundleHeaderSize)
    fail(MMB_ERR_FORMAT, "header: manifest_offset ", h.manifest_offset, " lies inside the 64-byte header");
  if (h.manifest_offset > file_size || h.manifest_stored_size > file_size - h.manifest_offset)
    fail(MMB_ERR_FORMAT, "header: manifest at offset ", h.manifest_offset, " + stored size ", h.manifest_stored_size,
         " exceeds file size ", file_size);
}

}  // namespace mmb
