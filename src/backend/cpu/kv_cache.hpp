// A session's keys and values for its attention layers, on the CPU (DESIGN.md section 5).
//
// Storage grows in pages of kPageTokens tokens as the context grows, so a short
// session stays small; the page table is sized for the session's context limit at
// creation. A page holds, for each attention layer (slot) in turn, the keys of its
// kPageTokens tokens ([token][kv_dim]) and then their values, in f16 or f32.
//
// The portable layout (saved states, forks, paging) is, per slot in order, the keys
// [tokens][kv_dim] then the values [tokens][kv_dim], in the cache's element type.
#pragma once

#include "backend/backend.hpp"
#include "base/host_allocator.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mmb {
class Model;
}

namespace mmb::cpu {

class KvCache {
 public:
  static constexpr uint64_t kPageTokens = 64;

  KvCache(const HostAllocator& allocator, const Model& model, const ContextOptions& options);
  ~KvCache();
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  KvType type() const { return type_; }
  size_t element_size() const { return type_ == KvType::F16 ? 2 : 4; }
  uint64_t max_tokens() const { return max_tokens_; }
  // Bytes held now (page table and pages).
  size_t bytes_held() const;

  // Pages for tokens [0, tokens): allocates what is missing. Throws (nothing changed
  // but whole pages added) when tokens exceeds max_tokens or memory runs out.
  void reserve(uint64_t tokens);
  // Gives back the pages past those tokens [0, tokens) need (all of them for 0).
  void trim(uint64_t tokens) noexcept;

  // Token t's key (or value) row of kv_dim elements of `slot`'s layer; t < reserved.
  std::byte* keys(uint32_t slot, uint64_t t) const { return row(slot, t, 0); }
  std::byte* values(uint32_t slot, uint64_t t) const { return row(slot, t, 1); }
  uint64_t kv_dim(uint32_t slot) const { return slots_[slot].kv_dim; }

  // The first `tokens` tokens in the portable layout (header comment).
  void copy_out(void* out, uint64_t tokens) const;
  // Reserves and fills tokens [0, tokens) from the portable layout in element type `from`.
  void copy_in(const void* in, uint64_t tokens, KvType from);
  // Reserves and copies tokens [0, tokens) of a cache made with the same options.
  void copy_from(const KvCache& other, uint64_t tokens);

 private:
  struct Slot {
    uint64_t kv_dim;
    size_t offset;  // bytes into a page where this slot's keys start; values follow
  };
  std::byte* row(uint32_t slot, uint64_t t, int value) const {
    const Slot& s = slots_[slot];
    const size_t row_bytes = s.kv_dim * element_size();
    return pages_[t / kPageTokens] + s.offset + (value * kPageTokens + t % kPageTokens) * row_bytes;
  }
  // Applies f(slot, keys-or-values, token range within one page, bytes there) to the
  // rows of tokens [0, tokens) page run by page run, in portable-layout order.
  template <typename F>
  void for_each_run(uint64_t tokens, F f) const;

  HostAllocator allocator_;
  KvType type_;
  uint64_t max_tokens_;
  std::vector<Slot> slots_;
  size_t page_bytes_ = 0;
  HostBuffer<std::byte*> pages_;  // max pages; the first pages_used_ allocated
  size_t pages_used_ = 0;
};

}  // namespace mmb::cpu
