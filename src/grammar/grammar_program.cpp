#include "grammar/grammar_program.hpp"

#include "base/checksum.hpp"
#include "base/error.hpp"
#include "grammar/utf8_ranges.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <span>
#include <string_view>

namespace mmb::grammar {

class Lowering {
 public:
  Lowering(const GrammarAst& ast, GrammarProgram& program) : ast_(ast), p_(program) {}

  void run() {
    if (ast_.rules.empty() || ast_.root >= ast_.rules.size()) fail(MMB_ERR_GRAMMAR, "the grammar has no start rule");
    alts_.resize(ast_.rules.size());
    sources_.resize(ast_.rules.size());
    for (uint32_t r = 0; r < ast_.rules.size(); ++r) {
      sources_[r] = r;
      Seq seq;
      lower_alternatives(ast_.rules[r].body, r, r);
    }
    flatten();
    check();
    classify_bytes();
    p_.fingerprint_ = digest();
  }

 private:
  using Seq = std::vector<Element>;

  uint32_t new_rule(uint32_t source) {
    alts_.emplace_back();
    sources_.push_back(source);
    return uint32_t(alts_.size() - 1);
  }

  void count(size_t n) {
    elements_ += n;
    if (elements_ > GrammarProgram::kMaxElements)
      fail(MMB_ERR_GRAMMAR, "the grammar is too large (over ", GrammarProgram::kMaxElements,
           " steps once repeats are unrolled); rule '", ast_.rules[current_source_].name, "' (",
           ast_.rules[current_source_].where, ") is the last one lowered");
  }

  uint32_t byte_set_index(const ByteSet& set) {
    std::string key(reinterpret_cast<const char*>(set.bits), sizeof set.bits);
    auto [it, added] = byte_set_ids_.emplace(key, uint32_t(p_.byte_sets_.size()));
    if (added) p_.byte_sets_.push_back(set);
    return it->second;
  }

  Element read(const ByteSet& set) { return {Op::Read, byte_set_index(set)}; }

  static bool literal_choice(const Expr& e) {
    if (e.kind != Expr::Kind::Choice || e.items.size() < 2) return false;
    for (const Expr& item : e.items)
      if (item.kind != Expr::Kind::Literal || item.text.size() > kMaxTrieLiteral) return false;
    return true;
  }

  // The body of rule `rule`: a Choice gives one alternative per item, anything else one.
  void lower_alternatives(const Expr& e, uint32_t rule, uint32_t source) {
    current_source_ = source;
    if (e.kind == Expr::Kind::Choice && !literal_choice(e)) {
      for (const Expr& item : e.items) {
        Seq seq;
        lower(item, seq, source);
        alts_[rule].push_back(std::move(seq));
      }
    } else {
      Seq seq;
      lower(e, seq, source);
      alts_[rule].push_back(std::move(seq));
    }
  }

  // A helper rule holding `e` alone, called where `e` appears.
  uint32_t helper(const Expr& e, uint32_t source) {
    const uint32_t r = new_rule(source);
    lower_alternatives(e, r, source);
    return r;
  }

  // `e` as a single element: itself when it lowers to one, else a call of a helper.
  Element single(const Expr& e, uint32_t source) {
    Seq seq;
    lower(e, seq, source);
    if (seq.size() == 1) return seq[0];
    const uint32_t r = new_rule(source);
    alts_[r].push_back(std::move(seq));
    return {Op::Call, r};
  }

