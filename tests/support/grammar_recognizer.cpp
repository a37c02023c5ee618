#include "support/grammar_recognizer.hpp"

#include "support/splitmix_rng.hpp"

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <unordered_set>
#include <vector>

namespace mmb::testing {
namespace {

using grammar::CodepointRange;
using grammar::Expr;
using grammar::GrammarAst;

constexpr uint32_t kMaxScalar = 0x10FFFF;
constexpr uint64_t kInfinite = UINT64_MAX;

bool is_surrogate(uint32_t cp) { return cp >= 0xD800 && cp <= 0xDFFF; }

// Strict UTF-8 (no overlong forms, surrogates or values past U+10FFFF).
std::optional<std::vector<uint32_t>> decode_utf8(std::string_view text) {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < text.size();) {
    const uint8_t lead = uint8_t(text[i]);
    uint32_t cp = 0;
    size_t length = 0;
    uint32_t smallest = 0;
    if (lead < 0x80) {
      cp = lead, length = 1, smallest = 0;
    } else if ((lead & 0xE0) == 0xC0) {
      cp = lead & 0x1Fu, length = 2, smallest = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
      cp = lead & 0x0Fu, length = 3, smallest = 0x800;
    } else if ((lead & 0xF8) == 0xF0) {
      cp = lead & 0x07u, length = 4, smallest = 0x10000;
    } else {
      return std::nullopt;
    }
    if (i + length > text.size()) return std::nullopt;
    for (size_t k = 1; k < length; ++k) {
      const uint8_t next = uint8_t(text[i + k]);
      if ((next & 0xC0) != 0x80) return std::nullopt;
      cp = (cp << 6) | (next & 0x3Fu);
    }
    if (cp < smallest || cp > kMaxScalar || is_surrogate(cp)) return std::nullopt;
    out.push_back(cp);
    i += length;
  }
  return out;
}

void encode_utf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

// A set of scalar values: sorted, disjoint, non-adjacent ranges.
using CharSet = std::vector<CodepointRange>;

CharSet scalar_set(const std::vector<CodepointRange>& ranges, bool negated) {
  std::vector<CodepointRange> pieces;
  for (CodepointRange r : ranges) {
    if (r.first > r.last || r.first > kMaxScalar) continue;
    r.last = std::min(r.last, kMaxScalar);
    // Cut out the surrogates.
    if (r.first < 0xD800) pieces.push_back({r.first, std::min(r.last, 0xD7FFu)});
    if (r.last > 0xDFFF) pieces.push_back({std::max(r.first, 0xE000u), r.last});
  }
  std::sort(pieces.begin(), pieces.end(), [](auto a, auto b) { return a.first < b.first; });
  CharSet merged;
  for (CodepointRange r : pieces) {
    if (!merged.empty() && r.first <= merged.back().last + 1) {
      merged.back().last = std::max(merged.back().last, r.last);
    } else {
      merged.push_back(r);
    }
  }
  if (!negated) return merged;
  CharSet complement;
  uint32_t next = 0;
  for (CodepointRange r : merged) {
    if (r.first > next) complement.push_back({next, r.first - 1});
    next = r.last + 1;
  }
  if (next <= kMaxScalar) complement.push_back({next, kMaxScalar});
  return scalar_set(complement, false);  // the complement holds the surrogates again
}

bool contains(const CharSet& set, uint32_t cp) {
  return std::any_of(set.begin(), set.end(), [&](CodepointRange r) { return r.first <= cp && cp <= r.last; });
}

struct Symbol {
  bool terminal = false;
  uint32_t index = 0;  // into Cfg::terminals or a nonterminal
};

struct Production {
  uint32_t lhs = 0;
  std::vector<Symbol> rhs;
};

// The AST as a plain context-free grammar over code points. Rule i is nonterminal i;
// each Choice and Repeat gets helper nonterminals; a literal is one terminal per
// character. Productions that can never finish (through an unproductive nonterminal or
// an empty class) are left out of `by_lhs`, so every Earley item alive can still finish.
struct Cfg {
  std::vector<CharSet> terminals;
  std::vector<Production> productions;
  uint32_t nonterminals = 0;
  uint32_t start = 0;  // start -> root, one production
  std::vector<std::vector<uint32_t>> by_lhs;
  std::vector<bool> nullable;
  std::vector<bool> productive;

