#include "chat/jinja_parser.hpp"

#include "chat/jinja_builtins.hpp"

#include <algorithm>
#include <cmath>
#include <set>
#include <string>

namespace mmb::jinja {
namespace {

constexpr int kMaxNesting = 100;   // blocks inside blocks, brackets inside brackets
constexpr uint32_t kMaxHeight = 200;  // of one expression tree

class Parser {
 public:
  Parser(std::string_view source, std::vector<Token> tokens) : source_(source), tokens_(std::move(tokens)) {
    for (size_t i = 0; i < source.size(); ++i)
      if (source[i] == '\n') line_starts_.push_back(i + 1);
  }

  std::vector<NodePtr> run() {
    std::vector<NodePtr> program;
    while (pos_ < tokens_.size()) program.push_back(parse_any());
    for (const auto& [name, offset] : called_names_)
      if (!macros_.count(name) && !is_global_function(name))
        throw SyntaxFailure{"'" + name + "' is not a function this interpreter has (nor a macro of the template)", offset};
    return program;
  }

 private:
  std::string_view source_;
  std::vector<Token> tokens_;
  std::vector<size_t> line_starts_{0};
  size_t pos_ = 0;
  int nesting_ = 0;
  std::set<std::string> macros_;
  std::vector<std::pair<std::string, size_t>> called_names_;

  struct Nest {
    Parser& p;
    explicit Nest(Parser& parser) : p(parser) {
      if (++p.nesting_ > kMaxNesting) p.fail("the template nests too deeply");
    }
    ~Nest() { --p.nesting_; }
  };

  size_t here() const { return pos_ < tokens_.size() ? tokens_[pos_].offset : source_.size(); }
  [[noreturn]] void fail(std::string message) const { throw SyntaxFailure{std::move(message), here()}; }
  uint32_t line_of(size_t offset) const {
    return uint32_t(std::upper_bound(line_starts_.begin(), line_starts_.end(), offset) - line_starts_.begin());
  }

  const Token& peek(size_t ahead = 0) const {
    static const Token end{TokenType::Comment, "", 0};
    return pos_ + ahead < tokens_.size() ? tokens_[pos_ + ahead] : end;
  }
  bool at_end() const { return pos_ >= tokens_.size(); }
  bool is(TokenType t) const { return !at_end() && tokens_[pos_].type == t; }
  bool is_word(std::string_view w, size_t ahead = 0) const {
    return pos_ + ahead < tokens_.size() && tokens_[pos_ + ahead].type == TokenType::Identifier &&
           tokens_[pos_ + ahead].value == w;
  }
  bool is_statement(std::initializer_list<std::string_view> names) const {
    if (!is(TokenType::OpenStatement) || pos_ + 1 >= tokens_.size()) return false;
    const Token& t = tokens_[pos_ + 1];
    if (t.type != TokenType::Identifier) return false;
    for (std::string_view n : names)
      if (t.value == n) return true;
    return false;
  }
  const Token& expect(TokenType t, const char* what) {
    if (!is(t)) fail(at_end() ? std::string("unexpected end of template, expected ") + what : std::string("expected ") + what);
    return tokens_[pos_++];
  }
  void expect_word(const char* w) {
    if (!is_word(w)) fail(std::string("expected '") + w + "'");
    ++pos_;
  }

  NodePtr node(NodeKind kind, size_t offset) {
    auto n = std::make_unique<Node>();
    n->kind = kind;
    n->line = line_of(offset);
    return n;
  }
  // Adds a child, keeping track of the height of expression trees.
  void add(Node& parent, NodePtr child) {
    if (child) {
      parent.height = std::max(parent.height, child->height + 1);
      if (parent.height > kMaxHeight) fail("an expression of the template nests too deeply");
    }
    parent.args.push_back(std::move(child));
  }

  // Statements -------------------------------------------------------------------------

  NodePtr parse_any() {
    Nest nest(*this);
    if (at_end()) fail("unexpected end of template (a block is not closed)");
    const Token& t = tokens_[pos_];
    switch (t.type) {
      case TokenType::Comment: {
        ++pos_;
        auto n = node(NodeKind::Text, t.offset);
        return n;  // an empty text: comments print nothing
      }
      case TokenType::Text: {
        auto n = node(NodeKind::Text, t.offset);
        n->name = t.value;
        ++pos_;
        return n;
      }
      case TokenType::OpenStatement: return parse_statement();
      case TokenType::OpenExpression: {
        ++pos_;
        auto n = node(NodeKind::Output, t.offset);
        add(*n, parse_expression());
        expect(TokenType::CloseExpression, "'}}'");
        return n;
      }
      default: fail("unexpected '" + t.value + "' outside a tag");
    }
  }

