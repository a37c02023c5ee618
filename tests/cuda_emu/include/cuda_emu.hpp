// The CUDA emulator's own controls, for its self-tests: by default an error the
// emulator finds (a race, a bad shuffle, a divergent barrier, an illegal capture) is
// printed and aborts the process, so any test under it fails; a self-test that expects
// one installs a handler instead.
#pragma once

#include <functional>
#include <string>

namespace cuda_emu {

using ErrorHandler = std::function<void(const std::string& message)>;
// Installs `handler` (an empty one restores printing and aborting); returns the old one.
ErrorHandler set_error_handler(ErrorHandler handler);

}  // namespace cuda_emu
