// xxh64 (seed 0): checksums of tensor and manifest bytes in bundles, of saved
// states, and the model fingerprint. One place includes xxhash (inlined, so its
// symbols never leave the library).
#pragma once

#include <cstddef>
#include <cstdint>

namespace mmb {

uint64_t xxh64(const void* data, size_t size);

// The same hash over data given in pieces.
class Xxh64Stream {
 public:
  explicit Xxh64Stream(uint64_t seed = 0);
  ~Xxh64Stream();
  Xxh64Stream(const Xxh64Stream&) = delete;
  Xxh64Stream& operator=(const Xxh64Stream&) = delete;

  void update(const void* data, size_t size);
  uint64_t digest() const;

 private:
  alignas(8) unsigned char state_[96];  // XXH64_state_t, kept opaque here
};

}  // namespace mmb