  std::vector<NodePtr> parse_until(std::initializer_list<std::string_view> ends) {
    std::vector<NodePtr> body;
    while (!is_statement(ends)) body.push_back(parse_any());
    return body;
  }

  void expect_end(const char* word) {
    expect(TokenType::OpenStatement, "'{%'");
    expect_word(word);
    expect(TokenType::CloseStatement, "'%}'");
  }

  NodePtr parse_statement() {
    const size_t open = here();
    expect(TokenType::OpenStatement, "'{%'");
    if (!is(TokenType::Identifier)) fail("expected a statement name after '{%'");
    const std::string name = tokens_[pos_].value;
    ++pos_;
    if (name == "set") return parse_set(open);
    if (name == "if") {
      auto n = parse_if(open);
      expect_end("endif");
      return n;
    }
    if (name == "for") {
      auto n = parse_for(open);
      expect_end("endfor");
      return n;
    }
    if (name == "macro") {
      auto n = parse_macro(open);
      expect_end("endmacro");
      return n;
    }
    if (name == "break" || name == "continue") {
      expect(TokenType::CloseStatement, "'%}'");
      return node(name == "break" ? NodeKind::Break : NodeKind::Continue, open);
    }
    pos_--;
    fail("'" + name + "' is not a statement this interpreter has (it knows set, if, for, macro, break, continue)");
  }

  NodePtr parse_set(size_t open) {
    auto n = node(NodeKind::Set, open);
    NodePtr target = parse_sequence(false);
    if (target->kind != NodeKind::Identifier && target->kind != NodeKind::TupleLiteral &&
        !(target->kind == NodeKind::Member && !target->args[1]))
      fail("a set assigns to a name, names, or an attribute (ns.x)");
    add(*n, std::move(target));
    if (is(TokenType::Equals)) {
      ++pos_;
      add(*n, parse_sequence(false));
    } else {
      expect(TokenType::CloseStatement, "'%}' or '='");
      add(*n, nullptr);
      n->body = parse_until({"endset"});
      ++pos_;
      expect_word("endset");
    }
    expect(TokenType::CloseStatement, "'%}'");
    return n;
  }

  NodePtr parse_if(size_t open) {
    auto n = node(NodeKind::If, open);
    add(*n, parse_expression());
    expect(TokenType::CloseStatement, "'%}'");
    n->body = parse_until({"elif", "else", "endif"});
    if (is_statement({"elif"})) {
      const size_t at = here();
      pos_ += 2;
      Nest nest(*this);
      n->alternate.push_back(parse_if(at));
    } else if (is_statement({"else"})) {
      pos_ += 2;
      expect(TokenType::CloseStatement, "'%}'");
      n->alternate = parse_until({"endif"});
    }
    return n;
  }

  NodePtr parse_for(size_t open) {
    auto n = node(NodeKind::For, open);
    NodePtr target = parse_sequence(true);
    if (target->kind == NodeKind::TupleLiteral) {
      for (const auto& item : target->args)
        if (item->kind != NodeKind::Identifier) fail("a loop unpacks into names only");
    } else if (target->kind != NodeKind::Identifier) {
      fail("expected a name or names for the loop variable");
    }
    add(*n, std::move(target));
    if (!is_word("in")) fail("expected 'in' after the loop variable");
    ++pos_;
    NodePtr iterable = parse_expression();
    NodePtr condition;
    if (iterable->kind == NodeKind::Select) {
      condition = std::move(iterable->args[1]);
      iterable = std::move(iterable->args[0]);
    }
    add(*n, std::move(iterable));
    add(*n, std::move(condition));
    expect(TokenType::CloseStatement, "'%}'");
    n->body = parse_until({"endfor", "else"});
    if (is_statement({"else"})) {
      pos_ += 2;
      expect(TokenType::CloseStatement, "'%}'");
      n->alternate = parse_until({"endfor"});
    }
    return n;
  }

