// Sizes and counts as people read them, for the CLI's tables.
#pragma once

#include <cstdint>
#include <string>

namespace mmb {

// The binary unit human_bytes writes `bytes` in: its name ("MiB") and size (1 << 20).
struct ByteUnit {
  const char* name;
  double size;
};
ByteUnit byte_unit(uint64_t bytes);

std::string human_bytes(uint64_t bytes);   // "519.9 MiB", "812 B"
std::string human_count(uint64_t count);   // "129.14 M", "950"

}  // namespace mmb
