#include "human_units.hpp"

#include <cstdio>

namespace mmb {

ByteUnit byte_unit(uint64_t bytes) {
  static const char* const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double size = 1.0;
  int u = 0;
  while (double(bytes) / size >= 1024.0 && u < 4) {
    size *= 1024.0;
    ++u;
  }
  return {units[u], size};
}

std::string human_bytes(uint64_t bytes) {
  const ByteUnit unit = byte_unit(bytes);
  char buf[32];
  if (unit.size == 1.0) std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  else std::snprintf(buf, sizeof buf, "%.1f %s", double(bytes) / unit.size, unit.name);
  return buf;
}

std::string human_count(uint64_t count) {
  char buf[32];
  if (count >= 1000000000ull) std::snprintf(buf, sizeof buf, "%.2f G", double(count) / 1e9);
  else if (count >= 1000000ull) std::snprintf(buf, sizeof buf, "%.2f M", double(count) / 1e6);
  else if (count >= 10000ull) std::snprintf(buf, sizeof buf, "%.1f K", double(count) / 1e3);
  else std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(count));
  return buf;
}

}  // namespace mmb
