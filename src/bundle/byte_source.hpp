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
  // Messages do not name the source: callers prefix describe().
  virtual void read(uint64_t offset, void* dst, size_t n) = 0;
  // Short description for messages ("file 'x.mmb'", "memory buffer", "host I/O").
  virtual std::string describe() const = 0;
};

// Maps a whole regular file read-only (MAP_PRIVATE). Throws MMB_ERR_IO naming the path
// and the errno text when it cannot be opened, is not a regular file, or cannot be mapped.
// As with any mapping, the file must not be truncated while mapped (reads would fault).
std::unique_ptr<ByteSource> open_file_source(const std::string& path);
// Borrows [data, data + size) (the caller keeps it alive and unchanged), or copies it into
// memory from `allocator` when copy is set; the allocator must outlive the source.
std::unique_ptr<ByteSource> open_memory_source(const void* data, size_t size, bool copy,
                                               const HostAllocator& allocator);
// Reads through host callbacks; the mmb_io struct is copied (its size, seek, read) and
// size() is asked once, here. Reads seek only when not already at the offset, and loop
// over short reads; a callback error, or a read ending early, is MMB_ERR_IO. Not thread
// safe: the reader calls it from one thread. Missing callbacks: MMB_ERR_INVALID_ARGUMENT.
std::unique_ptr<ByteSource> open_io_source(const mmb_io& io);

}  // namespace mmb
