// File names as the operating system wants them. The API takes UTF-8 paths everywhere;
// Windows' narrow file functions read the ANSI code page instead, so on Windows every
// file is opened through the wide-character functions with the path converted here.
#pragma once

#ifdef _WIN32
#include <string>

namespace mmb {

// The UTF-16 form of a UTF-8 path; throws MMB_ERR_INVALID_ARGUMENT when it is not UTF-8.
std::wstring native_path(const std::string& utf8_path);
// The text of GetLastError()'s code `error` (no trailing newline).
std::string windows_error_text(unsigned long error);

}  // namespace mmb
#endif
