// A grammar lowered to what the matcher runs: rules whose alternatives are sequences of
// byte-set reads and rule calls, all in one flat array of elements. A position in a
// grammar is an index into that array; a parse in progress is a stack of positions
// (grammar_matcher.hpp).
//
// Lowering turns every front-end construct into this form: literals and UTF-8
// character classes into byte reads (a multi-byte class into a helper rule with one
// alternative per byte pattern), groups and choices into helper rules, x{m,n} into m
// calls and a chain of n - m optional calls, x* into a right-recursive helper rule. A
// class with multi-byte characters becomes a small byte automaton (Switch elements), so
// that "any character but a quote" is one parse to follow, not one per UTF-8 pattern. It
// then checks what would make a grammar unusable: a rule that is left-recursive (the
// matcher would loop) or that can never finish (no finite text matches it).
#pragma once

#include "grammar/byte_set.hpp"
#include "grammar/grammar_ast.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace mmb::grammar {

enum class Op : uint8_t {
  Read,    // read one byte in byte_sets[arg], then go on with the next element
  Switch,  // read one byte and go on where switch table `arg` says (a UTF-8 class's automaton)
  Call,    // run rule `arg`, then go on with the next element
  End,     // the alternative is complete: return to the caller
};

constexpr uint32_t kNoTarget = UINT32_MAX;  // a switch table's entry for a byte it refuses

struct Element {
  Op op = Op::End;
  uint32_t arg = 0;
};

struct ProgramRule {
  std::vector<uint32_t> alternatives;  // the position of each alternative's first element
  uint32_t source = 0;                 // the front-end rule this one was made for (errors)
};

class GrammarProgram {
 public:
  // Lowers and checks `ast`; throws MMB_ERR_GRAMMAR naming the rule and where it was
  // defined when the grammar is unusable, or when it is too large (over kMaxElements).
  explicit GrammarProgram(const GrammarAst& ast);

  static constexpr size_t kMaxElements = size_t(1) << 24;

  const Element& element(uint32_t pos) const { return elements_[pos]; }
  const ByteSet& byte_set(uint32_t index) const { return byte_sets_[index]; }
  // Where a Switch with table `table` goes after `byte`, or kNoTarget.
  uint32_t switch_target(uint32_t table, uint8_t byte) const { return switch_tables_[size_t(table) * 256 + byte]; }
  // Bytes that every read and switch of the program treats alike share a class: a step
  // computed for one byte of a class holds for all of them.
  uint8_t byte_class(uint8_t byte) const { return byte_classes_[byte]; }
  const std::vector<uint8_t>& bytes_of_class(uint8_t c) const { return class_bytes_[c]; }
  // Whether the element at `pos` reads a byte (what a stack's top must be).
  bool reads(uint32_t pos) const { return elements_[pos].op == Op::Read || elements_[pos].op == Op::Switch; }
  const ProgramRule& rule(uint32_t index) const { return rules_[index]; }
  uint32_t root() const { return root_; }
  size_t n_elements() const { return elements_.size(); }
  size_t n_rules() const { return rules_.size(); }
  // A digest of the program, so a saved matcher state is only loaded into its own grammar.
  uint64_t fingerprint() const { return fingerprint_; }

 private:
  friend class Lowering;
  std::vector<Element> elements_;
  std::vector<ByteSet> byte_sets_;
  std::vector<uint32_t> switch_tables_;  // 256 targets per table
  uint8_t byte_classes_[256] = {};
  std::vector<std::vector<uint8_t>> class_bytes_;
  std::vector<ProgramRule> rules_;
  uint32_t root_ = 0;
  uint64_t fingerprint_ = 0;
};

}  // namespace mmb::grammar