  NodePtr parse_macro(size_t open) {
    auto n = node(NodeKind::Macro, open);
    if (!is(TokenType::Identifier)) fail("expected the macro's name");
    n->name = tokens_[pos_++].value;
    macros_.insert(n->name);
    std::set<std::string> names;
    for (NodePtr& p : parse_arguments(true)) {
      const std::string& pname = p->name;
      if (!names.insert(pname).second) fail("duplicate parameter name '" + pname + "'");
      n->args.push_back(std::move(p));
    }
    expect(TokenType::CloseStatement, "'%}'");
    n->body = parse_until({"endmacro"});
    return n;
  }

  // Expressions ------------------------------------------------------------------------

  NodePtr parse_sequence(bool primary) {
    const size_t at = here();
    NodePtr first = primary ? parse_primary() : parse_expression();
    if (!is(TokenType::Comma)) return first;
    auto tuple = node(NodeKind::TupleLiteral, at);
    add(*tuple, std::move(first));
    while (is(TokenType::Comma)) {
      ++pos_;
      add(*tuple, primary ? parse_primary() : parse_expression());
    }
    return tuple;
  }

  NodePtr parse_expression() {
    Nest nest(*this);
    const size_t at = here();
    NodePtr a = parse_or();
    if (!is_word("if")) return a;
    ++pos_;
    NodePtr test = parse_or();
    if (is_word("else")) {
      ++pos_;
      auto n = node(NodeKind::Ternary, at);
      add(*n, std::move(test));
      add(*n, std::move(a));
      add(*n, parse_expression());
      return n;
    }
    auto n = node(NodeKind::Select, at);
    add(*n, std::move(a));
    add(*n, std::move(test));
    return n;
  }

  NodePtr binary(Op op, NodePtr left, NodePtr right, size_t at) {
    auto n = node(NodeKind::Binary, at);
    n->op = op;
    add(*n, std::move(left));
    add(*n, std::move(right));
    return n;
  }

  NodePtr parse_or() {
    NodePtr left = parse_and();
    while (is_word("or")) {
      const size_t at = here();
      ++pos_;
      left = binary(Op::Or, std::move(left), parse_and(), at);
    }
    return left;
  }

  NodePtr parse_and() {
    NodePtr left = parse_not();
    while (is_word("and")) {
      const size_t at = here();
      ++pos_;
      left = binary(Op::And, std::move(left), parse_not(), at);
    }
    return left;
  }

  NodePtr parse_not() {
    if (!is_word("not")) return parse_comparison();
    Nest nest(*this);
    // Like the reference, "not not x" keeps only the last "not".
    NodePtr result;
    while (is_word("not")) {
      const size_t at = here();
      ++pos_;
      auto n = node(NodeKind::Unary, at);
      n->op = Op::Not;
      add(*n, parse_not());
      result = std::move(n);
    }
    return result;
  }

  NodePtr parse_comparison() {
    NodePtr left = parse_additive();
    while (true) {
      const size_t at = here();
      Op op;
      if (is_word("not") && is_word("in", 1)) {
        op = Op::NotIn;
        pos_ += 2;
      } else if (is_word("in")) {
        op = Op::In;
        ++pos_;
      } else if (is(TokenType::Comparison)) {
        const std::string& v = tokens_[pos_++].value;
        op = v == "==" ? Op::Equal : v == "!=" ? Op::NotEqual : v == "<" ? Op::Less : v == ">" ? Op::Greater
             : v == "<=" ? Op::LessEqual : Op::GreaterEqual;
      } else {
        return left;
      }
      left = binary(op, std::move(left), parse_additive(), at);
    }
  }

  NodePtr parse_additive() {
    NodePtr left = parse_multiplicative();
    while (is(TokenType::Additive)) {
      const size_t at = here();
      const std::string& v = tokens_[pos_++].value;
      const Op op = v == "+" ? Op::Add : v == "-" ? Op::Subtract : Op::Concat;
      left = binary(op, std::move(left), parse_multiplicative(), at);
    }
    return left;
  }

  NodePtr parse_multiplicative() {
    NodePtr left = parse_power();
    while (is(TokenType::Multiplicative)) {
      const size_t at = here();
      const std::string& v = tokens_[pos_++].value;
      const Op op = v == "*" ? Op::Multiply : v == "/" ? Op::Divide : v == "//" ? Op::FloorDivide : Op::Modulo;
      left = binary(op, std::move(left), parse_power(), at);
    }
    return left;
  }

  NodePtr parse_power() {
    NodePtr left = parse_test();
    while (is(TokenType::Power)) {
      const size_t at = here();
      ++pos_;
      left = binary(Op::Power, std::move(left), parse_test(), at);
    }
    return left;
  }

