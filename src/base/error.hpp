// The one error type inside the library. Internal code throws mmb::Error (or lets
// std::bad_alloc escape); the C entry points in src/api catch everything and turn it
// into an mmb_status plus the thread-local message. Nothing is thrown across the ABI.
#pragma once

#include <moemamba/moemamba.h>

#include <exception>
#include <sstream>
#include <string>
#include <utility>

namespace mmb {

class Error : public std::exception {
 public:
  Error(mmb_status status, std::string message) : status_(status), message_(std::move(message)) {}
  mmb_status status() const noexcept { return status_; }
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  mmb_status status_;
  std::string message_;
};

// Joins any streamable values into one string: cat("tensor ", name, " at ", offset).
template <typename... Parts>
std::string cat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

template <typename... Parts>
[[noreturn]] void fail(mmb_status status, const Parts&... parts) {
  throw Error(status, cat(parts...));
}

}  // namespace mmb
