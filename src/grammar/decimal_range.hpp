// Grammar expressions for the decimal text of numbers inside a range, as JSON writes
// them: the integers of [lo, hi] with no leading zeros and never "-0", and (for JSON
// Schema's `number`) decimals whose every completion stays inside the bounds. The
// schema front end uses these so a constrained number can only ever be in range.
#pragma once

#include "grammar/grammar_ast.hpp"

#include <cstdint>
#include <optional>
#include <vector>

namespace mmb::grammar {

// The decimal strings of exactly the integers in [lo, hi]; an absent side is open.
// Throws MMB_ERR_GRAMMAR when lo > hi (the range holds no integer).
Expr integer_range_expr(std::optional<int64_t> lo, std::optional<int64_t> hi);

// Bounds of a JSON number; an absent side is open, `exclusive` makes that side strict.
struct NumberBounds {
  std::optional<double> lo;
  bool lo_exclusive = false;
  std::optional<double> hi;
  bool hi_exclusive = false;
};

constexpr double kNumberBoundLimit = 1e13;

// JSON number text inside `b`: integers of the range and decimals `I.d[0-9]*` whose
// whole interval [I.d, I.d + 0.1) lies inside it (so the set is decided at a tenth's
// resolution: a subset of the valid numbers near a non-tenth bound, never an invalid
// one; no exponent; at most 15 significant digits). With no bound at all: every JSON
// number. Returns nothing when no number of that form is in range. Throws
// MMB_ERR_GRAMMAR for a bound beyond ±kNumberBoundLimit (where 15 digits leave no
// room for a fraction).
std::optional<Expr> number_range_expr(const NumberBounds& b);

// A sequence of `parts` with nested sequences flattened, empty literals dropped and
// adjacent literals joined (a single part is returned as it is): keeps generated
// trees small.
Expr flat_sequence(std::vector<Expr> parts);

// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?`: any JSON number.
Expr json_number_expr();

}  // namespace mmb::grammar
