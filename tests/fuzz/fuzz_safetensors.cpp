// The pack tool's safetensors reader on arbitrary bytes: mmb::Error is its way to
// refuse a file; anything else escaping (or a sanitizer report) is a finding.
#include "safetensors.hpp"

#include "base/error.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const mmb::SafetensorsFile file =
        mmb::SafetensorsFile::parse(std::span(reinterpret_cast<const std::byte*>(data), size), "fuzz");
    // Touch every byte each tensor claims, so a span past the image is reported.
    unsigned sum = 0;
    for (const mmb::SafetensorsTensor& t : file.tensors()) {
      if (file.find(t.name) != &t) std::abort();
      for (std::byte b : t.data) sum += unsigned(b);
    }
    volatile unsigned sink = sum;
    (void)sink;
  } catch (const mmb::Error&) {
  }
  return 0;
}