  void lower(const Expr& e, Seq& out, uint32_t source) {
    switch (e.kind) {
      case Expr::Kind::Literal:
        count(e.text.size());
        for (unsigned char c : e.text) {
          ByteSet s;
          s.add(c);
          out.push_back(read(s));
        }
        return;
      case Expr::Kind::CharClass:
        lower_class(e, out, source);
        return;
      case Expr::Kind::RuleRef:
        if (e.rule >= ast_.rules.size()) fail(MMB_ERR_INTERNAL, "grammar rule reference ", e.rule, " out of range");
        count(1);
        out.push_back({Op::Call, e.rule});
        return;
      case Expr::Kind::Sequence:
        for (const Expr& item : e.items) lower(item, out, source);
        return;
      case Expr::Kind::Choice:
        if (e.items.empty()) fail(MMB_ERR_INTERNAL, "empty choice in rule '", ast_.rules[source].name, "'");
        if (e.items.size() == 1) return lower(e.items[0], out, source);
        if (literal_choice(e)) {
          std::vector<std::string_view> words;
          for (const Expr& item : e.items) words.push_back(item.text);
          std::sort(words.begin(), words.end());
          words.erase(std::unique(words.begin(), words.end()), words.end());
          count(1);
          out.push_back({Op::Call, literal_trie(words, 0, source)});
          return;
        }
        count(1);
        out.push_back({Op::Call, helper(e, source)});
        return;
      case Expr::Kind::Repeat:
        lower_repeat(e, out, source);
        return;
    }
  }

  // A choice among literals (an enum, a choice list) as a prefix tree of rules: words
  // that share a prefix share one parse until they differ, so a list of thousands of
  // names is one parse at a time, never one per name. `words` are sorted, distinct and
  // agree on their first `depth` bytes.
  uint32_t literal_trie(std::span<const std::string_view> words, size_t depth, uint32_t source) {
    const uint32_t r = new_rule(source);
    size_t i = 0;
    if (words[0].size() == depth) {  // one word ends here
      alts_[r].push_back({});
      i = 1;
    }
    while (i < words.size()) {
      size_t j = i + 1;
      while (j < words.size() && words[j][depth] == words[i][depth]) ++j;
      // The group's common prefix from `depth` on is read in one run; it stops where the
      // words differ or one of them ends (the child rule then offers the ending).
      size_t end = depth + 1;
      for (;;) {
        bool shared = true;
        for (size_t k = i; k < j && shared; ++k) shared = words[k].size() > end && words[k][end] == words[i][end];
        if (!shared) break;
        ++end;
      }
      Seq seq;
      for (size_t d = depth; d < end; ++d) {
        ByteSet b;
        b.add(uint8_t(words[i][d]));
        seq.push_back(read(b));
      }
      count(seq.size() + 2);
      if (j - i > 1) seq.push_back({Op::Call, literal_trie(words.subspan(i, j - i), end, source)});
      alts_[r].push_back(std::move(seq));
      i = j;
    }
    return r;
  }

  void lower_class(const Expr& e, Seq& out, uint32_t source) {
    const std::vector<Utf8Pattern> patterns = utf8_patterns(e.ranges, e.negated);
    if (patterns.empty())
      fail(MMB_ERR_GRAMMAR, "rule '", ast_.rules[source].name, "' (", ast_.rules[source].where,
           ") has a character class that matches no character");
    count(1);
    bool single_bytes = true;
    for (const Utf8Pattern& pattern : patterns) single_bytes = single_bytes && pattern.size() == 1;
    if (single_bytes) {
      ByteSet set;
      for (const Utf8Pattern& pattern : patterns) set.add_range(pattern[0].first, pattern[0].last);
      out.push_back(read(set));
      return;
    }
    // Equal classes share one automaton rule.
    std::string key;
    for (const Utf8Pattern& pattern : patterns) {
      key += char(pattern.size());
      for (ByteRange r : pattern) key += {char(r.first), char(r.last)};
    }
    auto [it, added] = class_rules_.emplace(key, 0);
    if (added) {
      it->second = new_rule(source);
      automata_.push_back({it->second, build_automaton(patterns)});
      count(automata_.back().states.size() + 1);
      alts_[it->second].push_back({{Op::Switch, uint32_t(automata_.size() - 1)}});
    }
    out.push_back({Op::Call, it->second});
  }

