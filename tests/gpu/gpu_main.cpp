// The GPU tests' entry point: they need a CUDA runtime, which needs the NVIDIA driver,
// the plugin libmoemamba_cuda.so of this build and a device. Where any is missing the
// program says which and exits 77, which ctest reports as skipped (SKIP_RETURN_CODE).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <moemamba/moemamba.h>

#include <cstdio>

int main(int argc, char** argv) {
  mmb_runtime_options o;
  if (mmb_runtime_options_init(&o, sizeof o) != MMB_OK) return 1;
  o.backend = MMB_BACKEND_CUDA;
  mmb_runtime* runtime = nullptr;
  const mmb_status status = mmb_runtime_create(&o, &runtime);
  if (status == MMB_ERR_BACKEND) {
    Catch::Session session;
    const size_t cases = Catch::getAllTestCasesSorted(session.config()).size();
    std::printf("no CUDA device: %zu GPU test cases skipped (%s)\n", cases, mmb_last_error());
    return 77;
  }
  if (status != MMB_OK) {
    std::fprintf(stderr, "CUDA runtime: %s: %s\n", mmb_status_string(status), mmb_last_error());
    return 1;
  }
  mmb_runtime_destroy(runtime);
  return Catch::Session().run(argc, argv);
}
