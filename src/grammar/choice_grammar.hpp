// A list of choices as a grammar: the output must be exactly one of the strings
// (a label, a menu entry, a game action).
#pragma once

#include "grammar/grammar_ast.hpp"

#include <span>
#include <string_view>

namespace mmb::grammar {

// One rule, "root": a Choice of the items as Literals, in the given order. Throws
// mmb::Error(MMB_ERR_GRAMMAR) for no items, an empty item ("choice 2 is empty") or one
// that is not valid UTF-8; choices are counted from 1.
GrammarAst choice_grammar(std::span<const std::string_view> items);

}  // namespace mmb::grammar
