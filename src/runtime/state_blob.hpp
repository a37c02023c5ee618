// The saved-state format (version 1.1): a little-endian header, the state's floats,
// then, for a model with attention layers, the KV cache of the tokens consumed.
// Minor versions may grow the header (payload at header_size); a new major version
// is not loadable by older libraries. A model without attention writes the 48-byte
// 1.0 header, unchanged.
//
//   0  char[8]  "MMBSTATE"
//   8  u16      major (1)          10 u16 minor (0 without KV cache, 1 with)
//   12 u32      header_size (48, or 64 with a KV cache)
//   16 u64      model fingerprint
//   24 u64      position (tokens consumed)
//   32 u64      payload float count (the recurrent state)
//   40 u64      xxh64 of bytes [0, 40), bytes [48, header_size) and the payload
//   48 u32      KV element type (0 f16, 1 f32)              (1.1)
//   52 u32      reserved, 0                                  (1.1)
//   56 u64      KV bytes after the floats: position x the model's KV elements per
//               token x the element size; per attention layer in order, the keys
//               [kv_head][position][head_dim] then the values alike (1.1)
#pragma once

#include <cstddef>
#include <cstdint>

namespace mmb {

inline constexpr size_t kStateHeaderSize = 48;
inline constexpr size_t kStateHeaderSizeWithKv = 64;
inline constexpr uint16_t kStateMajor = 1;
inline constexpr uint16_t kStateMinor = 1;

// The KV part of a blob: its element type (0 f16, 1 f32) and size.
struct StateKv {
  uint32_t type = 0;
  uint64_t bytes = 0;
};

// The header's size for a blob with (kv not null) or without a KV cache part.
inline size_t state_header_size(const StateKv* kv) { return kv ? kStateHeaderSizeWithKv : kStateHeaderSize; }

// Writes the header and the checksum into buf, and the state floats from `state`
// unless it is null (the caller put the payload, floats then KV bytes, at
// buf + state_header_size(kv) already). kv: the KV part, or null for none.
void write_state_blob(void* buf, uint64_t fingerprint, uint64_t position, const float* state, uint64_t n_floats,
                      const StateKv* kv = nullptr);

// Checks a blob against the model (fingerprint, float count, KV bytes per token) and
// returns where its payload starts, its position and its KV part. Throws
// MMB_ERR_FORMAT (not a state, truncated, corrupt, inconsistent sizes),
// MMB_ERR_UNSUPPORTED (newer major), MMB_ERR_STATE_MISMATCH (other model).
struct StateBlobView {
  const std::byte* payload;  // the floats
  uint64_t position;
  const std::byte* kv;       // after the floats; null without a KV part
  StateKv kv_info;
};
StateBlobView check_state_blob(const void* buf, size_t size, uint64_t fingerprint, uint64_t n_floats,
                               uint64_t kv_elements_per_token = 0);

}  // namespace mmb
