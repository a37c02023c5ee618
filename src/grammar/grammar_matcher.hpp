// Runs a GrammarProgram over bytes. A parse in progress is a stack of positions: the
// top one reads the next byte, the ones below are where each called rule returns to.
// An ambiguous grammar has several parses at once, so a matcher state is a set of
// stacks, and it may also be "complete" (some parse has finished the start rule).
//
// Stacks live in a StackPool as linked nodes (position, parent) that share their
// tails: a byte step pushes and pops in O(1) without copying a stack, and a caller that
// explores many continuations (the token trie walk in token_mask.hpp) takes a mark and
// truncates back to it. A tail call (a rule called last in an alternative) pushes no
// return position, so right recursion (x* lowered as more ::= x more) keeps stacks flat.
//
// Between tokens a state is kept in a canonical form (MatcherState): each stack written
// out, duplicates merged, sorted. Equal parses then have equal states, which is what
// lets masks be cached per state and shared between sessions.
#pragma once

#include "grammar/grammar_program.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace mmb::grammar {

constexpr uint32_t kNoParent = UINT32_MAX;

struct StackNode {
  uint32_t pos;     // an element of the program
  uint32_t parent;  // the node below, or kNoParent
};

class StackPool {
 public:
  // An interning pool gives equal stacks equal node ids (push returns the existing node
  // for a known (position, parent)), so sets of stacks can be compared by their ids.
  explicit StackPool(bool interning = false) : interning_(interning) {}

  uint32_t push(uint32_t pos, uint32_t parent) {
    if (interning_) {
      auto [it, added] = index_.try_emplace((uint64_t(pos) << 32) | parent, uint32_t(nodes_.size()));
      if (!added) return it->second;
    }
    nodes_.push_back({pos, parent});
    return uint32_t(nodes_.size() - 1);
  }
  const StackNode& operator[](uint32_t id) const { return nodes_[id]; }
  size_t size() const { return nodes_.size(); }
  void truncate(size_t mark) { nodes_.resize(mark); }  // not for an interning pool
  void clear() {
    nodes_.clear();
    index_.clear();
  }

 private:
  bool interning_;
  std::vector<StackNode> nodes_;
  std::unordered_map<uint64_t, uint32_t> index_;
};

// Canonical state: for each stack, its depth then its positions from the top down;
// stacks in lexicographic order, no duplicates.
struct MatcherState {
  std::vector<uint32_t> stacks;
  bool complete = false;

  bool operator==(const MatcherState&) const = default;
  bool has_stacks() const { return !stacks.empty(); }
};

class Matcher {
 public:
  // Most parses a state may hold at once; beyond it a grammar is too ambiguous to follow.
  static constexpr size_t kMaxStacks = 1024;

  explicit Matcher(const GrammarProgram& program) : program_(program) {}

  MatcherState start();

  // Advances `state` over `bytes`; returns false, leaving it unchanged, when the
  // grammar does not allow them. Throws MMB_ERR_GRAMMAR when the parses outnumber kMaxStacks.
  bool advance(MatcherState& state, std::string_view bytes);

  // Writes the state's stacks into `pool`; `tops` receives each stack's top node.
  void load(const MatcherState& state, StackPool& pool, std::vector<uint32_t>& tops) const;

  // One byte: appends to `tops` the stacks that continue from tops[begin, end) after
  // reading `byte` (each with a Read on top). Returns true when some parse completes
  // the start rule right after the byte.
  bool step(StackPool& pool, std::vector<uint32_t>& tops, size_t begin, size_t end, uint8_t byte);

  MatcherState canonical(const StackPool& pool, const uint32_t* tops, size_t n, bool complete) const;

 private:
  // Follows calls and returns from (pos, parent) to every Read it can reach, appending
  // a node per Read to `tops` from index `first` on (duplicates skipped: tops_seen_
  // holds what this step or start has appended). True when a return passes the bottom
  // of the stack.
  bool expand(StackPool& pool, uint32_t pos, uint32_t parent, std::vector<uint32_t>& tops, size_t first);

  // (position, parent) pairs already met: a short list, then a set (a set from the
  // start would cost more for the usual handful).
  struct SeenPairs {
    std::vector<uint64_t> few;
    std::unordered_set<uint64_t> many;
    void clear() {
      few.clear();
      if (!many.empty()) many.clear();
    }
    bool insert(uint32_t pos, uint32_t parent);  // false when already there
  };

  const GrammarProgram& program_;
  std::vector<StackNode> work_;
  SeenPairs seen_;       // reached by one expand()
  SeenPairs tops_seen_;  // appended to tops by one step() or start(): a scan of tops would be quadratic
  StackPool scratch_pool_;
  std::vector<uint32_t> scratch_tops_;
};

}  // namespace mmb::grammar
