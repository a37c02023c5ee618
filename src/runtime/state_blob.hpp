// The saved-state format (version 1.0): a 48-byte little-endian header then the
// state's floats. Minor versions may grow the header (payload at header_size);
// a new major version is not loadable by older libraries.
//
//   0  char[8]  "MMBSTATE"
//   8  u16      major (1)          10 u16 minor (0)
//   12 u32      header_size (48)
//   16 u64      model fingerprint
//   24 u64      position (tokens consumed)
//   32 u64      payload float count
//   40 u64      xxh64 of bytes [0, 40) and the payload
#pragma once

#include <cstddef>
#include <cstdint>

namespace mmb {

inline constexpr size_t kStateHeaderSize = 48;
inline constexpr uint16_t kStateMajor = 1;
inline constexpr uint16_t kStateMinor = 0;

// Writes the header and the checksum into buf, and the payload from `state` unless it
// is null (the caller put the payload at buf + kStateHeaderSize already).
void write_state_blob(void* buf, uint64_t fingerprint, uint64_t position, const float* state, uint64_t n_floats);

// Checks a blob against the model (fingerprint, float count) and returns where its
// payload starts and its position. Throws MMB_ERR_FORMAT (not a state, truncated,
// corrupt), MMB_ERR_UNSUPPORTED (newer major), MMB_ERR_STATE_MISMATCH (other model).
struct StateBlobView {
  const std::byte* payload;
  uint64_t position;
};
StateBlobView check_state_blob(const void* buf, size_t size, uint64_t fingerprint, uint64_t n_floats);

}  // namespace mmb
