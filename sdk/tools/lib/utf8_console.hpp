// The CLI speaks UTF-8 (file names, prompts, generated text). POSIX hands it UTF-8
// already; on Windows the narrow argv is in the ANSI code page and the console's output
// code page is the OEM one, so both are switched to UTF-8 here.
#pragma once

#include <string>
#include <vector>

namespace mmb::cli {

// argv as UTF-8 (on Windows read again from the wide command line), and the console's
// output set to UTF-8.
std::vector<std::string> utf8_console_arguments(int argc, char** argv);

}  // namespace mmb::cli
