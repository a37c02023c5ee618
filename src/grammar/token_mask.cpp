#include "grammar/token_mask.hpp"

#include "base/error.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace mmb::grammar {

MaskWalker::MaskWalker(const GrammarProgram& program, const TokenTrie& trie) : matcher_(program), program_(program), trie_(trie) {
  reset_automaton();
}

void MaskWalker::reset_automaton() {
  pool_.clear();
  set_nodes_.clear();
  set_begin_.assign({0, 0});  // set 0: no stack
  set_ids_.clear();
  set_ids_.emplace(std::string(), kEmptySet);
  transitions_.assign(256, kUnknown);
}

uint32_t MaskWalker::intern_set(size_t begin) {
  std::sort(tops_.begin() + std::ptrdiff_t(begin), tops_.end());
  tops_.erase(std::unique(tops_.begin() + std::ptrdiff_t(begin), tops_.end()), tops_.end());
  std::string key(reinterpret_cast<const char*>(tops_.data() + begin), (tops_.size() - begin) * sizeof(uint32_t));
  auto [it, added] = set_ids_.try_emplace(std::move(key), uint32_t(set_begin_.size() - 1));
  if (added) {
    set_nodes_.insert(set_nodes_.end(), tops_.begin() + std::ptrdiff_t(begin), tops_.end());
    set_begin_.push_back(uint32_t(set_nodes_.size()));
    transitions_.resize(transitions_.size() + 256, kUnknown);
  }
  return it->second;
}

uint32_t MaskWalker::compute_transition(uint32_t set, uint8_t byte) {
  tops_.assign(set_nodes_.begin() + set_begin_[set], set_nodes_.begin() + set_begin_[set + 1]);
  const size_t n = tops_.size();
  uint32_t value = kEmptySet;
  try {
    const bool complete = matcher_.step(pool_, tops_, 0, n, byte);
    value = intern_set(n) | (complete ? kCompleteBit : 0);
  } catch (const Error& e) {
    // Past Matcher::kMaxStacks parses the byte is refused, as accepting the token
    // would be: the mask then never offers a token that accept() turns down.
    if (e.status() != MMB_ERR_GRAMMAR) throw;
    value = kEmptySet | kOverLimitBit;
  }
  uint32_t* row = transitions_.data() + size_t(set) * 256;
  for (uint8_t b : program_.bytes_of_class(program_.byte_class(byte))) row[b] = value;
  return value;
}

TokenMask MaskWalker::compute(const MatcherState& state, uint32_t vocab_size) {
  TokenMask mask;
  mask.words.assign((size_t(vocab_size) + 63) / 64, 0);
  if (!state.has_stacks()) return mask;
  if (pool_.size() > kMaxNodes || set_begin_.size() > kMaxSets) reset_automaton();
  tops_.clear();
  matcher_.load(state, pool_, tops_);
  frames_.clear();
  frames_.push_back({trie_.n_nodes(), intern_set(0)});
  bool over_limit = false;
  uint32_t i = 1;  // the root's first child
  while (!frames_.empty()) {
    const Frame f = frames_.back();
    if (i >= f.end) {
      frames_.pop_back();
      continue;
    }
    const TokenTrie::Node& node = trie_.node(i);
    const uint32_t step = transition(f.set, node.byte);
    over_limit |= (step & kOverLimitBit) != 0;
    const uint32_t next = step & ~(kCompleteBit | kOverLimitBit);
    if (next != kEmptySet || (step & kCompleteBit)) {
      const int32_t* ids = trie_.tokens(node);
      for (uint32_t k = 0; k < node.n_tokens; ++k)
        if (uint32_t(ids[k]) < vocab_size) mask.allow(ids[k]);
      mask.any_token |= node.n_tokens > 0;
    }
    if (next != kEmptySet && node.subtree_end > i + 1) {
      frames_.push_back({node.subtree_end, next});
      ++i;
    } else {
      i = node.subtree_end;
    }
  }
  // Nothing allowed because the parses outnumbered the limit: say so, rather than
  // report a grammar that no token can continue.
  if (over_limit && !mask.any_token && !state.complete)
    fail(MMB_ERR_GRAMMAR, "the grammar is too ambiguous to follow: more than ", Matcher::kMaxStacks, " parses at once");
  return mask;
}

}  // namespace mmb::grammar
