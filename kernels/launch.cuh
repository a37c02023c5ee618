// The one way kernels are launched: launch_kernel(kernel, grid, block, stream, args...)
// is kernel<<<grid, block, 0, stream>>>(args...) under nvcc. Built for the CUDA
// emulator (tests/cuda_emu, MMB_CUDA_EMU) it hands the emulator one call of the kernel
// per thread, with the arguments converted to the kernel's parameter types once, as
// the launch would.
#pragma once

#include <cuda_runtime.h>

#include <tuple>

namespace mmb::cuda {

template <typename... Params, typename... Args>
void launch_kernel(void (*kernel)(Params...), dim3 grid, dim3 block, cudaStream_t stream, Args&&... args) {
  static_assert(sizeof...(Params) == sizeof...(Args), "launch_kernel: one argument per kernel parameter");
#ifdef MMB_CUDA_EMU
  cuda_emu::launch(grid, block, stream, [kernel, params = std::tuple<Params...>(std::forward<Args>(args)...)] {
    std::apply(kernel, params);
  });
#else
  kernel<<<grid, block, 0, stream>>>(std::forward<Args>(args)...);
#endif
}

}  // namespace mmb::cuda
