// mkdtemp's contract everywhere: Windows' C runtime has no mkdtemp.
#pragma once

namespace mmb::cli {

// Replaces the trailing "XXXXXX" of `pattern` and creates that folder (private to the
// user); returns `pattern`, or null with errno set.
char* make_temp_folder(char* pattern);

}  // namespace mmb::cli