  // Symbolic targets of an automaton under construction.
  static constexpr int32_t kDead = -1;
  static constexpr int32_t kAccept = -2;
  struct Automaton {
    uint32_t rule;
    std::vector<std::array<int32_t, 256>> states;  // state 0 starts; entries: kDead, kAccept or a state
  };

  // A byte trie of the patterns: patterns that share leading bytes share states.
  static std::vector<std::array<int32_t, 256>> build_automaton(const std::vector<Utf8Pattern>& patterns) {
    std::vector<std::array<int32_t, 256>> states(1);
    states[0].fill(kDead);
    for (const Utf8Pattern& pattern : patterns) add_pattern(states, 0, pattern, 0);
    return states;
  }

  static void add_pattern(std::vector<std::array<int32_t, 256>>& states, int32_t state, const Utf8Pattern& pattern,
                          size_t depth) {
    const ByteRange r = pattern[depth];
    if (depth + 1 == pattern.size()) {
      for (unsigned b = r.first; b <= r.last; ++b) states[size_t(state)][b] = kAccept;
      return;
    }
    // Bytes of the range with no state yet share a new one; the rest continue where
    // they already lead. The pattern's tail is the same for every byte of the range.
    int32_t fresh = kDead;
    std::vector<int32_t> targets;
    for (unsigned b = r.first; b <= r.last; ++b) {
      int32_t next = states[size_t(state)][b];
      if (next == kDead) {
        if (fresh == kDead) {
          fresh = int32_t(states.size());
          states.emplace_back();
          states.back().fill(kDead);
        }
        next = fresh;
        states[size_t(state)][b] = next;
      }
      if (std::find(targets.begin(), targets.end(), next) == targets.end()) targets.push_back(next);
    }
    for (int32_t next : targets) add_pattern(states, next, pattern, depth + 1);
  }

  void lower_repeat(const Expr& e, Seq& out, uint32_t source) {
    if (e.items.size() != 1 || e.min > e.max)
      fail(MMB_ERR_INTERNAL, "malformed repeat in rule '", ast_.rules[source].name, "'");
    if (e.max == 0) return;
    const Element x = single(e.items[0], source);
    count(e.min);
    for (uint32_t i = 0; i < e.min; ++i) out.push_back(x);
    if (e.max == kUnbounded) {
      // more ::= x more | (empty): right recursion, which the matcher runs without growing its stack.
      const uint32_t more = new_rule(source);
      count(3);
      alts_[more].push_back({x, {Op::Call, more}});
      alts_[more].push_back({});
      out.push_back({Op::Call, more});
      return;
    }
    // up_to_k ::= x up_to_(k-1) | (empty), so x{m,n} reads at most n - m more.
    uint32_t tail = UINT32_MAX;
    for (uint32_t k = 0; k < e.max - e.min; ++k) {
      const uint32_t r = new_rule(source);
      count(3);
      if (tail == UINT32_MAX)
        alts_[r].push_back({x});
      else
        alts_[r].push_back({x, {Op::Call, tail}});
      alts_[r].push_back({});
      tail = r;
    }
    if (tail != UINT32_MAX) out.push_back({Op::Call, tail});
  }

  void flatten() {
    p_.rules_.resize(alts_.size());
    for (uint32_t r = 0; r < alts_.size(); ++r) {
      p_.rules_[r].source = sources_[r];
      for (const Seq& seq : alts_[r]) {
        p_.rules_[r].alternatives.push_back(uint32_t(p_.elements_.size()));
        if (seq.size() == 1 && seq[0].op == Op::Switch) {
          lay_out_automaton(automata_[seq[0].arg]);
          continue;
        }
        p_.elements_.insert(p_.elements_.end(), seq.begin(), seq.end());
        p_.elements_.push_back({Op::End, r});
      }
    }
    p_.root_ = ast_.root;
    alts_.clear();
  }

