#include "backend/cpu/kv_cache.hpp"

#include "base/dtype.hpp"
#include "base/error.hpp"
#include "model/model.hpp"

#include <algorithm>
#include <cstring>

namespace mmb::cpu {

KvCache::KvCache(const HostAllocator& allocator, const Model& model, const ContextOptions& options)
    : allocator_(allocator), type_(options.kv_type), max_tokens_(options.max_tokens) {
  const ModelConfig& c = model.config();
  for (const LayerConfig& l : c.layers) {
    if (l.kind != LayerKind::Attention) continue;
    slots_.push_back({l.attention.n_kv_heads, l.attention.head_dim, page_bytes_});
    page_bytes_ += 2 * kPageTokens * l.attention.kv_dim() * element_size();
  }
  if (!slots_.empty()) pages_ = HostBuffer<std::byte*>(allocator_, pages_for(max_tokens_));
}

KvCache::~KvCache() { trim(0); }

size_t KvCache::bytes_held() const { return pages_.size() * sizeof(std::byte*) + pages_used_ * page_bytes_; }

void KvCache::reserve(uint64_t tokens) {
  if (slots_.empty()) return;
  if (tokens > max_tokens_) fail(MMB_ERR_INTERNAL, "KV cache asked for ", tokens, " tokens beyond its limit of ", max_tokens_);
  const size_t pages = pages_for(tokens), had = pages_used_;
  try {
    for (; pages_used_ < pages; ++pages_used_) pages_[pages_used_] = static_cast<std::byte*>(allocator_.allocate(page_bytes_, 64));
  } catch (...) {
    trim(had * kPageTokens);  // out of memory is the moment to hold no more than before
    throw;
  }
}

void KvCache::trim(uint64_t tokens) noexcept {
  const size_t keep = pages_for(tokens);
  for (; pages_used_ > keep; --pages_used_) allocator_.deallocate(pages_[pages_used_ - 1], page_bytes_);
}

template <typename F>
void KvCache::for_each_run(uint64_t tokens, F f) const {
  for (uint32_t slot = 0; slot < slots_.size(); ++slot)
    for (int value = 0; value < 2; ++value)
      for (size_t head = 0; head < slots_[slot].heads; ++head)
        for (uint64_t t = 0; t < tokens; t += kPageTokens - t % kPageTokens) {
          const uint64_t n = std::min(tokens - t, kPageTokens - t % kPageTokens);
          f(row(slot, t, value, head), n * slots_[slot].head_dim);
        }
}

void KvCache::copy_out(void* out, uint64_t tokens) const {
  auto* dst = static_cast<std::byte*>(out);
  for_each_run(tokens, [&](const std::byte* rows, uint64_t elements) {
    std::memcpy(dst, rows, elements * element_size());
    dst += elements * element_size();
  });
}

void KvCache::copy_in(const void* in, uint64_t tokens, KvType from) {
  if (slots_.empty()) return;
  reserve(tokens);
  const auto* src = static_cast<const std::byte*>(in);
  const size_t from_size = kv_element_size(from);
  for_each_run(tokens, [&](std::byte* rows, uint64_t elements) {
    if (from == type_) {
      std::memcpy(rows, src, elements * element_size());
    } else if (from == KvType::F16) {  // into f32
      for (uint64_t i = 0; i < elements; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        const float f = f16_to_f32(h);
        std::memcpy(rows + 4 * i, &f, 4);
      }
    } else {  // f32 into f16
      for (uint64_t i = 0; i < elements; ++i) {
        float f;
        std::memcpy(&f, src + 4 * i, 4);
        const uint16_t h = f32_to_f16(f);
        std::memcpy(rows + 2 * i, &h, 2);
      }
    }
    src += elements * from_size;
  });
}

void KvCache::copy_from(const KvCache& other, uint64_t tokens) {
  // A fork is made with its source's options: same slots, same element type.
  if (slots_.empty()) return;
  reserve(tokens);
  for (uint64_t p = 0; p * kPageTokens < tokens; ++p) std::memcpy(pages_[p], other.pages_[p], page_bytes_);
}

}  // namespace mmb::cpu
