#include "terminal.hpp"

#ifdef _WIN32
#include <io.h>
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#else
#include <sys/ioctl.h>
#include <unistd.h>
#endif

namespace mmb::cli {

#ifdef _WIN32
bool is_terminal(std::FILE* stream) { return ::_isatty(::_fileno(stream)) != 0; }

size_t terminal_columns(std::FILE* stream) {
  CONSOLE_SCREEN_BUFFER_INFO info{};
  const HANDLE h = reinterpret_cast<HANDLE>(::_get_osfhandle(::_fileno(stream)));
  if (h == INVALID_HANDLE_VALUE || !GetConsoleScreenBufferInfo(h, &info)) return 0;
  const int w = info.srWindow.Right - info.srWindow.Left + 1;
  return w > 0 ? size_t(w) : 0;
}
#else
bool is_terminal(std::FILE* stream) { return ::isatty(::fileno(stream)) != 0; }

size_t terminal_columns(std::FILE* stream) {
  winsize w{};
  return ::ioctl(::fileno(stream), TIOCGWINSZ, &w) == 0 ? size_t(w.ws_col) : 0;
}
#endif

}  // namespace mmb::cli
