#ifdef _WIN32
#include "base/replacing_file.hpp"

#include "base/error.hpp"
#include "base/native_path.hpp"

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>

#include <fcntl.h>
#include <io.h>
#include <process.h>
#include <sys/stat.h>

#define WIN32_LEAN_AND_MEAN
#include <windows.h>

namespace mmb {

namespace {

// _write takes an unsigned int count: larger writes go in pieces.
void write_all(int fd, const std::string& name, const char* p, size_t n) {
  while (n) {
    const unsigned piece = unsigned(n < size_t(INT_MAX) ? n : size_t(INT_MAX));
    const int w = ::_write(fd, p, piece);
    if (w <= 0) fail(MMB_ERR_IO, "cannot write '", name, "': ", w < 0 ? std::strerror(errno) : "no progress");
    p += w;
    n -= size_t(w);
  }
}

}  // namespace

ReplacingFile::ReplacingFile(std::string path) : path_(std::move(path)) {
  static std::atomic<uint64_t> counter{0};
  temp_ = cat(path_, ".tmp-", ::_getpid(), "-", counter.fetch_add(1));
  fd_ = ::_wopen(native_path(temp_).c_str(), _O_WRONLY | _O_CREAT | _O_EXCL | _O_BINARY | _O_NOINHERIT,
                 _S_IREAD | _S_IWRITE);
  if (fd_ < 0) fail(MMB_ERR_IO, "cannot create '", temp_, "': ", std::strerror(errno));
}

ReplacingFile::~ReplacingFile() {
  if (fd_ >= 0) ::_close(fd_);
  if (!committed_) ::_wunlink(native_path(temp_).c_str());
}

void ReplacingFile::write(const void* data, size_t n) { write_all(fd_, temp_, static_cast<const char*>(data), n); }

// No pwrite: seek there and back, so that write() goes on where it was.
void ReplacingFile::write_at(uint64_t offset, const void* data, size_t n) {
  const __int64 here = ::_telli64(fd_);
  if (here < 0 || ::_lseeki64(fd_, static_cast<__int64>(offset), SEEK_SET) < 0)
    fail(MMB_ERR_IO, "cannot seek in '", temp_, "': ", std::strerror(errno));
  write_all(fd_, temp_, static_cast<const char*>(data), n);
  if (::_lseeki64(fd_, here, SEEK_SET) < 0) fail(MMB_ERR_IO, "cannot seek in '", temp_, "': ", std::strerror(errno));
}

void ReplacingFile::commit() {
  const int fd = fd_;
  fd_ = -1;
  if (::_close(fd) != 0) fail(MMB_ERR_IO, "cannot write '", temp_, "': ", std::strerror(errno));
  // MOVEFILE_REPLACE_EXISTING: rename over an existing file, as POSIX rename does.
  if (!MoveFileExW(native_path(temp_).c_str(), native_path(path_).c_str(), MOVEFILE_REPLACE_EXISTING))
    fail(MMB_ERR_IO, "cannot rename '", temp_, "' to '", path_, "': ", windows_error_text(GetLastError()));
  committed_ = true;
}

void ReplacingFile::write_whole(const std::string& path, std::string_view bytes) {
  ReplacingFile file(path);
  file.write(bytes.data(), bytes.size());
  file.commit();
}

}  // namespace mmb
#endif
