// The ids of recently merged words, for one encode call over a long text: natural
// text repeats its words, and merging a word costs far more than finding it again.
// Direct-mapped with a fixed number of slots, allocated on first use; short words
// with few ids only (the common ones), longer ones are merged every time.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

namespace mmb {

class WordCache {
 public:
  // Appends the cached ids of `word` to `out` and returns true, or returns false.
  bool find(std::string_view word, std::vector<int32_t>& out) const {
    if (slots_.empty() || word.size() > kMaxWordBytes) return false;
    const Slot& s = slots_[slot_of(word)];
    if (s.word_bytes != word.size() || (!word.empty() && std::memcmp(s.word, word.data(), word.size()) != 0)) return false;
    out.insert(out.end(), s.ids, s.ids + s.n_ids);
    return true;
  }
  // Remembers `ids` as the encoding of `word` (replacing what shared its slot).
  void keep(std::string_view word, std::span<const int32_t> ids) {
    if (word.size() > kMaxWordBytes || ids.size() > kMaxIds) return;
    if (slots_.empty()) slots_.resize(kSlots);
    Slot& s = slots_[slot_of(word)];
    s.word_bytes = uint8_t(word.size());
    s.n_ids = uint8_t(ids.size());
    // (memcpy must not see the null pointers of empty views.)
    if (!word.empty()) std::memcpy(s.word, word.data(), word.size());
    if (!ids.empty()) std::memcpy(s.ids, ids.data(), ids.size() * sizeof(int32_t));
  }

 private:
  static constexpr size_t kMaxWordBytes = 22, kMaxIds = 6, kSlots = 4096;
  struct Slot {
    uint8_t word_bytes = 0xFF;  // no word is this long: an empty slot matches nothing
    uint8_t n_ids = 0;
    char word[kMaxWordBytes];
    int32_t ids[kMaxIds];
  };
  static size_t slot_of(std::string_view word) {
    uint32_t h = 2166136261u;  // FNV-1a
    for (char c : word) h = (h ^ uint8_t(c)) * 16777619u;
    return (h ^ (h >> 15)) & (kSlots - 1);
  }
  std::vector<Slot> slots_;
};

}  // namespace mmb
