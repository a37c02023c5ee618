// A session's keys and values for its attention layers, on the CPU (DESIGN.md section 5).
//
// Storage grows in pages of kPageTokens tokens as the context grows, so a short
// session stays small; the page table is sized for the session's context limit at
// creation. A page holds, for each attention layer (slot) in turn, the keys of its
// kPageTokens tokens and then their values, each head's rows together
// ([kv_head][token][head_dim]: attention reads one head's tokens as one stream), in
// f16 or f32.
//
// The portable layout (saved states, forks, paging) is, per slot in order, the keys
// [kv_head][tokens][head_dim] then the values [kv_head][tokens][head_dim], in the
// cache's element type.
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
  size_t element_size() const { return kv_element_size(type_); }
  // Pages that hold `tokens` tokens.
  static uint64_t pages_for(uint64_t tokens) { return (tokens + kPageTokens - 1) / kPageTokens; }
  uint64_t max_tokens() const { return max_tokens_; }
  // Bytes held now (page table and pages).
  size_t bytes_held() const;

  // Pages for tokens [0, tokens): allocates what is missing. Throws with nothing
  // changed (the pages it took given back) when tokens exceeds max_tokens or memory
  // runs out.
  void reserve(uint64_t tokens);
  // Gives back the pages past those tokens [0, tokens) need (all of them for 0).
  void trim(uint64_t tokens) noexcept;

  // Token t's key (or value) of `slot`'s layer and key/value head `head`: head_dim
  // elements, followed by the head's next tokens up to the end of t's page; t < reserved.
  std::byte* keys(uint32_t slot, uint64_t t, size_t head) const { return row(slot, t, 0, head); }
  std::byte* values(uint32_t slot, uint64_t t, size_t head) const { return row(slot, t, 1, head); }

  // The first `tokens` tokens in the portable layout (header comment).
  void copy_out(void* out, uint64_t tokens) const;
  // Reserves and fills tokens [0, tokens) from the portable layout in element type `from`.
  void copy_in(const void* in, uint64_t tokens, KvType from);
  // Reserves and copies tokens [0, tokens) of a cache made with the same options.
  void copy_from(const KvCache& other, uint64_t tokens);

 private:
  struct Slot {
    uint64_t heads, head_dim;
    size_t offset;  // bytes into a page where this slot's keys start; values follow
  };
  std::byte* row(uint32_t slot, uint64_t t, int value, size_t head) const {
    const Slot& s = slots_[slot];
    return pages_[t / kPageTokens] + s.offset +
           ((value * s.heads + head) * kPageTokens + t % kPageTokens) * s.head_dim * element_size();
  }
  // Applies f(first element, element count) to the rows of tokens [0, tokens), one
  // head's run within one page at a time, in portable-layout order.
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
