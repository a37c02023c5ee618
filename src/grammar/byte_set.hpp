// A set of byte values: what one step of a grammar program may read.
#pragma once

#include <cstdint>

namespace mmb::grammar {

struct ByteSet {
  uint64_t bits[4] = {0, 0, 0, 0};

  bool has(uint8_t b) const { return (bits[b >> 6] >> (b & 63)) & 1; }
  void add(uint8_t b) { bits[b >> 6] |= uint64_t(1) << (b & 63); }
  void add_range(uint8_t first, uint8_t last) {
    for (unsigned b = first; b <= last; ++b) add(uint8_t(b));
  }
  bool empty() const { return !(bits[0] | bits[1] | bits[2] | bits[3]); }
  bool operator==(const ByteSet&) const = default;
};

}  // namespace mmb::grammar
