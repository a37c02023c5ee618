#include "runtime/state_compression.hpp"

#include "base/error.hpp"

#include <zstd.h>

namespace mmb {

std::vector<std::byte> compress_state(const void* data, size_t size) {
  std::vector<std::byte> out(ZSTD_compressBound(size));
  const size_t n = ZSTD_compress(out.data(), out.size(), data, size, 1);
  if (ZSTD_isError(n)) fail(MMB_ERR_INTERNAL, "zstd failed to compress a session state: ", ZSTD_getErrorName(n));
  out.resize(n);
  out.shrink_to_fit();
  return out;
}

std::vector<std::byte> decompress_state(const std::vector<std::byte>& compressed, size_t size) {
  std::vector<std::byte> out(size);
  const size_t n = ZSTD_decompress(out.data(), out.size(), compressed.data(), compressed.size());
  if (ZSTD_isError(n) || n != size) fail(MMB_ERR_FORMAT, "a paged-out session state does not decompress to its ", size, " bytes");
  return out;
}

}  // namespace mmb
