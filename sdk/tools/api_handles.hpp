// The public C API as the CLI commands use it: owning handles, and a check that turns a
// failed call into an exception carrying the status and the library's message (main
// prints it as one line). Only moemamba.h is used here, as a host would.
#pragma once

#include <moemamba/moemamba.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mmb::cli {

template <auto Destroy>
struct Destroyer {
  template <typename T>
  void operator()(T* p) const { Destroy(p); }
};
using RuntimePtr = std::unique_ptr<mmb_runtime, Destroyer<mmb_runtime_destroy>>;
using ModelPtr = std::unique_ptr<mmb_model, Destroyer<mmb_model_destroy>>;
using SessionPtr = std::unique_ptr<mmb_session, Destroyer<mmb_session_destroy>>;
using SamplerPtr = std::unique_ptr<mmb_sampler, Destroyer<mmb_sampler_destroy>>;
using ChatPtr = std::unique_ptr<mmb_chat, Destroyer<mmb_chat_destroy>>;

// Throws std::runtime_error "<doing>: <status name>: <mmb_last_error()>" unless MMB_OK.
void check(mmb_status status, std::string_view doing);

struct LoadedModel {
  RuntimePtr runtime;
  ModelPtr model;
  mmb_model_info info;
};

// A runtime with n_threads compute threads (0 = one per core) on `backend`
// (MMB_BACKEND_*), and the bundle at `path`.
LoadedModel load_model(const std::string& path, int32_t n_threads, int32_t backend = MMB_BACKEND_AUTO);

// MMB_BACKEND_* for "auto", "cpu" or "cuda" (the CLI's --backend); throws
// std::invalid_argument naming the value otherwise.
int32_t parse_backend(std::string_view name);

SessionPtr create_session(mmb_model* model, const mmb_session_options* options = nullptr);

// The token ids of `text` (MMB_TOKENIZE_* flags).
std::vector<int32_t> tokenize(const mmb_model* model, std::string_view text, uint32_t flags);

}  // namespace mmb::cli