  // [start state][End][state 1][state 2]...: the rule's one alternative reads through
  // the automaton and ends at its End; the other states are reached only by jumps.
  void lay_out_automaton(const Automaton& a) {
    const uint32_t start = uint32_t(p_.elements_.size());
    auto position = [&](int32_t state) { return state == 0 ? start : start + 1 + uint32_t(state); };
    for (size_t k = 0; k < a.states.size(); ++k) {
      const uint32_t table = uint32_t(p_.switch_tables_.size() / 256);
      for (int32_t target : a.states[k])
        p_.switch_tables_.push_back(target == kDead ? kNoTarget : target == kAccept ? start + 1 : position(target));
      p_.elements_.push_back({Op::Switch, table});
      if (k == 0) p_.elements_.push_back({Op::End, a.rule});
    }
  }

  std::string describe(uint32_t rule) const {
    const Rule& r = ast_.rules[p_.rules_[rule].source];
    return cat("'", r.name, "' (", r.where, ")");
  }

  // The rules that can match the empty text (nullable) or that can finish at all
  // (!nullable: productive), by a worklist over the rules that call each rule, so a
  // long chain of rules costs one pass, not one pass per rule.
  std::vector<char> fixpoint(bool nullable) const {
    const size_t n = p_.rules_.size();
    std::vector<char> holds(n, 0);
    std::vector<uint32_t> pending;                      // per alternative: calls not yet known to hold
    std::vector<uint32_t> owner;                        // per alternative: its rule
    std::vector<std::vector<uint32_t>> callers(n);      // per rule: the alternatives calling it, once per call
    std::vector<uint32_t> ready;
    for (uint32_t r = 0; r < n; ++r)
      for (uint32_t pos : p_.rules_[r].alternatives) {
        const uint32_t alt = uint32_t(pending.size());
        uint32_t calls = 0;
        bool reads = false;
        for (uint32_t i = pos; p_.elements_[i].op != Op::End; ++i) {
          if (p_.elements_[i].op == Op::Call) {
            ++calls;
            callers[p_.elements_[i].arg].push_back(alt);
          } else {
            reads = true;
          }
        }
        // A read is never empty (so never nullable) and always finishes.
        pending.push_back(nullable && reads ? UINT32_MAX : calls);
        owner.push_back(r);
        if (pending.back() == 0) ready.push_back(r);
      }
    while (!ready.empty()) {
      const uint32_t r = ready.back();
      ready.pop_back();
      if (holds[r]) continue;
      holds[r] = 1;
      for (uint32_t alt : callers[r])
        if (pending[alt] != UINT32_MAX && --pending[alt] == 0) ready.push_back(owner[alt]);
    }
    return holds;
  }

  void check() {
    const size_t n = p_.rules_.size();
    const std::vector<char> nullable = fixpoint(true), productive = fixpoint(false);
    // Rules reachable from the start must all be able to finish: otherwise generation
    // could enter one and never be allowed to end.
    std::vector<char> reachable(n, 0);
    std::vector<uint32_t> work{p_.root_};
    reachable[p_.root_] = 1;
    while (!work.empty()) {
      const uint32_t r = work.back();
      work.pop_back();
      for (uint32_t pos : p_.rules_[r].alternatives)
        for (uint32_t i = pos; p_.elements_[i].op != Op::End; ++i)
          if (p_.elements_[i].op == Op::Call && !reachable[p_.elements_[i].arg])
            reachable[p_.elements_[i].arg] = 1, work.push_back(p_.elements_[i].arg);
    }
    for (uint32_t r = 0; r < n; ++r)
      if (reachable[r] && !productive[r])
        fail(MMB_ERR_GRAMMAR, "rule ", describe(r), " can never finish: every alternative needs itself again");
    // Left recursion: a call reached before any byte is read (only nullable calls
    // before it). A cycle of such calls would expand forever.
    std::vector<std::vector<uint32_t>> left(n);
    for (uint32_t r = 0; r < n; ++r)
      for (uint32_t pos : p_.rules_[r].alternatives)
        for (uint32_t i = pos; p_.elements_[i].op == Op::Call; ++i) {
          left[r].push_back(p_.elements_[i].arg);
          if (!nullable[p_.elements_[i].arg]) break;
        }
    std::vector<uint8_t> color(n, 0);  // 0 unseen, 1 on the path, 2 done
    std::vector<std::pair<uint32_t, size_t>> path;
    for (uint32_t start = 0; start < n; ++start) {
      if (color[start] || !reachable[start]) continue;
      path.push_back({start, 0});
      color[start] = 1;
      while (!path.empty()) {
        auto& [r, next] = path.back();
        if (next == left[r].size()) {
          color[r] = 2;
          path.pop_back();
          continue;
        }
        const uint32_t s = left[r][next++];
        if (color[s] == 1) {
          std::string cycle;
          bool in = false;
          for (auto& [q, _] : path) {
            if (q == s) in = true;
            if (in && (cycle.empty() || p_.rules_[q].source != p_.rules_[s].source || q == s))
              cycle += ast_.rules[p_.rules_[q].source].name + " -> ";
          }
          cycle += ast_.rules[p_.rules_[s].source].name;
          fail(MMB_ERR_GRAMMAR, "rule ", describe(s), " is left-recursive: ", cycle);
        }
        if (color[s] == 0) {
          color[s] = 1;
          path.push_back({s, 0});
        }
      }
    }
  }

