// Status names, the thread-local last error, and the version.
#include "api/api_guard.hpp"

#include <cstdio>
#include <cstring>

namespace mmb::api {

namespace {
thread_local char last_error_buffer[2048];
}

void set_last_error(const char* message) noexcept {
  std::snprintf(last_error_buffer, sizeof last_error_buffer, "%s", message ? message : "");
}

void clear_last_error() noexcept { last_error_buffer[0] = '\0'; }

}  // namespace mmb::api

extern "C" {

MMB_API const char* mmb_status_string(mmb_status status) {
  switch (status) {
    case MMB_OK: return "MMB_OK";
    case MMB_ERR_INVALID_ARGUMENT: return "MMB_ERR_INVALID_ARGUMENT";
    case MMB_ERR_IO: return "MMB_ERR_IO";
    case MMB_ERR_FORMAT: return "MMB_ERR_FORMAT";
    case MMB_ERR_UNSUPPORTED: return "MMB_ERR_UNSUPPORTED";
    case MMB_ERR_OUT_OF_MEMORY: return "MMB_ERR_OUT_OF_MEMORY";
    case MMB_ERR_BACKEND: return "MMB_ERR_BACKEND";
    case MMB_ERR_CANCELLED: return "MMB_ERR_CANCELLED";
    case MMB_ERR_BUFFER_TOO_SMALL: return "MMB_ERR_BUFFER_TOO_SMALL";
    case MMB_ERR_STATE_MISMATCH: return "MMB_ERR_STATE_MISMATCH";
    case MMB_ERR_INTERNAL: return "MMB_ERR_INTERNAL";
    case MMB_ERR_BUSY: return "MMB_ERR_BUSY";
    case MMB_ERR_BUDGET: return "MMB_ERR_BUDGET";
    case MMB_ERR_CONTEXT_FULL: return "MMB_ERR_CONTEXT_FULL";
    case MMB_ERR_TEMPLATE: return "MMB_ERR_TEMPLATE";
    case MMB_ERR_GRAMMAR: return "MMB_ERR_GRAMMAR";
  }
  return "MMB_ERR_UNKNOWN";
}

MMB_API const char* mmb_last_error(void) { return mmb::api::last_error_buffer; }

MMB_API uint32_t mmb_version(void) { return MMB_VERSION_NUMBER; }

#define MMB_STRINGIFY2(x) #x
#define MMB_STRINGIFY(x) MMB_STRINGIFY2(x)
MMB_API const char* mmb_version_string(void) {
  return MMB_STRINGIFY(MMB_VERSION_MAJOR) "." MMB_STRINGIFY(MMB_VERSION_MINOR) "." MMB_STRINGIFY(MMB_VERSION_PATCH);
}

}  // extern "C"
