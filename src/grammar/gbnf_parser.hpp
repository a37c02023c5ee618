// Grammar text in the GBNF dialect (the one llama.cpp reads) to a GrammarAst.
//
//   root   ::= answer ("," ws answer){0,3}
//   answer ::= "yes" | "no" | [0-9]+      # comments run to the end of the line
//   ws     ::= [ \t]?
//
// Rules are `name ::= body`; a body is alternatives (`|`) of sequences of string literals,
// character classes ([a-z], [^"\\], `.` for any character), rule references and groups,
// each optionally followed by `*`, `+`, `?`, `{m}`, `{m,}`, `{m,n}` or `{,n}`. As in
// llama.cpp a newline ends a rule, except inside parentheses, after `::=` and after `|`.
#pragma once

#include "grammar/grammar_ast.hpp"

#include <string_view>

namespace mmb::grammar {

// Parses `text`; the rule named `root_name` becomes the root. Rules keep the order of
// their definitions. Throws mmb::Error(MMB_ERR_GRAMMAR, "line L, column C: ...") for
// malformed text (syntax, escapes, invalid UTF-8, bad repetition bounds, nesting deeper
// than 256), a rule defined twice, a reference to an undefined rule, a missing root rule
// and a text without rules; columns count characters.
GrammarAst parse_gbnf(std::string_view text, std::string_view root_name = "root");

}  // namespace mmb::grammar