  // Partition refinement: split the byte classes by membership in every byte set and by
  // the target of every switch table.
  void classify_bytes() {
    std::vector<uint32_t> cls(256, 0);
    auto refine = [&](auto key_of) {
      std::map<std::pair<uint32_t, uint32_t>, uint32_t> renumber;
      std::vector<uint32_t> next(256);
      for (unsigned b = 0; b < 256; ++b)
        next[b] = renumber.try_emplace({cls[b], key_of(uint8_t(b))}, uint32_t(renumber.size())).first->second;
      cls.swap(next);
    };
    for (const ByteSet& set : p_.byte_sets_) refine([&](uint8_t b) { return uint32_t(set.has(b)); });
    for (size_t t = 0; t < p_.switch_tables_.size() / 256; ++t)
      refine([&](uint8_t b) { return p_.switch_tables_[t * 256 + b]; });
    uint32_t n = 0;
    for (unsigned b = 0; b < 256; ++b) n = std::max(n, cls[b] + 1);
    p_.class_bytes_.assign(n, {});
    for (unsigned b = 0; b < 256; ++b) {
      p_.byte_classes_[b] = uint8_t(cls[b]);
      p_.class_bytes_[cls[b]].push_back(uint8_t(b));
    }
  }

  uint64_t digest() const {
    Xxh64Stream h;
    for (const Element& el : p_.elements_) {
      h.update(&el.op, 1);
      h.update(&el.arg, sizeof el.arg);
    }
    for (const ByteSet& s : p_.byte_sets_) h.update(s.bits, sizeof s.bits);
    h.update(p_.switch_tables_.data(), p_.switch_tables_.size() * sizeof(uint32_t));
    for (const ProgramRule& r : p_.rules_) h.update(r.alternatives.data(), r.alternatives.size() * sizeof(uint32_t));
    h.update(&p_.root_, sizeof p_.root_);
    return h.digest();
  }

  const GrammarAst& ast_;
  GrammarProgram& p_;
  std::vector<std::vector<Seq>> alts_;
  std::vector<uint32_t> sources_;
  std::map<std::string, uint32_t> byte_set_ids_;
  std::map<std::string, uint32_t> class_rules_;  // UTF-8 patterns -> automaton rule
  static constexpr size_t kMaxTrieLiteral = 4096;  // longer literals keep one alternative each
  std::vector<Automaton> automata_;
  size_t elements_ = 0;
  uint32_t current_source_ = 0;
};

GrammarProgram::GrammarProgram(const GrammarAst& ast) { Lowering(ast, *this).run(); }

}  // namespace mmb::grammar