  explicit Cfg(const GrammarAst& ast) : nonterminals(uint32_t(ast.rules.size())), rule_count_(ast.rules.size()) {
    if (ast.root >= ast.rules.size()) throw std::invalid_argument("grammar root out of range");
    for (uint32_t i = 0; i < ast.rules.size(); ++i) {
      const Expr& body = ast.rules[i].body;
      if (body.kind == Expr::Kind::Choice) {
        for (const Expr& alternative : body.items) add(i, symbols(alternative));
      } else {
        add(i, symbols(body));
      }
    }
    start = nonterminals++;
    add(start, {Symbol{false, ast.root}});
    analyse();
  }

  bool usable(const Production& p) const {
    return std::all_of(p.rhs.begin(), p.rhs.end(), [&](Symbol s) {
      return s.terminal ? !terminals[s.index].empty() : bool(productive[s.index]);
    });
  }

 private:
  size_t rule_count_;

  void add(uint32_t lhs, std::vector<Symbol> rhs) { productions.push_back(Production{lhs, std::move(rhs)}); }

  Symbol terminal(CharSet set) {
    terminals.push_back(std::move(set));
    return Symbol{true, uint32_t(terminals.size() - 1)};
  }

  std::vector<Symbol> symbols(const Expr& e) {
    std::vector<Symbol> out;
    append(e, out);
    return out;
  }

  void append(const Expr& e, std::vector<Symbol>& out) {
    switch (e.kind) {
      case Expr::Kind::Literal: {
        const auto text = decode_utf8(e.text);
        if (!text) {
          out.push_back(terminal({}));  // never matches
          return;
        }
        for (uint32_t cp : *text) out.push_back(terminal({{cp, cp}}));
        return;
      }
      case Expr::Kind::CharClass: out.push_back(terminal(scalar_set(e.ranges, e.negated))); return;
      case Expr::Kind::RuleRef:
        if (e.rule >= rule_count_) throw std::invalid_argument("rule reference out of range");
        out.push_back(Symbol{false, e.rule});
        return;
      case Expr::Kind::Sequence:
        for (const Expr& item : e.items) append(item, out);
        return;
      case Expr::Kind::Choice: {
        const uint32_t helper = nonterminals++;
        for (const Expr& alternative : e.items) add(helper, symbols(alternative));
        out.push_back(Symbol{false, helper});
        return;
      }
      case Expr::Kind::Repeat: out.push_back(Symbol{false, repeat(e)}); return;
    }
  }

  // R -> X^min T, with T -> "" | X T (unbounded) or a chain T_k -> "" | X T_(k-1).
  uint32_t repeat(const Expr& e) {
    const std::vector<Symbol> item = symbols(e.items.at(0));
    const uint32_t helper = nonterminals++;
    if (e.max != grammar::kUnbounded && e.min > e.max) return helper;  // no production: empty language
    std::vector<Symbol> rhs;
    for (uint32_t i = 0; i < e.min; ++i) rhs.insert(rhs.end(), item.begin(), item.end());
    if (e.max == grammar::kUnbounded) {
      const uint32_t tail = nonterminals++;
      add(tail, {});
      std::vector<Symbol> more = item;
      more.push_back(Symbol{false, tail});
      add(tail, std::move(more));
      rhs.push_back(Symbol{false, tail});
    } else if (e.max > e.min) {
      uint32_t previous = 0;
      for (uint32_t k = 1; k <= e.max - e.min; ++k) {
        const uint32_t tail = nonterminals++;
        add(tail, {});
        std::vector<Symbol> more = item;
        if (k > 1) more.push_back(Symbol{false, previous});
        add(tail, std::move(more));
        previous = tail;
      }
      rhs.push_back(Symbol{false, previous});
    }
    add(helper, std::move(rhs));
    return helper;
  }

