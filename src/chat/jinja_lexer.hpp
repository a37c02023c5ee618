// Template source to tokens, as the reference engine (@huggingface/jinja, used by
// transformers.js) does it: the source is first preprocessed with transformers'
// settings (one trailing newline dropped, lstrip_blocks and trim_blocks applied as
// text substitutions, {% generation %} tags removed), then text, tags and the tokens
// inside tags are cut out, honouring the '-' whitespace control of {%- -%} {{- -}} {#- -#}.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace mmb::jinja {

enum class TokenType : unsigned char {
  Text, Number, String, Identifier, Equals, OpenParen, CloseParen, OpenStatement, CloseStatement,
  OpenExpression, CloseExpression, OpenSquare, CloseSquare, OpenCurly, CloseCurly, Comma, Dot, Colon, Pipe,
  Additive,        // + - ~
  Multiplicative,  // * / // %
  Power,           // **
  Comparison,      // < > <= >= == !=
  Unary,           // a lone - or + before an operand
  Comment,
};

struct Token {
  TokenType type;
  std::string value;
  size_t offset;  // in the original source, for error positions
};

// A syntax error: what and where (a byte offset in the original source).
struct SyntaxFailure {
  std::string message;
  size_t offset;
};

std::vector<Token> tokenize(std::string_view source);

}  // namespace mmb::jinja
