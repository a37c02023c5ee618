#include "temp_folder.hpp"

#include <cerrno>
#include <cstdlib>

#ifdef _WIN32
#include <cstring>
#include <random>

#include <direct.h>
#endif

namespace mmb::cli {

#ifdef _WIN32
char* make_temp_folder(char* pattern) {
  const size_t n = std::strlen(pattern);
  if (n < 6 || std::strcmp(pattern + n - 6, "XXXXXX") != 0) {
    errno = EINVAL;
    return nullptr;
  }
  static const char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device seed;
  std::mt19937 random(seed());
  for (int attempt = 0; attempt < 100; ++attempt) {
    for (size_t i = n - 6; i < n; ++i) pattern[i] = kChars[random() % (sizeof kChars - 1)];
    if (::_mkdir(pattern) == 0) return pattern;
    if (errno != EEXIST) return nullptr;
  }
  return nullptr;
}
#else
char* make_temp_folder(char* pattern) { return ::mkdtemp(pattern); }
#endif

}  // namespace mmb::cli
