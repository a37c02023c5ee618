#ifdef _WIN32
#include "base/native_path.hpp"

#include "base/error.hpp"

#define WIN32_LEAN_AND_MEAN
#include <windows.h>

namespace mmb {

std::wstring native_path(const std::string& utf8_path) {
  if (utf8_path.empty()) return {};
  const int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, utf8_path.data(), int(utf8_path.size()), nullptr, 0);
  if (n <= 0) fail(MMB_ERR_INVALID_ARGUMENT, "the path '", utf8_path, "' is not valid UTF-8");
  std::wstring wide(size_t(n), L'\0');
  MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, utf8_path.data(), int(utf8_path.size()), wide.data(), n);
  return wide;
}

std::string windows_error_text(unsigned long error) {
  wchar_t* text = nullptr;
  const DWORD n = FormatMessageW(FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
                                 nullptr, error, 0, reinterpret_cast<wchar_t*>(&text), 0, nullptr);
  std::string out;
  if (n && text) {
    const int len = WideCharToMultiByte(CP_UTF8, 0, text, int(n), nullptr, 0, nullptr, nullptr);
    out.resize(size_t(len > 0 ? len : 0));
    if (len > 0) WideCharToMultiByte(CP_UTF8, 0, text, int(n), out.data(), len, nullptr, nullptr);
  }
  if (text) LocalFree(text);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r' || out.back() == ' ' || out.back() == '.')) out.pop_back();
  return out.empty() ? cat("Windows error ", error) : cat(out, " (Windows error ", error, ")");
}

}  // namespace mmb
#endif
