// BPE: the merge table (pair of token ids -> rank and merged id) and the merge loop
// that turns one pre-tokenized word's initial symbols into token ids.
#pragma once

#include <cstdint>
#include <memory_resource>
#include <string_view>
#include <vector>

namespace mmb {

class BpeMerges {
 public:
  struct Merge {
    int32_t rank = -1;
    int32_t result = -1;
  };

  // Room for `count` merges, from `memory`; add() them after.
  BpeMerges(size_t count, std::pmr::memory_resource* memory);

  // When a pair appears twice, the later rank wins, as in the reference encoders
  // (they build a dictionary from the merge list).
  void add(int32_t left, int32_t right, Merge merge);
  // The merge of (left, right), or nullptr.
  const Merge* find(int32_t left, int32_t right) const {
    if (keys_.empty()) return nullptr;
    uint64_t key = pack(left, right);
    for (size_t slot = hash(key);; slot = (slot + 1) & mask_) {
      if (keys_[slot] == key) return &values_[slot];
      if (keys_[slot] == kEmpty) return nullptr;
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t(0);  // no valid pair packs to this
  static uint64_t pack(int32_t left, int32_t right) { return (uint64_t(uint32_t(left)) << 32) | uint32_t(right); }
  size_t hash(uint64_t key) const { return size_t((key * 0x9E3779B97F4A7C15ull) >> shift_) & mask_; }

  std::pmr::vector<uint64_t> keys_;  // open addressing, linear probing, load <= 1/2
  std::pmr::vector<Merge> values_;
  size_t mask_ = 0;
  int shift_ = 64;
};

// Working memory of the merge loop, reused from word to word within one call.
struct BpeScratch {
  struct Symbol {
    int32_t id;    // -1 once merged into its left neighbour; kUnknown: no token (never merges)
    int32_t prev;  // index, -1 at the start
    int32_t next;  // index, -1 at the end
  };
  struct Candidate {
    int32_t rank;
    int32_t pos;  // index of the left symbol
    int32_t left;
    int32_t right;
    int32_t result;
  };
  static constexpr int32_t kUnknown = -2;
  std::vector<Symbol> symbols;
  std::vector<Candidate> heap;
  std::vector<uint32_t> begins;  // CharBPE: byte offset of each initial symbol in its word
};

// Merges scratch.symbols[0, n) (n >= 1, ids set, linked in order) lowest rank first,
// leftmost first among equal ranks (the order of GPT-2's encoder and of Hugging Face
// tokenizers). The survivors are then the chain from symbol 0 along `next`.
void bpe_merge(const BpeMerges& merges, BpeScratch& scratch, int32_t n);

// Appends the ids of `word` (non-empty): its bytes as byte tokens, then merged
// lowest rank first, leftmost first among equal ranks (the order of GPT-2's encoder
// and of Hugging Face tokenizers).
void bpe_encode(std::string_view word, const BpeMerges& merges, const int32_t (&byte_tokens)[256],
                BpeScratch& scratch, std::vector<int32_t>& out);

}  // namespace mmb
