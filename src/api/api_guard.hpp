// The boundary between the C ABI and the C++ core: every entry point runs its body
// inside guard(), which turns any exception into an mmb_status plus the thread-local
// message, so nothing is ever thrown into the host.
#pragma once

#include "base/error.hpp"

#include <moemamba/moemamba.h>

#include <new>

namespace mmb::api {

// Records the message of the failing call on this thread (truncated to fit a fixed
// buffer: recording an error never allocates). clear_last_error() empties it.
void set_last_error(const char* message) noexcept;
void clear_last_error() noexcept;

template <typename Body>
mmb_status guard(Body&& body) noexcept {
  clear_last_error();
  try {
    body();
    return MMB_OK;
  } catch (const Error& e) {
    set_last_error(e.what());
    return e.status();
  } catch (const std::bad_alloc&) {
    set_last_error("out of memory");
    return MMB_ERR_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    set_last_error(e.what());
    return MMB_ERR_INTERNAL;
  } catch (...) {
    set_last_error("unknown exception");
    return MMB_ERR_INTERNAL;
  }
}

// Throws MMB_ERR_INVALID_ARGUMENT "<what> is NULL" when p is null.
template <typename T>
void require(const T* p, const char* what) {
  if (!p) fail(MMB_ERR_INVALID_ARGUMENT, what, " is NULL");
}

}  // namespace mmb::api
