#include "runtime/state_blob.hpp"

#include "base/checksum.hpp"
#include "base/error.hpp"

#include <cstring>

namespace mmb {

namespace {

constexpr char kMagic[8] = {'M', 'M', 'B', 'S', 'T', 'A', 'T', 'E'};

template <typename T>
T read_le(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof v);  // the library targets little-endian hosts
  return v;
}

uint64_t checksum(const std::byte* head, const std::byte* payload, uint64_t payload_bytes) {
  Xxh64Stream hash;
  hash.update(head, 40);
  hash.update(payload, payload_bytes);
  return hash.digest();
}

}  // namespace

void write_state_blob(void* buf, uint64_t fingerprint, uint64_t position, const float* state, uint64_t n_floats) {
  auto* p = static_cast<std::byte*>(buf);
  const uint32_t header_size = kStateHeaderSize;
  std::memcpy(p, kMagic, 8);
  std::memcpy(p + 8, &kStateMajor, 2);
  std::memcpy(p + 10, &kStateMinor, 2);
  std::memcpy(p + 12, &header_size, 4);
  std::memcpy(p + 16, &fingerprint, 8);
  std::memcpy(p + 24, &position, 8);
  std::memcpy(p + 32, &n_floats, 8);
  // state null: the payload is already in place (and memcpy from null is undefined
  // even for zero bytes, as for a model without Mamba layers).
  if (state && n_floats) std::memcpy(p + kStateHeaderSize, state, n_floats * sizeof(float));
  uint64_t sum = checksum(p, p + kStateHeaderSize, n_floats * sizeof(float));
  std::memcpy(p + 40, &sum, 8);
}

StateBlobView check_state_blob(const void* buf, size_t size, uint64_t fingerprint, uint64_t n_floats) {
  const auto* p = static_cast<const std::byte*>(buf);
  if (size < kStateHeaderSize) fail(MMB_ERR_FORMAT, "state blob of ", size, " bytes is shorter than its ", kStateHeaderSize, "-byte header");
  if (std::memcmp(p, kMagic, 8) != 0) fail(MMB_ERR_FORMAT, "not a moemamba state blob (bad magic)");
  const auto major = read_le<uint16_t>(p + 8);
  if (major != kStateMajor)
    fail(MMB_ERR_UNSUPPORTED, "state blob version ", major, ".", read_le<uint16_t>(p + 10), " is not loadable by state format ", kStateMajor, ".", kStateMinor);
  const auto header_size = read_le<uint32_t>(p + 12);
  const auto count = read_le<uint64_t>(p + 32);
  if (header_size < kStateHeaderSize || header_size > size)
    fail(MMB_ERR_FORMAT, "state blob header_size ", header_size, " is invalid for a blob of ", size, " bytes");
  if (count > (size - header_size) / sizeof(float) || header_size + count * sizeof(float) != size)
    fail(MMB_ERR_FORMAT, "state blob holds ", size, " bytes; its header promises ", header_size, " + 4 x ", count);
  if (checksum(p, p + header_size, count * sizeof(float)) != read_le<uint64_t>(p + 40))
    fail(MMB_ERR_FORMAT, "state blob checksum mismatch (corrupted)");
  if (read_le<uint64_t>(p + 16) != fingerprint)
    fail(MMB_ERR_STATE_MISMATCH, "state blob was saved from another model (fingerprint ", read_le<uint64_t>(p + 16),
         ", this model ", fingerprint, ")");
  if (count != n_floats) fail(MMB_ERR_STATE_MISMATCH, "state blob holds ", count, " floats; this model's state has ", n_floats);
  return {p + header_size, read_le<uint64_t>(p + 24)};
}

}  // namespace mmb