  NodePtr parse_test() {
    NodePtr operand = parse_filter();
    while (is_word("is")) {
      const size_t at = here();
      ++pos_;
      auto n = node(NodeKind::Test, at);
      if (is_word("not")) {
        n->flag = true;
        ++pos_;
      }
      if (!is(TokenType::Identifier)) fail("expected the name of a test after 'is'");
      n->name = tokens_[pos_].value;
      if (!is_test_name(n->name)) fail("'" + n->name + "' is not a test this interpreter has");
      ++pos_;
      add(*n, std::move(operand));
      operand = std::move(n);
    }
    return operand;
  }

  NodePtr parse_filter() {
    NodePtr operand = parse_unary();
    while (is(TokenType::Pipe)) {
      ++pos_;
      const size_t at = here();
      if (!is(TokenType::Identifier)) fail("expected the name of a filter after '|'");
      auto n = node(NodeKind::Filter, at);
      n->name = tokens_[pos_].value;
      if (!is_filter_name(n->name)) fail("'" + n->name + "' is not a filter this interpreter has");
      ++pos_;
      add(*n, std::move(operand));
      if (is(TokenType::OpenParen)) {
        n->flag = true;
        for (NodePtr& a : parse_arguments(false)) add(*n, std::move(a));
        if (is(TokenType::Dot) || is(TokenType::OpenSquare) || is(TokenType::OpenParen))
          fail("a filter's result is used through parentheses: (x | f(...)).y");
      }
      operand = std::move(n);
    }
    return operand;
  }

  NodePtr parse_unary() {
    if ((is(TokenType::Unary) || is(TokenType::Additive)) && (peek().value == "-" || peek().value == "+")) {
      Nest nest(*this);
      const size_t at = here();
      auto n = node(NodeKind::Unary, at);
      n->op = tokens_[pos_++].value == "-" ? Op::Negate : Op::Plus;
      add(*n, parse_unary());
      return n;
    }
    return parse_call_member();
  }

  NodePtr parse_call_member() {
    NodePtr expr = parse_member(parse_primary());
    while (is(TokenType::OpenParen)) {
      const size_t at = here();
      check_callee(*expr);
      auto call = node(NodeKind::Call, at);
      add(*call, std::move(expr));
      for (NodePtr& a : parse_arguments(false)) add(*call, std::move(a));
      expr = parse_member(std::move(call));
    }
    return expr;
  }

  // Only what can be a function is called: a global function or macro by name, or a
  // method of a string or dict.
  void check_callee(const Node& callee) {
    if (callee.kind == NodeKind::Identifier) {
      called_names_.emplace_back(callee.name, here());
      return;
    }
    if (callee.kind == NodeKind::Member && !callee.args[1]) {
      if (!is_method_name(callee.name)) fail("'" + callee.name + "' is not a method this interpreter has");
      return;
    }
    fail("only functions, macros and methods can be called");
  }

  std::vector<NodePtr> parse_arguments(bool parameters) {
    Nest nest(*this);
    expect(TokenType::OpenParen, "'('");
    std::vector<NodePtr> args;
    bool saw_keyword = false;
    while (!is(TokenType::CloseParen)) {
      if (at_end()) fail("unexpected end of template in an argument list");
      if (is(TokenType::Power) || (is(TokenType::Multiplicative) && peek().value == "*"))
        fail("argument unpacking (* and **) is not supported");
      const size_t at = here();
      NodePtr arg = parse_expression();
      if (is(TokenType::Equals)) {
        ++pos_;
        if (arg->kind != NodeKind::Identifier) fail("expected a name before '='");
        auto kw = node(NodeKind::KeywordArgument, at);
        kw->name = arg->name;
        add(*kw, parse_expression());
        arg = std::move(kw);
        saw_keyword = true;
      } else if (saw_keyword) {
        fail(parameters ? "a parameter without default follows one with a default"
                        : "a positional argument follows a keyword argument");
      } else if (parameters && arg->kind != NodeKind::Identifier) {
        fail("expected a parameter name");
      }
      args.push_back(std::move(arg));
      if (is(TokenType::Comma)) ++pos_;
    }
    ++pos_;
    return args;
  }

