// xxh64 (seed 0) of tensor and manifest bytes, as stored in bundles.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mmb {

uint64_t xxh64(const void* data, size_t size);

}  // namespace mmb
