// What the CLI asks of the terminal: POSIX isatty/ioctl, the console API on Windows.
#pragma once

#include <cstddef>
#include <cstdio>

namespace mmb::cli {

bool is_terminal(std::FILE* stream);
// The terminal's width in columns, or 0 when unknown.
size_t terminal_columns(std::FILE* stream);

}  // namespace mmb::cli
