// Choosing a backend: the CPU always, CUDA through the plugin only when the driver,
// the plugin of this very build and a device are all there, and a clear
// MMB_ERR_BACKEND saying which is missing otherwise. These run on any machine; the
// sessions on a real GPU are tests/gpu.
#include "support/model_harness.hpp"

#include <catch2/catch.hpp>
#include <moemamba/moemamba.h>

#include <cstdlib>
#include <string>
#include <vector>

using namespace mmb::testing;

namespace {

struct Created {
  mmb_status status;
  std::string error;
  std::vector<std::string> logs;
  RuntimePtr runtime;
};

Created create(int32_t backend, int32_t device_index = 0) {
  Created c;
  mmb_runtime_options o;
  REQUIRE(mmb_runtime_options_init(&o, sizeof o) == MMB_OK);
  o.backend = backend;
  o.device_index = device_index;
  o.n_threads = 2;
  o.log_level = MMB_LOG_INFO;
  o.log_fn = [](void* user, int32_t, const char* message) {
    static_cast<std::vector<std::string>*>(user)->push_back(message);
  };
  o.log_user_data = &c.logs;
  mmb_runtime* r = nullptr;
  c.status = mmb_runtime_create(&o, &r);
  c.runtime.reset(r);
  if (c.status != MMB_OK) c.error = mmb_last_error();
  return c;
}

mmb_backend_info info_of(const mmb_runtime* runtime) {
  mmb_backend_info info{};
  info.struct_size = sizeof info;
  REQUIRE(mmb_runtime_get_backend_info(runtime, &info) == MMB_OK);
  return info;
}

// Sets an environment variable for one scope.
struct ScopedEnv {
  ScopedEnv(const char* name, const std::string& value) : name_(name) { setenv(name, value.c_str(), 1); }
  ~ScopedEnv() { unsetenv(name_); }
  const char* name_;
};

bool driver_present() {
  Created c = create(MMB_BACKEND_CUDA);
  return c.error.find("no NVIDIA driver") == std::string::npos;
}

}  // namespace

TEST_CASE("backend: the CPU backend describes itself", "[backend]") {
  Created c = create(MMB_BACKEND_CPU);
  REQUIRE(c.status == MMB_OK);
  const mmb_backend_info info = info_of(c.runtime.get());
  CHECK(info.backend == MMB_BACKEND_CPU);
  CHECK(info.n_threads == 2);
  CHECK(info.device_index == -1);
  CHECK(std::string(info.device_name) == "CPU");
  CHECK(info.device_memory_total == 0);
  CHECK(info.device_memory_used == 0);
  int32_t backend = -1, threads = -1;
  REQUIRE(mmb_runtime_get_backend(c.runtime.get(), &backend, &threads) == MMB_OK);
  CHECK(backend == MMB_BACKEND_CPU);
  CHECK(threads == 2);
}

