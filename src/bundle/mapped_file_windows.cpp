#ifdef _WIN32
#include "bundle/mapped_file.hpp"

#include "base/error.hpp"
#include "base/native_path.hpp"

#define WIN32_LEAN_AND_MEAN
#include <windows.h>

namespace mmb {

MappedFile::MappedFile(const std::string& path) {
  // FILE_SHARE_DELETE: like POSIX, a mapped bundle may be replaced or removed meanwhile.
  HANDLE file = CreateFileW(native_path(path).c_str(), GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_DELETE, nullptr,
                            OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, nullptr);
  if (file == INVALID_HANDLE_VALUE) fail(MMB_ERR_IO, "cannot open '", path, "': ", windows_error_text(GetLastError()));
  BY_HANDLE_FILE_INFORMATION info{};
  if (!GetFileInformationByHandle(file, &info)) {
    const DWORD e = GetLastError();
    CloseHandle(file);
    fail(MMB_ERR_IO, "cannot stat '", path, "': ", windows_error_text(e));
  }
  if ((info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) || GetFileType(file) != FILE_TYPE_DISK) {
    CloseHandle(file);
    fail(MMB_ERR_IO, "'", path, "' is not a regular file");
  }
  size_ = (uint64_t(info.nFileSizeHigh) << 32) | info.nFileSizeLow;
  if (size_ > 0) {
    HANDLE mapping = CreateFileMappingW(file, nullptr, PAGE_READONLY, 0, 0, nullptr);
    void* p = mapping ? MapViewOfFile(mapping, FILE_MAP_READ, 0, 0, 0) : nullptr;
    const DWORD e = GetLastError();
    if (mapping) CloseHandle(mapping);  // the view keeps the mapping and the file alive
    if (!p) {
      CloseHandle(file);
      fail(MMB_ERR_IO, "cannot map '", path, "' (", size_, " bytes): ", windows_error_text(e));
    }
    map_ = static_cast<const std::byte*>(p);
  }
  CloseHandle(file);
}

MappedFile::~MappedFile() {
  if (map_) UnmapViewOfFile(map_);
}

}  // namespace mmb
#endif
