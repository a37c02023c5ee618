// Where bundle bytes come from: a memory-mapped file, a memory buffer (borrowed or
// copied), or the host's I/O callbacks. The reader asks for ranges; sources that
// are addressable in memory also expose a base pointer so raw tensors can be used
// in place.
#pragma once

#include <moemamba/moemamba.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace mmb {

class HostAllocator;

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual uint64_t size() const = 0;
  // Base of the whole source when it is addressable in memory (file map, memory
  // buffer), else nullptr (host I/O): then bytes come only through read().
  virtual const std::byte* data() const = 0;
  // Copies [offset, offset + n) into dst. The range is checked against size();
  // throws Error(MMB_ERR_IO) on a failed or short read, MMB_ERR_FORMAT out of range.
  virtual void read(uint64_t offset, void* dst, size_t n) = 0;
  // Short description for messages ("file 'x.mmb'", "memory buffer", "host I/O").
  virtual std::string describe() const = 0;
};

// Maps a file read-only. Throws MMB_ERR_IO naming the path and errno text.
std::unique_ptr<ByteSource> open_file_source(const std::string& path);
// Borrows [data, data + size) (the caller keeps it alive), or copies it when copy is set.
std::unique_ptr<ByteSource> open_memory_source(const void* data, size_t size, bool copy,
                                               const HostAllocator& allocator);
// Reads through host callbacks; the mmb_io struct is copied (its size, seek, read).
std::unique_ptr<ByteSource> open_io_source(const mmb_io& io);

}  // namespace mmb