  NodePtr parse_member(NodePtr object) {
    while (is(TokenType::Dot) || is(TokenType::OpenSquare)) {
      const size_t at = here();
      const bool computed = tokens_[pos_++].type == TokenType::OpenSquare;
      if (computed) {
        Nest nest(*this);
        std::vector<NodePtr> parts;
        bool slice = false;
        while (!is(TokenType::CloseSquare)) {
          if (at_end()) fail("unexpected end of template, expected ']'");
          if (is(TokenType::Colon)) {
            parts.push_back(nullptr);
            ++pos_;
            slice = true;
          } else {
            parts.push_back(parse_expression());
            if (is(TokenType::Colon)) {
              ++pos_;
              slice = true;
            }
          }
        }
        ++pos_;
        if (parts.empty()) fail("expected an index or a slice inside [ ]");
        if (slice) {
          if (parts.size() > 3) fail("a slice has at most 3 parts");
          auto n = node(NodeKind::Slice, at);
          add(*n, std::move(object));
          for (size_t i = 0; i < 3; ++i) add(*n, i < parts.size() ? std::move(parts[i]) : nullptr);
          object = std::move(n);
        } else {
          if (parts.size() != 1) fail("expected ']'");
          auto n = node(NodeKind::Member, at);
          add(*n, std::move(object));
          add(*n, std::move(parts[0]));
          object = std::move(n);
        }
      } else {
        auto n = node(NodeKind::Member, at);
        if (is(TokenType::Identifier)) {
          n->name = tokens_[pos_++].value;
          add(*n, std::move(object));
          add(*n, nullptr);
        } else if (is(TokenType::Number) && tokens_[pos_].value.find('.') == std::string::npos) {
          // x.0 is x[0]
          auto index = node(NodeKind::Literal, at);
          index->literal = Value::integer(std::stod(tokens_[pos_++].value));
          add(*n, std::move(object));
          add(*n, std::move(index));
        } else {
          fail("expected a name or an integer after '.'");
        }
        object = std::move(n);
      }
    }
    return object;
  }

  NodePtr parse_primary() {
    if (at_end()) fail("unexpected end of template in an expression");
    const Token& t = tokens_[pos_++];
    switch (t.type) {
      case TokenType::Number: {
        auto n = node(NodeKind::Literal, t.offset);
        const double v = std::strtod(t.value.c_str(), nullptr);
        n->literal = t.value.find('.') != std::string::npos ? Value::floating(v) : Value::integer(v);
        return n;
      }
      case TokenType::String: {
        auto n = node(NodeKind::Literal, t.offset);
        std::string text = t.value;
        while (is(TokenType::String)) text += tokens_[pos_++].value;
        n->literal = Value::string(std::move(text));
        return n;
      }
      case TokenType::Identifier: {
        auto n = node(NodeKind::Identifier, t.offset);
        n->name = t.value;
        return n;
      }
      case TokenType::OpenParen: {
        Nest nest(*this);
        NodePtr inner = parse_sequence(false);
        expect(TokenType::CloseParen, "')'");
        return inner;
      }
      case TokenType::OpenSquare: {
        Nest nest(*this);
        auto n = node(NodeKind::ArrayLiteral, t.offset);
        while (!is(TokenType::CloseSquare)) {
          if (at_end()) fail("unexpected end of template, expected ']'");
          add(*n, parse_expression());
          if (is(TokenType::Comma)) ++pos_;
        }
        ++pos_;
        return n;
      }
      case TokenType::OpenCurly: {
        Nest nest(*this);
        auto n = node(NodeKind::ObjectLiteral, t.offset);
        while (!is(TokenType::CloseCurly)) {
          if (at_end()) fail("unexpected end of template, expected '}'");
          add(*n, parse_expression());
          expect(TokenType::Colon, "':' between a key and its value");
          add(*n, parse_expression());
          if (is(TokenType::Comma)) ++pos_;
        }
        ++pos_;
        return n;
      }
      default:
        --pos_;
        fail(t.type == TokenType::CloseExpression || t.type == TokenType::CloseStatement
                 ? "expected an expression"
                 : "unexpected '" + t.value + "' in an expression");
    }
  }
};

}  // namespace

std::vector<NodePtr> parse(std::string_view source) { return Parser(source, tokenize(source)).run(); }

void line_and_column(std::string_view source, size_t offset, size_t& line, size_t& column) {
  line = 1;
  size_t line_start = 0;
  offset = std::min(offset, source.size());
  for (size_t i = 0; i < offset; ++i)
    if (source[i] == '\n') ++line, line_start = i + 1;
  column = 1;
  for (size_t i = line_start; i < offset; ++i)
    if ((static_cast<unsigned char>(source[i]) & 0xC0) != 0x80) ++column;
}

}  // namespace mmb::jinja
