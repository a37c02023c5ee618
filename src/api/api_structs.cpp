// The size checks of extensible structs (api_structs.hpp).
#include "api/api_structs.hpp"

#include <algorithm>
#include <sstream>

namespace mmb::api {

void check_known_size(size_t given, std::span<const size_t> known, const char* what) {
  if (std::find(known.begin(), known.end(), given) != known.end()) return;
  std::ostringstream sizes;
  for (size_t i = 0; i < known.size(); ++i) sizes << (i ? ", " : "") << known[i];
  fail(MMB_ERR_INVALID_ARGUMENT, what, ".struct_size is ", given, "; this library knows the sizes ", sizes.str(),
       " (fill the struct with ", what, "_init(&x, sizeof x))");
}

void check_struct_size(size_t given, size_t first_version_size, size_t current_size, const char* what) {
  if (given < first_version_size || given > current_size)
    fail(MMB_ERR_INVALID_ARGUMENT, what, ".struct_size is ", given, "; this library accepts ", first_version_size, "..",
         current_size, " (set it to sizeof the struct)");
}

}  // namespace mmb::api