TEST_CASE("backend: get_backend_info checks its arguments", "[backend]") {
  Created c = create(MMB_BACKEND_CPU);
  REQUIRE(c.status == MMB_OK);
  mmb_backend_info info{};
  info.struct_size = sizeof info;
  CHECK(mmb_runtime_get_backend_info(nullptr, &info) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(mmb_runtime_get_backend_info(c.runtime.get(), nullptr) == MMB_ERR_INVALID_ARGUMENT);
  info.struct_size = 8;
  CHECK(mmb_runtime_get_backend_info(c.runtime.get(), &info) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(std::string(mmb_last_error()).find("mmb_backend_info") != std::string::npos);
  CHECK(info.backend == 0);  // nothing written
  const mmb_api* api = mmb_get_api(MMB_ABI_VERSION);
  REQUIRE(api);
  REQUIRE(api->struct_size >= offsetof(mmb_api, runtime_get_backend_info) + sizeof(void*));
  info.struct_size = sizeof info;
  REQUIRE(api->runtime_get_backend_info(c.runtime.get(), &info) == MMB_OK);
  CHECK(info.backend == MMB_BACKEND_CPU);
}

TEST_CASE("backend: a negative device index is refused", "[backend]") {
  Created c = create(MMB_BACKEND_CUDA, -1);
  CHECK(c.status == MMB_ERR_INVALID_ARGUMENT);
  CHECK(c.error.find("device_index -1") != std::string::npos);
}

TEST_CASE("backend: auto falls back to the CPU and logs why", "[backend]") {
  if (driver_present()) {
    WARN("an NVIDIA driver is present: the fallback is covered where there is none");
    return;
  }
  Created c = create(MMB_BACKEND_AUTO);
  REQUIRE(c.status == MMB_OK);
  CHECK(info_of(c.runtime.get()).backend == MMB_BACKEND_CPU);
  bool logged = false;
  for (const std::string& line : c.logs)
    logged |= line.find("backend auto: using the CPU backend (no NVIDIA driver") != std::string::npos;
  CHECK(logged);
  // The runtime works: a model loads and steps on it.
  ModelCase mc = parity_cases().front();
  mmb::SyntheticModel w = build_weights(mc);
  ModelPtr model = load_model(c.runtime.get(), w);
  SessionPtr s = make_session(model.get());
  CHECK(step(s.get(), 1).size() == mc.config.vocab_size);
}

TEST_CASE("backend: CUDA requested without a driver is MMB_ERR_BACKEND, saying so", "[backend]") {
  if (driver_present()) {
    WARN("an NVIDIA driver is present: tests/gpu covers the CUDA backend there");
    return;
  }
  Created c = create(MMB_BACKEND_CUDA);
  CHECK(c.status == MMB_ERR_BACKEND);
  CHECK(c.runtime == nullptr);
  CHECK(c.error == "no NVIDIA driver on this machine (libcuda.so.1 cannot be loaded)");
}

TEST_CASE("backend: the plugin named by MMB_CUDA_PLUGIN must exist and be this build's", "[backend]") {
  SECTION("a missing file: the path and the loader's reason") {
    ScopedEnv env("MMB_CUDA_PLUGIN", "/nonexistent/libmoemamba_cuda.so");
    Created c = create(MMB_BACKEND_CUDA);
    CHECK(c.status == MMB_ERR_BACKEND);
    CHECK(c.error.find("could not be loaded") != std::string::npos);
    CHECK(c.error.find("/nonexistent/libmoemamba_cuda.so: ") != std::string::npos);
    CHECK(c.error.find("No such file") != std::string::npos);
  }
  SECTION("a library that is no plugin") {
    ScopedEnv env("MMB_CUDA_PLUGIN", MMB_SHARED_LIB_PATH);
    Created c = create(MMB_BACKEND_CUDA);
    CHECK(c.status == MMB_ERR_BACKEND);
    CHECK(c.error.find("has no mmb_cuda_plugin_table (not a moemamba plugin)") != std::string::npos);
  }
  SECTION("a plugin of another build") {
    ScopedEnv env("MMB_CUDA_PLUGIN", MMB_FOREIGN_PLUGIN_PATH);
    Created c = create(MMB_BACKEND_CUDA);
    CHECK(c.status == MMB_ERR_BACKEND);
    CHECK(c.error.find("comes from another build (plugin 0.0.1/abi0, library ") != std::string::npos);
    // auto goes on with the CPU.
    Created a = create(MMB_BACKEND_AUTO);
    REQUIRE(a.status == MMB_OK);
    CHECK(info_of(a.runtime.get()).backend == MMB_BACKEND_CPU);
  }
#ifdef MMB_CUDA_PLUGIN_PATH
  SECTION("this build's plugin loads; without a device it says so") {
    if (driver_present()) return;
    ScopedEnv env("MMB_CUDA_PLUGIN", MMB_CUDA_PLUGIN_PATH);
    Created c = create(MMB_BACKEND_CUDA);
    CHECK(c.status == MMB_ERR_BACKEND);
    CHECK(c.error == "no CUDA device is present (or no NVIDIA driver)");
  }
#endif
}
