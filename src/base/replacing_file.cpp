// POSIX; Windows: replacing_file_windows.cpp.
#ifndef _WIN32
#include "base/replacing_file.hpp"

#include "base/error.hpp"

#include <atomic>
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

namespace mmb {

ReplacingFile::ReplacingFile(std::string path) : path_(std::move(path)) {
  static std::atomic<uint64_t> counter{0};
  temp_ = cat(path_, ".tmp-", ::getpid(), "-", counter.fetch_add(1));
  fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd_ < 0) fail(MMB_ERR_IO, "cannot create '", temp_, "': ", std::strerror(errno));
}

ReplacingFile::~ReplacingFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(temp_.c_str());
}

void ReplacingFile::write(const void* data, size_t n) {
  const auto* p = static_cast<const char*>(data);
  while (n) {
    const ssize_t w = ::write(fd_, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) fail(MMB_ERR_IO, "cannot write '", temp_, "': ", w < 0 ? std::strerror(errno) : "no progress");
    p += w;
    n -= size_t(w);
  }
}

void ReplacingFile::write_at(uint64_t offset, const void* data, size_t n) {
  const auto* p = static_cast<const char*>(data);
  while (n) {
    const ssize_t w = ::pwrite(fd_, p, n, off_t(offset));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) fail(MMB_ERR_IO, "cannot write '", temp_, "': ", w < 0 ? std::strerror(errno) : "no progress");
    p += w;
    n -= size_t(w);
    offset += uint64_t(w);
  }
}

void ReplacingFile::commit() {
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail(MMB_ERR_IO, "cannot write '", temp_, "': ", std::strerror(errno));
  if (::rename(temp_.c_str(), path_.c_str()) != 0)
    fail(MMB_ERR_IO, "cannot rename '", temp_, "' to '", path_, "': ", std::strerror(errno));
  committed_ = true;
}

void ReplacingFile::write_whole(const std::string& path, std::string_view bytes) {
  ReplacingFile file(path);
  file.write(bytes.data(), bytes.size());
  file.commit();
}

}  // namespace mmb
#endif
