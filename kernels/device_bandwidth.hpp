// The device's memory bandwidth as the benchmarks' floor needs it: a large
// device-to-device copy timed with events (best of several after a warm-up), reported
// as bytes read plus bytes written per second.
#pragma once

#include "device_buffer.hpp"

namespace mmb::cuda {

// On the current device; the buffers are counted in `memory` while they live.
double measure_copy_bandwidth(MemoryCounter* memory);

}  // namespace mmb::cuda
