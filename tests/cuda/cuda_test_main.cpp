// The GPU test programs' main: without a CUDA device (no driver, or none present) every
// test case is skipped with a message and exit code 77, which ctest reports as skipped
// (SKIP_RETURN_CODE); with one, Catch2 runs as usual.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cuda_runtime.h>

#include <cstdio>

int main(int argc, char** argv) {
  int devices = 0;
  const cudaError_t result = cudaGetDeviceCount(&devices);
  if (result != cudaSuccess || devices == 0) {
    const size_t cases = Catch::getRegistryHub().getTestCaseRegistry().getAllTests().size();
    std::printf("no CUDA device: %zu test cases skipped", cases);
    if (result != cudaSuccess) std::printf(" (%s)", cudaGetErrorString(result));
    std::printf("\n");
    return 77;
  }
  return Catch::Session().run(argc, argv);
}
