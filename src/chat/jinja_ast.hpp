// The syntax tree of a compiled chat template: one node type with a kind, so the
// interpreter is a single switch. Which fields a kind uses is listed beside it.
#pragma once

#include "chat/jinja_value.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mmb::jinja {

enum class NodeKind : unsigned char {
  // Statements (in bodies)
  Text,      // name: the text
  Output,    // args[0]: the expression of {{ }}
  If,        // args[0]: test; body; alternate (an elif is an If alone in alternate)
  For,       // args[0]: target (Identifier or Tuple); args[1]: iterable; args[2]: filter condition or
             // null; body; alternate (the else block)
  Set,       // args[0]: target (Identifier, Tuple or Member); args[1]: value, or null and body
  Macro,     // name; args: parameters (Identifier, or KeywordArgument with a default); body
  Break,
  Continue,
  // Expressions
  Literal,          // literal
  Identifier,       // name
  Member,           // args[0]: object; args[1]: computed key, or null and name (a.b)
  Slice,            // args[0]: object; args[1..3]: start, stop, step (each may be null)
  Call,             // args[0]: callee; args[1..]: arguments
  KeywordArgument,  // name = args[0]
  Filter,           // args[0]: operand; name; args[1..]: arguments; flag: written with ( )
  Test,             // args[0]: operand; name; flag: negated (is not)
  Unary,            // op; args[0]
  Binary,           // op; args[0], args[1]
  Ternary,          // args[0]: condition; args[1]: if true; args[2]: if false
  Select,           // args[0]: value; args[1]: condition (a if c, no else)
  ArrayLiteral,     // args: items
  TupleLiteral,     // args: items
  ObjectLiteral,    // args: key, value, key, value, ...
};

enum class Op : unsigned char {
  None, Not, Negate, Plus,
  Or, And, Equal, NotEqual, Less, Greater, LessEqual, GreaterEqual, In, NotIn,
  Add, Subtract, Concat, Multiply, Divide, FloorDivide, Modulo, Power,
};

struct Node {
  NodeKind kind;
  Op op = Op::None;
  bool flag = false;
  uint32_t line = 1;
  uint32_t height = 1;  // of the tree below, bounded so evaluation cannot exhaust the stack
  std::string name;
  Value literal;
  std::vector<std::unique_ptr<Node>> args;
  std::vector<std::unique_ptr<Node>> body, alternate;
};

using NodePtr = std::unique_ptr<Node>;

}  // namespace mmb::jinja
