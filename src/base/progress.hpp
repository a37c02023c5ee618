// The internal shape of a progress callback: the C ABI's mmb_progress_fn without its
// user data (the C entry points wrap one in the other). `done` of `total` units of
// work, bytes wherever the work is tensors; return false to cancel. Long internal
// operations (reading, writing, converting bundles) take a ProgressFn*, null for none.
#pragma once

#include "base/error.hpp"
#include "base/function_ref.hpp"

#include <cstdint>

namespace mmb {

using ProgressFn = FunctionRef<bool(uint64_t done, uint64_t total)>;

// Calls `progress` (nothing when null) and throws mmb::Error(MMB_ERR_CANCELLED)
// "<what> cancelled by the progress callback" when it returns false.
inline void report_progress(ProgressFn* progress, uint64_t done, uint64_t total, const char* what) {
  if (progress && !(*progress)(done, total)) fail(MMB_ERR_CANCELLED, what, " cancelled by the progress callback");
}

}  // namespace mmb
