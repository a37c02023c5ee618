#include "base/checksum.hpp"

#include <cstring>

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace mmb {

static_assert(sizeof(XXH64_state_t) <= 96, "Xxh64Stream::state_ too small");

uint64_t xxh64(const void* data, size_t size) { return XXH64(data, size, 0); }

Xxh64Stream::Xxh64Stream(uint64_t seed) { XXH64_reset(reinterpret_cast<XXH64_state_t*>(state_), seed); }

Xxh64Stream::~Xxh64Stream() = default;

void Xxh64Stream::update(const void* data, size_t size) {
  XXH64_update(reinterpret_cast<XXH64_state_t*>(state_), data, size);
}

uint64_t Xxh64Stream::digest() const { return XXH64_digest(reinterpret_cast<const XXH64_state_t*>(state_)); }

}  // namespace mmb
