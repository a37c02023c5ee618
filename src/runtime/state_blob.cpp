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

uint64_t checksum(const std::byte* head, size_t header_size, const std::byte* payload, uint64_t payload_bytes) {
  Xxh64Stream hash;
  hash.update(head, 40);
  hash.update(head + 48, header_size - 48);
  hash.update(payload, payload_bytes);
  return hash.digest();
}

}  // namespace

void write_state_blob(void* buf, uint64_t fingerprint, uint64_t position, const float* state, uint64_t n_floats,
                      const StateKv* kv) {
  auto* p = static_cast<std::byte*>(buf);
  const uint32_t header_size = uint32_t(state_header_size(kv));
  const uint16_t minor = kv ? 1 : 0;
  std::memcpy(p, kMagic, 8);
  std::memcpy(p + 8, &kStateMajor, 2);
  std::memcpy(p + 10, &minor, 2);
  std::memcpy(p + 12, &header_size, 4);
  std::memcpy(p + 16, &fingerprint, 8);
  std::memcpy(p + 24, &position, 8);
  std::memcpy(p + 32, &n_floats, 8);
  if (kv) {
    const uint32_t reserved = 0;
    std::memcpy(p + 48, &kv->type, 4);
    std::memcpy(p + 52, &reserved, 4);
    std::memcpy(p + 56, &kv->bytes, 8);
  }
  // state null: the payload is already in place (and memcpy from null is undefined
  // even for zero bytes, as for a model without Mamba layers).
  if (state && n_floats) std::memcpy(p + header_size, state, n_floats * sizeof(float));
  const uint64_t sum = checksum(p, header_size, p + header_size, n_floats * sizeof(float) + (kv ? kv->bytes : 0));
  std::memcpy(p + 40, &sum, 8);
}

StateBlobView check_state_blob(const void* buf, size_t size, uint64_t fingerprint, uint64_t n_floats,
                               uint64_t kv_elements_per_token) {
  const auto* p = static_cast<const std::byte*>(buf);
  if (size < kStateHeaderSize) fail(MMB_ERR_FORMAT, "state blob of ", size, " bytes is shorter than its ", kStateHeaderSize, "-byte header");
  if (std::memcmp(p, kMagic, 8) != 0) fail(MMB_ERR_FORMAT, "not a moemamba state blob (bad magic)");
  const auto major = read_le<uint16_t>(p + 8);
  if (major != kStateMajor)
    fail(MMB_ERR_UNSUPPORTED, "state blob version ", major, ".", read_le<uint16_t>(p + 10), " is not loadable by state format ", kStateMajor, ".", kStateMinor);
  const auto minor = read_le<uint16_t>(p + 10);
  const auto header_size = read_le<uint32_t>(p + 12);
  const auto count = read_le<uint64_t>(p + 32);
  const size_t min_header = minor >= 1 ? kStateHeaderSizeWithKv : kStateHeaderSize;
  if (header_size < min_header || header_size > size)
    fail(MMB_ERR_FORMAT, "state blob header_size ", header_size, " is invalid for a version 1.", minor, " blob of ", size, " bytes");
  StateKv kv;
  if (minor >= 1) {
    kv.type = read_le<uint32_t>(p + 48);
    kv.bytes = read_le<uint64_t>(p + 56);
    if (kv.type > 1) fail(MMB_ERR_FORMAT, "state blob KV element type ", kv.type, " is unknown");
  }
  const uint64_t room = size - header_size;
  if (count > room / sizeof(float) || kv.bytes > room - count * sizeof(float) ||
      header_size + count * sizeof(float) + kv.bytes != size)
    fail(MMB_ERR_FORMAT, "state blob holds ", size, " bytes; its header promises ", header_size, " + 4 x ", count, " + ",
         kv.bytes);
  if (checksum(p, header_size, p + header_size, count * sizeof(float) + kv.bytes) != read_le<uint64_t>(p + 40))
    fail(MMB_ERR_FORMAT, "state blob checksum mismatch (corrupted)");
  if (read_le<uint64_t>(p + 16) != fingerprint)
    fail(MMB_ERR_STATE_MISMATCH, "state blob was saved from another model (fingerprint ", read_le<uint64_t>(p + 16),
         ", this model ", fingerprint, ")");
  if (count != n_floats) fail(MMB_ERR_STATE_MISMATCH, "state blob holds ", count, " floats; this model's state has ", n_floats);
  const uint64_t position = read_le<uint64_t>(p + 24);
  if (kv_elements_per_token) {
    if (minor < 1) fail(MMB_ERR_STATE_MISMATCH, "state blob has no KV cache; this model has attention layers");
    const uint64_t element = kv.type == 0 ? 2 : 4;
    uint64_t expected = 0;
    if (__builtin_mul_overflow(position, kv_elements_per_token * element, &expected) || expected != kv.bytes)
      fail(MMB_ERR_FORMAT, "state blob KV part of ", kv.bytes, " bytes does not match ", position, " tokens of ",
           kv_elements_per_token, " elements of ", element, " bytes");
  } else if (kv.bytes) {
    fail(MMB_ERR_STATE_MISMATCH, "state blob carries a KV cache; this model has no attention layers");
  }
  return {p + header_size, position, minor >= 1 ? p + header_size + count * sizeof(float) : nullptr, kv};
}

}  // namespace mmb
