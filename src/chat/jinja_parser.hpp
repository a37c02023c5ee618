// Tokens to the syntax tree, with the reference engine's grammar and precedence, and
// the checks that make an unsupported template fail here rather than while rendering:
// unknown statements, filters, tests and methods, and nesting deep enough to endanger
// the stack.
#pragma once

#include "chat/jinja_ast.hpp"
#include "chat/jinja_lexer.hpp"

#include <string_view>
#include <vector>

namespace mmb::jinja {

// The template's statements. Throws SyntaxFailure.
std::vector<NodePtr> parse(std::string_view source);

// Line (1-based) and column (1-based, in characters) of a byte offset.
void line_and_column(std::string_view source, size_t offset, size_t& line, size_t& column);

}  // namespace mmb::jinja
