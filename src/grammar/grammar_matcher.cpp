#include "grammar/grammar_matcher.hpp"

#include "base/error.hpp"

#include <algorithm>
#include <span>

namespace mmb::grammar {

bool Matcher::SeenPairs::insert(uint32_t pos, uint32_t parent) {
  const uint64_t key = (uint64_t(pos) << 32) | parent;
  if (many.empty()) {
    if (std::find(few.begin(), few.end(), key) != few.end()) return false;
    few.push_back(key);
    if (few.size() > 32) many.insert(few.begin(), few.end());
    return true;
  }
  return many.insert(key).second;
}

bool Matcher::expand(StackPool& pool, uint32_t pos, uint32_t parent, std::vector<uint32_t>& tops, size_t first) {
  bool complete = false;
  work_.clear();
  work_.push_back({pos, parent});
  seen_.clear();
  while (!work_.empty()) {
    StackNode at = work_.back();
    work_.pop_back();
    for (;;) {
      // Alternatives that lead to the same place would repeat the same work, as often
      // as there are paths (r ::= s | s, nested, doubles it at each level).
      if (!seen_.insert(at.pos, at.parent)) break;
      const Element& el = program_.element(at.pos);
      if (el.op == Op::Read || el.op == Op::Switch) {
        if (tops_seen_.insert(at.pos, at.parent)) {
          if (tops.size() - first >= kMaxStacks)
            fail(MMB_ERR_GRAMMAR, "the grammar is too ambiguous to follow: more than ", kMaxStacks,
                 " parses at once");
          tops.push_back(pool.push(at.pos, at.parent));
        }
        break;
      }
      if (el.op == Op::End) {
        if (at.parent == kNoParent) {
          complete = true;
          break;
        }
        at = pool[at.parent];
        continue;
      }
      const uint32_t ret = at.pos + 1;
      const uint32_t caller = program_.element(ret).op == Op::End ? at.parent : pool.push(ret, at.parent);
      const std::vector<uint32_t>& alts = program_.rule(el.arg).alternatives;
      for (size_t i = alts.size(); i-- > 0;) work_.push_back({alts[i], caller});
      break;
    }
  }
  return complete;
}

bool Matcher::step(StackPool& pool, std::vector<uint32_t>& tops, size_t begin, size_t end, uint8_t byte) {
  const size_t first = tops.size();
  tops_seen_.clear();
  bool complete = false;
  for (size_t i = begin; i < end; ++i) {
    const StackNode node = pool[tops[i]];
    const Element& el = program_.element(node.pos);
    if (el.op == Op::Read) {
      if (program_.byte_set(el.arg).has(byte)) complete |= expand(pool, node.pos + 1, node.parent, tops, first);
    } else {
      const uint32_t target = program_.switch_target(el.arg, byte);
      if (target != kNoTarget) complete |= expand(pool, target, node.parent, tops, first);
    }
  }
  return complete;
}

MatcherState Matcher::canonical(const StackPool& pool, const uint32_t* tops, size_t n, bool complete) const {
  std::vector<std::vector<uint32_t>> stacks(n);
  for (size_t i = 0; i < n; ++i)
    for (uint32_t id = tops[i]; id != kNoParent; id = pool[id].parent) stacks[i].push_back(pool[id].pos);
  std::sort(stacks.begin(), stacks.end());
  stacks.erase(std::unique(stacks.begin(), stacks.end()), stacks.end());
  MatcherState s;
  s.complete = complete;
  for (const auto& stack : stacks) {
    s.stacks.push_back(uint32_t(stack.size()));
    s.stacks.insert(s.stacks.end(), stack.begin(), stack.end());
  }
  return s;
}

void Matcher::load(const MatcherState& state, StackPool& pool, std::vector<uint32_t>& tops) const {
  const std::vector<uint32_t>& v = state.stacks;
  for (size_t i = 0; i < v.size();) {
    const uint32_t depth = v[i];
    uint32_t below = kNoParent;
    for (uint32_t k = depth; k-- > 0;) below = pool.push(v[i + 1 + k], below);
    tops.push_back(below);
    i += 1 + depth;
  }
}

MatcherState Matcher::start() {
  scratch_pool_.clear();
  scratch_tops_.clear();
  tops_seen_.clear();
  bool complete = false;
  for (uint32_t alt : program_.rule(program_.root()).alternatives)
    complete |= expand(scratch_pool_, alt, kNoParent, scratch_tops_, 0);
  return canonical(scratch_pool_, scratch_tops_.data(), scratch_tops_.size(), complete);
}

bool Matcher::advance(MatcherState& state, std::string_view bytes) {
  if (bytes.empty()) return true;
  scratch_pool_.clear();
  scratch_tops_.clear();
  load(state, scratch_pool_, scratch_tops_);
  size_t begin = 0, end = scratch_tops_.size();
  bool complete = false;
  for (size_t k = 0; k < bytes.size(); ++k) {
    complete = step(scratch_pool_, scratch_tops_, begin, end, uint8_t(bytes[k]));
    begin = end;
    end = scratch_tops_.size();
    // No parse left: refused, unless the grammar finished exactly at the last byte.
    if (begin == end && (!complete || k + 1 < bytes.size())) return false;
  }
  state = canonical(scratch_pool_, scratch_tops_.data() + begin, end - begin, complete);
  return true;
}

}  // namespace mmb::grammar