  void analyse() {
    productive.assign(nonterminals, false);
    for (bool changed = true; changed;) {
      changed = false;
      for (const Production& p : productions) {
        if (!productive[p.lhs] && usable(p)) productive[p.lhs] = changed = true;
      }
    }
    by_lhs.assign(nonterminals, {});
    for (uint32_t i = 0; i < productions.size(); ++i) {
      if (usable(productions[i])) by_lhs[productions[i].lhs].push_back(i);
    }
    nullable.assign(nonterminals, false);
    for (bool changed = true; changed;) {
      changed = false;
      for (const Production& p : productions) {
        if (nullable[p.lhs]) continue;
        const bool all_nullable = std::all_of(p.rhs.begin(), p.rhs.end(),
                                              [&](Symbol s) { return !s.terminal && nullable[s.index]; });
        if (all_nullable) nullable[p.lhs] = changed = true;
      }
    }
  }
};

struct Item {
  uint32_t production = 0;
  uint32_t dot = 0;
  uint32_t origin = 0;
  bool operator==(const Item&) const = default;
};

struct ItemHash {
  size_t operator()(const Item& i) const {
    return std::hash<uint64_t>()((uint64_t(i.production) << 32) ^ (uint64_t(i.dot) << 20) ^ i.origin);
  }
};

struct EarleySet {
  std::vector<Item> items;
  std::unordered_set<Item, ItemHash> seen;
  void add(Item item) {
    if (seen.insert(item).second) items.push_back(item);
  }
};

// Earley's chart over `text`, with Aycock and Horspool's step for nullable nonterminals
// (predicting one also moves past it), which makes completions within one set complete.
// Stops early, with fewer sets, once no item survives a character.
std::vector<EarleySet> earley_chart(const Cfg& cfg, const std::vector<uint32_t>& text) {
  std::vector<EarleySet> sets(text.size() + 1);
  const uint32_t start_production = cfg.by_lhs[cfg.start].empty() ? UINT32_MAX : cfg.by_lhs[cfg.start][0];
  if (start_production == UINT32_MAX) return {};  // the root has no sentence
  sets[0].add(Item{start_production, 0, 0});
  for (size_t i = 0; i <= text.size(); ++i) {
    for (size_t k = 0; k < sets[i].items.size(); ++k) {
      const Item item = sets[i].items[k];
      const Production& p = cfg.productions[item.production];
      if (item.dot == p.rhs.size()) {
        for (size_t j = 0; j < sets[item.origin].items.size(); ++j) {
          const Item waiting = sets[item.origin].items[j];
          const Production& w = cfg.productions[waiting.production];
          if (waiting.dot < w.rhs.size() && !w.rhs[waiting.dot].terminal && w.rhs[waiting.dot].index == p.lhs) {
            sets[i].add(Item{waiting.production, waiting.dot + 1, waiting.origin});
          }
        }
        continue;
      }
      const Symbol next = p.rhs[item.dot];
      if (next.terminal) {
        if (i < text.size() && contains(cfg.terminals[next.index], text[i])) {
          sets[i + 1].add(Item{item.production, item.dot + 1, item.origin});
        }
        continue;
      }
      for (uint32_t production : cfg.by_lhs[next.index]) sets[i].add(Item{production, 0, uint32_t(i)});
      if (cfg.nullable[next.index]) sets[i].add(Item{item.production, item.dot + 1, item.origin});
    }
    if (i < text.size() && sets[i + 1].items.empty()) {
      sets.resize(i + 1);
      break;
    }
  }
  return sets;
}

// The least a nonterminal must still write, in characters, and the height of its lowest
// derivation tree among those that write that least. Taking a shortest production of
// least height always finishes: the height falls at each step.
struct FinishCosts {
  std::vector<uint64_t> length;
  std::vector<uint64_t> height;
};

uint64_t saturating_add(uint64_t a, uint64_t b) { return a > kInfinite - b ? kInfinite : a + b; }

uint64_t production_length(const FinishCosts& costs, const Production& p) {
  uint64_t length = 0;
  for (Symbol s : p.rhs) length = saturating_add(length, s.terminal ? 1 : costs.length[s.index]);
  return length;
}

uint64_t production_height(const FinishCosts& costs, const Production& p) {
  uint64_t height = 1;
  for (Symbol s : p.rhs) {
    if (!s.terminal) height = std::max(height, saturating_add(costs.height[s.index], 1));
  }
  return height;
}

FinishCosts finish_costs(const Cfg& cfg) {
  FinishCosts costs{std::vector<uint64_t>(cfg.nonterminals, kInfinite), std::vector<uint64_t>(cfg.nonterminals, kInfinite)};
  for (bool changed = true; changed;) {
    changed = false;
    for (const Production& p : cfg.productions) {
      const uint64_t length = cfg.usable(p) ? production_length(costs, p) : kInfinite;
      if (length < costs.length[p.lhs]) costs.length[p.lhs] = length, changed = true;
    }
  }
  for (bool changed = true; changed;) {
    changed = false;
    for (const Production& p : cfg.productions) {
      if (!cfg.usable(p) || production_length(costs, p) != costs.length[p.lhs]) continue;
      const uint64_t height = production_height(costs, p);
      if (height < costs.height[p.lhs]) costs.height[p.lhs] = height, changed = true;
    }
  }
  return costs;
}

// Mostly printable ASCII where the set has some, so sentences stay readable.
uint32_t random_char(const CharSet& set, SplitMixRng& rng) {
  CharSet ascii;
  for (CodepointRange r : set) {
    const uint32_t first = std::max(r.first, 0x20u);
    const uint32_t last = std::min(r.last, 0x7Eu);
    if (first <= last) ascii.push_back({first, last});
  }
  const CharSet& from = !ascii.empty() && rng.below(4) != 0 ? ascii : set;
  const CodepointRange r = from[rng.below(uint32_t(from.size()))];
  return r.first + rng.below(r.last - r.first + 1);
}

}  // namespace

