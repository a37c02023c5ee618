// Which tokens a matcher state allows: one bit per vocabulary id, found by walking the
// token trie with the state's stacks (grammar_matcher.hpp). A trie node is visited only
// while some parse survives its prefix, so the cost follows the number of allowed
// prefixes, not the vocabulary; masks are then cached per state (token_grammar.hpp).
#pragma once

#include "grammar/grammar_matcher.hpp"
#include "grammar/token_trie.hpp"

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace mmb::grammar {

struct TokenMask {
  std::vector<uint64_t> words;  // bit (t % 64) of words[t / 64]: token t allowed
  bool any_token = false;       // some token (stop tokens not counted) is allowed

  bool allows(int32_t t) const { return (words[size_t(t) >> 6] >> (t & 63)) & 1; }
  void allow(int32_t t) { words[size_t(t) >> 6] |= uint64_t(1) << (t & 63); }
};

// The walk runs over a lazily built automaton whose states are sets of stacks: stacks
// are interned (equal stacks, equal ids) and so are sets of them, and each (set, byte)
// step is computed once and then looked up. Inside a JSON string, say, every trie node
// at the same depth is in the same set, so most of the trie costs one lookup per node.
// The automaton persists across walks (it is the walker's, and walkers are reused), up
// to a size where it is dropped and rebuilt.
class MaskWalker {
 public:
  MaskWalker(const GrammarProgram& program, const TokenTrie& trie);

  // The tokens whose bytes the grammar accepts from `state` (stop tokens are the
  // caller's business). `vocab_size` sets the mask's length. A token whose bytes would
  // pass Matcher::kMaxStacks parses is refused; when that leaves no token at all,
  // throws MMB_ERR_GRAMMAR ("too ambiguous").
  TokenMask compute(const MatcherState& state, uint32_t vocab_size);

 private:
  static constexpr uint32_t kEmptySet = 0;
  static constexpr size_t kMaxNodes = size_t(1) << 21;
  static constexpr size_t kMaxSets = size_t(1) << 14;  // 1 KiB of transitions each
  static constexpr uint32_t kUnknown = UINT32_MAX;    // a transition not computed yet
  static constexpr uint32_t kCompleteBit = 1u << 31;
  static constexpr uint32_t kOverLimitBit = 1u << 30;  // the step would pass Matcher::kMaxStacks

  struct Frame {
    uint32_t end;  // one past the last node of the subtree being walked
    uint32_t set;  // the stacks alive after the subtree root's bytes
  };
  void reset_automaton();
  uint32_t intern_set(size_t begin);  // the set tops_[begin, end), sorted in place
  uint32_t transition(uint32_t set, uint8_t byte) {  // next set, | kCompleteBit
    const uint32_t known = transitions_[size_t(set) * 256 + byte];
    return known != kUnknown ? known : compute_transition(set, byte);
  }
  uint32_t compute_transition(uint32_t set, uint8_t byte);

  Matcher matcher_;
  const GrammarProgram& program_;
  const TokenTrie& trie_;
  StackPool pool_{true};
  std::vector<uint32_t> set_nodes_;    // set i: set_nodes_[set_begin_[i], set_begin_[i + 1])
  std::vector<uint32_t> set_begin_;
  std::unordered_map<std::string, uint32_t> set_ids_;
  std::vector<uint32_t> transitions_;  // 256 per set, kUnknown until computed
  std::vector<uint32_t> tops_;
  std::vector<Frame> frames_;
};

}  // namespace mmb::grammar
