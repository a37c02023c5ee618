#include "grammar/choice_grammar.hpp"

#include "base/error.hpp"
#include "tokenizer/unicode_text.hpp"

#include <string>
#include <vector>

namespace mmb::grammar {
namespace {

bool valid_utf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const Utf8Char ch = decode_utf8(text, i);
    if (ch.cp < 0) return false;
    i += ch.length;
  }
  return true;
}

}  // namespace

GrammarAst choice_grammar(std::span<const std::string_view> items) {
  if (items.empty()) fail(MMB_ERR_GRAMMAR, "the choice list is empty");
  std::vector<Expr> alternatives;
  alternatives.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    // An empty choice would let the output end at once, which no caller means.
    if (items[i].empty()) fail(MMB_ERR_GRAMMAR, "choice ", i + 1, " is empty");
    if (!valid_utf8(items[i])) fail(MMB_ERR_GRAMMAR, "choice ", i + 1, " is not valid UTF-8");
    alternatives.push_back(Expr::literal(std::string(items[i])));
  }
  GrammarAst ast;
  ast.rules.push_back(Rule{"root", Expr::choice(std::move(alternatives)), "choice list"});
  return ast;
}

}  // namespace mmb::grammar