bool grammar_recognizes(const GrammarAst& ast, std::string_view text) {
  const auto chars = decode_utf8(text);
  if (!chars) return false;
  const Cfg cfg(ast);
  const std::vector<EarleySet> sets = earley_chart(cfg, *chars);
  if (sets.size() != chars->size() + 1) return false;
  const Item finished{cfg.by_lhs[cfg.start][0], 1, 0};
  return sets.back().seen.count(finished) != 0;
}

bool grammar_accepts_prefix(const GrammarAst& ast, std::string_view text) {
  const auto chars = decode_utf8(text);
  if (!chars) return false;
  const Cfg cfg(ast);
  return earley_chart(cfg, *chars).size() == chars->size() + 1;
}

std::string grammar_random_sentence(const GrammarAst& ast, uint64_t seed, size_t max_len_hint) {
  const Cfg cfg(ast);
  if (!cfg.productive[cfg.start]) throw std::invalid_argument("the grammar has no sentence");
  const FinishCosts costs = finish_costs(cfg);
  SplitMixRng rng(seed);
  std::string out;
  std::vector<Symbol> pending{Symbol{false, cfg.start}};  // back() comes next
  uint64_t written = 0;
  uint64_t pending_length = costs.length[cfg.start];  // the least `pending` will still write
  // Past this many expansions even a grammar that loops without writing is made to finish.
  size_t expansions_left = 100000;
  while (!pending.empty()) {
    const Symbol s = pending.back();
    pending.pop_back();
    if (s.terminal) {
      encode_utf8(random_char(cfg.terminals[s.index], rng), out);
      ++written;
      --pending_length;
      continue;
    }
    const std::vector<uint32_t>& options = cfg.by_lhs[s.index];
    uint32_t chosen = options[0];
    const bool finishing = written + pending_length >= max_len_hint || expansions_left == 0;
    if (finishing) {
      // A shortest production; among those the lowest.
      uint64_t best_height = kInfinite;
      for (uint32_t option : options) {
        const Production& p = cfg.productions[option];
        if (production_length(costs, p) != costs.length[s.index]) continue;
        const uint64_t height = production_height(costs, p);
        if (height < best_height) chosen = option, best_height = height;
      }
    } else {
      chosen = options[rng.below(uint32_t(options.size()))];
      --expansions_left;
    }
    const Production& p = cfg.productions[chosen];
    pending_length = pending_length - costs.length[s.index] + production_length(costs, p);
    for (auto it = p.rhs.rbegin(); it != p.rhs.rend(); ++it) pending.push_back(*it);
  }
  return out;
}

}  // namespace mmb::testing
