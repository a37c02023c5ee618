// Renders a compiled template: walks the syntax tree with the scoping rules of the
// reference engine (a for loop and a macro call open a scope; if and set do not) and
// counts what it spends, so a template that loops, recurses or grows without end
// stops with a RenderFailure instead of hanging or exhausting memory.
#pragma once

#include "chat/chat_template.hpp"
#include "chat/jinja_ast.hpp"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mmb::jinja {

// Renders `program` with `variables` as its global names. Throws RenderFailure (its
// message starting with "line L: ").
std::string render_program(const std::vector<NodePtr>& program, const std::vector<std::pair<std::string, Value>>& variables,
                           const ChatRenderLimits& limits);

}  // namespace mmb::jinja
