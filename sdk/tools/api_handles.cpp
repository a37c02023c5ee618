#include "api_handles.hpp"

#include <stdexcept>

namespace mmb::cli {

void check(mmb_status status, std::string_view doing) {
  if (status == MMB_OK) return;
  std::string message(doing);
  message.append(": ").append(mmb_status_string(status));
  const std::string detail = mmb_last_error();
  if (!detail.empty()) message.append(": ").append(detail);
  throw std::runtime_error(message);
}

int32_t parse_backend(std::string_view name) {
  if (name == "auto") return MMB_BACKEND_AUTO;
  if (name == "cpu") return MMB_BACKEND_CPU;
  if (name == "cuda") return MMB_BACKEND_CUDA;
  throw std::invalid_argument("--backend " + std::string(name) + " is not auto, cpu or cuda");
}

LoadedModel load_model(const std::string& path, int32_t n_threads, int32_t backend) {
  LoadedModel loaded{};
  mmb_runtime_options options;
  check(mmb_runtime_options_init(&options, sizeof options), "filling the runtime options");
  options.n_threads = n_threads;
  options.backend = backend;
  mmb_runtime* runtime = nullptr;
  check(mmb_runtime_create(&options, &runtime), "creating the runtime");
  loaded.runtime.reset(runtime);
  mmb_model* model = nullptr;
  check(mmb_model_load_file(runtime, path.c_str(), nullptr, &model), "loading " + path);
  loaded.model.reset(model);
  loaded.info.struct_size = sizeof loaded.info;
  check(mmb_model_get_info(model, &loaded.info), "describing " + path);
  return loaded;
}

SessionPtr create_session(mmb_model* model, const mmb_session_options* options) {
  mmb_session* session = nullptr;
  check(mmb_session_create(model, options, &session), "creating a session");
  return SessionPtr(session);
}

std::vector<int32_t> tokenize(const mmb_model* model, std::string_view text, uint32_t flags) {
  size_t n = 0;
  const mmb_status sized = mmb_tokenize(model, text.data(), text.size(), nullptr, 0, &n, flags);
  if (sized != MMB_ERR_BUFFER_TOO_SMALL) check(sized, "tokenizing");
  std::vector<int32_t> tokens(n);
  check(mmb_tokenize(model, text.data(), text.size(), tokens.data(), tokens.size(), &n, flags), "tokenizing");
  tokens.resize(n);
  return tokens;
}

}  // namespace mmb::cli
