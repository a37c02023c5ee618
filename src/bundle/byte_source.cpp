#include "bundle/byte_source.hpp"

#include "base/error.hpp"
#include "base/host_allocator.hpp"
#include "bundle/mapped_file.hpp"

#include <cstring>

namespace mmb {

namespace {

void check_range(const ByteSource& s, uint64_t offset, size_t n) {
  if (offset > s.size() || n > s.size() - offset)
    fail(MMB_ERR_FORMAT, "read of ", n, " bytes at offset ", offset, " exceeds the size ", s.size());
}

// A read-only private mapping of a whole file (mapped_file.hpp).
class FileSource final : public ByteSource {
 public:
  explicit FileSource(const std::string& path) : path_(path), file_(path) {}

  uint64_t size() const override { return file_.size(); }
  // An empty file has no mapping; a non-null base keeps it "addressable" all the same.
  const std::byte* data() const override { return file_.data() ? file_.data() : reinterpret_cast<const std::byte*>(this); }
  void read(uint64_t offset, void* dst, size_t n) override {
    check_range(*this, offset, n);
    if (n) std::memcpy(dst, file_.data() + offset, n);
  }
  std::string describe() const override { return "file '" + path_ + "'"; }

 private:
  std::string path_;
  MappedFile file_;
};

class MemorySource final : public ByteSource {
 public:
  MemorySource(const void* data, size_t size, bool copy, const HostAllocator& allocator) : size_(size) {
    if (copy) {
      owned_ = HostBuffer<std::byte>(allocator, size, false);
      if (size) std::memcpy(owned_.data(), data, size);
      data_ = owned_.data();
    } else {
      data_ = static_cast<const std::byte*>(data);
    }
    if (!data_) data_ = reinterpret_cast<const std::byte*>(&size_);  // empty: any valid base
  }

  uint64_t size() const override { return size_; }
  const std::byte* data() const override { return data_; }
  void read(uint64_t offset, void* dst, size_t n) override {
    check_range(*this, offset, n);
    if (n) std::memcpy(dst, data_ + offset, n);
  }
  std::string describe() const override { return owned_.size() ? "memory buffer (copied)" : "memory buffer"; }

 private:
  uint64_t size_;
  const std::byte* data_ = nullptr;
  HostBuffer<std::byte> owned_;
};

// The host's callbacks, used serially by one thread. Reads loop over short returns,
// since a host's read may deliver fewer bytes than asked (as POSIX read does).
class IoSource final : public ByteSource {
 public:
  explicit IoSource(const mmb_io& io) : io_(io) {
    if (!io.size || !io.seek || !io.read) fail(MMB_ERR_INVALID_ARGUMENT, "mmb_io needs size, seek and read callbacks");
    uint64_t size = 0;
    if (io_.size(io_.user_data, &size) != 0) fail(MMB_ERR_IO, "host I/O: the size callback failed");
    size_ = size;
  }

  uint64_t size() const override { return size_; }
  const std::byte* data() const override { return nullptr; }
  void read(uint64_t offset, void* dst, size_t n) override {
    check_range(*this, offset, n);
    if (n == 0) return;
    if (offset != position_) {
      position_ = kUnknown;
      if (io_.seek(io_.user_data, offset) != 0) fail(MMB_ERR_IO, "seek to offset ", offset, " failed");
      position_ = offset;
    }
    auto* out = static_cast<std::byte*>(dst);
    size_t done = 0;
    while (done < n) {
      const int64_t got = io_.read(io_.user_data, out + done, n - done);
      if (got <= 0 || uint64_t(got) > n - done) {
        position_ = kUnknown;
        if (got < 0) fail(MMB_ERR_IO, "read of ", n, " bytes at offset ", offset, " failed");
        if (got == 0)
          fail(MMB_ERR_IO, "read ended after ", done, " of ", n, " bytes at offset ", offset,
               " (size callback said ", size_, ")");
        fail(MMB_ERR_IO, "read returned ", got, " bytes when ", n - done, " were asked");
      }
      done += size_t(got);
    }
    position_ = offset + n;
  }
  std::string describe() const override { return "host I/O"; }

 private:
  static constexpr uint64_t kUnknown = ~uint64_t(0);
  mmb_io io_;
  uint64_t size_ = 0;
  uint64_t position_ = kUnknown;
};

}  // namespace

std::unique_ptr<ByteSource> open_file_source(const std::string& path) { return std::make_unique<FileSource>(path); }

std::unique_ptr<ByteSource> open_memory_source(const void* data, size_t size, bool copy, const HostAllocator& allocator) {
  if (!data && size) fail(MMB_ERR_INVALID_ARGUMENT, "memory buffer is NULL with size ", size);
  return std::make_unique<MemorySource>(data, size, copy, allocator);
}

std::unique_ptr<ByteSource> open_io_source(const mmb_io& io) { return std::make_unique<IoSource>(io); }

}  // namespace mmb
