#include "tokenizer/bpe_merges.hpp"

#include "base/error.hpp"

#include <algorithm>
#include <bit>
#include <limits>

namespace mmb {

BpeMerges::BpeMerges(size_t count, std::pmr::memory_resource* memory) : keys_(memory), values_(memory) {
  size_t capacity = std::bit_ceil(std::max<size_t>(16, count * 2));
  keys_.assign(capacity, kEmpty);
  values_.assign(capacity, Merge{});
  mask_ = capacity - 1;
  shift_ = 64 - std::countr_zero(capacity);
}

void BpeMerges::add(int32_t left, int32_t right, Merge merge) {
  uint64_t key = pack(left, right);
  for (size_t slot = hash(key);; slot = (slot + 1) & mask_) {
    if (keys_[slot] == key || keys_[slot] == kEmpty) {
      keys_[slot] = key;
      values_[slot] = merge;
      return;
    }
  }
}

namespace {

// Min-heap order on (rank, position).
bool later(const BpeScratch::Candidate& a, const BpeScratch::Candidate& b) {
  return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
}

}  // namespace

void bpe_encode(std::string_view word, const BpeMerges& merges, const int32_t (&byte_tokens)[256],
                BpeScratch& scratch, std::vector<int32_t>& out) {
  // Symbols are indexed with int32_t; only a multi-gigabyte run of one character
  // class (or text without a pre-tokenizer) comes near the limit.
  if (word.size() > size_t(std::numeric_limits<int32_t>::max()))
    fail(MMB_ERR_INVALID_ARGUMENT, "a word of ", word.size(), " bytes is too long to merge");
  const int32_t n = int32_t(word.size());
  if (n == 1) {
    out.push_back(byte_tokens[uint8_t(word[0])]);
    return;
  }
  auto& symbols = scratch.symbols;
  symbols.resize(size_t(n));
  for (int32_t i = 0; i < n; ++i) symbols[size_t(i)] = {byte_tokens[uint8_t(word[size_t(i)])], i - 1, i + 1 < n ? i + 1 : -1};
  bpe_merge(merges, scratch, n);
  for (int32_t i = 0; i >= 0; i = symbols[size_t(i)].next) out.push_back(symbols[size_t(i)].id);
}

void bpe_merge(const BpeMerges& merges, BpeScratch& scratch, int32_t n) {
  auto& symbols = scratch.symbols;
  auto& heap = scratch.heap;

  heap.clear();
  auto consider = [&](int32_t pos) {
    const BpeScratch::Symbol& left = symbols[size_t(pos)];
    if (left.next < 0) return;
    int32_t right_id = symbols[size_t(left.next)].id;
    if (left.id < 0 || right_id < 0) return;  // unknown symbols never merge
    if (const BpeMerges::Merge* m = merges.find(left.id, right_id)) {
      heap.push_back({m->rank, pos, left.id, right_id, m->result});
      std::push_heap(heap.begin(), heap.end(), later);
    }
  };
  for (int32_t i = 0; i + 1 < n; ++i) consider(i);

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    BpeScratch::Candidate c = heap.back();
    heap.pop_back();
    BpeScratch::Symbol& left = symbols[size_t(c.pos)];
    // A candidate is stale when either side has merged since: a symbol's id only
    // ever grows into a longer token, so equal ids mean an unchanged pair.
    if (left.id != c.left || left.next < 0) continue;
    BpeScratch::Symbol& right = symbols[size_t(left.next)];
    if (right.id != c.right) continue;
    left.id = c.result;
    left.next = right.next;
    if (right.next >= 0) symbols[size_t(right.next)].prev = c.pos;
    right.id = -1;
    if (left.prev >= 0) consider(left.prev);
    consider(c.pos);
  }
}

}  // namespace mmb
