#include "chat/jinja_interpreter.hpp"

#include "chat/jinja_builtins.hpp"
#include "chat/jinja_text.hpp"

#include <algorithm>
#include <cmath>
#include <memory>

namespace mmb::jinja {

// The variables of one scope; names not found are looked up in the parent.
struct Scope : std::enable_shared_from_this<Scope> {
  std::shared_ptr<Scope> parent;
  Dict variables;

  const Value* lookup(std::string_view name) const {
    for (const Scope* s = this; s; s = s->parent.get())
      if (const Value* v = find(s->variables, name)) return v;
    return nullptr;
  }
};

using ScopePtr = std::shared_ptr<Scope>;

struct Callable {
  enum class Type { Method, Global, Macro } type;
  std::string name;
  Value receiver;              // Method: the string or dict it belongs to
  const Node* macro = nullptr;  // Macro: its definition
  // Macro: the scope it was defined in (names resolve there). Not owned: the scope holds
  // the macro, so owning it back would be a cycle; the interpreter keeps it alive.
  Scope* closure = nullptr;
  bool takes_kwargs = false, takes_varargs = false;
};

namespace {

Value function_value(std::shared_ptr<Callable> c) {
  Value v;
  v.kind = Kind::Function;
  v.callable = std::move(c);
  return v;
}

bool mentions(const Node* n, std::string_view name) {
  if (!n) return false;
  if (n->kind == NodeKind::Identifier && n->name == name) return true;
  for (const auto* list : {&n->args, &n->body, &n->alternate})
    for (const NodePtr& c : *list)
      if (mentions(c.get(), name)) return true;
  return false;
}

enum class Flow { Normal, Break, Continue };

// How deep evaluation may recurse in C++ (each level is one node of the tree), whatever
// the limits: deep enough for any real template, far from the end of a thread's stack.
constexpr size_t kMaxEvaluationDepth = 600;

class Interpreter {
 public:
  explicit Interpreter(const ChatRenderLimits& limits) : limits_(limits) {}
  // A namespace can hold itself (ns.me = ns); emptying them all ends such cycles.
  ~Interpreter() {
    for (const auto& dict : namespaces_) dict->clear();
  }
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;

  std::string run(const std::vector<NodePtr>& program, const ScopePtr& globals) {
    std::string out;
    try {
      if (render(program, globals, out) != Flow::Normal) render_failure("break or continue outside a loop");
    } catch (RenderFailure& f) {
      f.message = "line " + std::to_string(line_) + ": " + f.message;
      throw;
    }
    return out;
  }

 private:
  const ChatRenderLimits& limits_;
  size_t steps_ = 0;
  size_t depth_ = 0;        // loops and macro calls
  size_t evaluation_ = 0;   // C++ recursion
  uint32_t line_ = 1;
  std::vector<ScopePtr> macro_scopes_;  // the scopes macros were defined in
  std::vector<std::shared_ptr<Dict>> namespaces_;

  struct Deeper {
    size_t& depth;
    Deeper(size_t& d, size_t limit, const char* what) : depth(d) {
      if (++depth > limit) {
        --depth;
        render_failure(std::string(what));
      }
    }
    ~Deeper() { --depth; }
  };

  void tick(size_t n = 1) {
    steps_ += n;
    if (steps_ > limits_.max_steps)
      render_failure("the template ran past its limit of " + std::to_string(limits_.max_steps) + " steps");
  }
  void check_size(const std::string& s) const {
    if (s.size() > limits_.max_output_bytes)
      render_failure("the template built a text past its limit of " + std::to_string(limits_.max_output_bytes) + " bytes");
  }
  // Lists are bounded too: by length, and by the text they hold (copies of one long
  // string are copies), so no list outgrows the memory a render may use.
  void check_list(const List& items) {
    if (items.size() > std::max<size_t>(1024, limits_.max_output_bytes / 64))
      render_failure("the template built a list of " + std::to_string(items.size()) + " items, past its limit");
    size_t bytes = 0;
    for (const Value& v : items) bytes += v.text.size() + sizeof(Value);
    if (bytes / 4 > limits_.max_output_bytes)
      render_failure("the template built a list past its limit of " + std::to_string(limits_.max_output_bytes) + " bytes");
    tick(items.size() / 16);
  }
  Value checked(Value v) {
    if (v.kind == Kind::String) check_size(v.text);
    else if (v.kind == Kind::Array) check_list(*v.list);
    return v;
  }

  // Statements -------------------------------------------------------------------------

  Flow render(const std::vector<NodePtr>& body, const ScopePtr& scope, std::string& out) {
    for (const NodePtr& p : body) {
      const Node& n = *p;
      tick();
      line_ = n.line;
      switch (n.kind) {
        case NodeKind::Text: out += n.name; break;
        case NodeKind::Output: {
          const Value v = eval(*n.args[0], scope);
          line_ = n.line;
          append_display(out, v);
          break;
        }
        case NodeKind::If: {
          const Flow f = render(truthy(eval(*n.args[0], scope)) ? n.body : n.alternate, scope, out);
          if (f != Flow::Normal) return f;
          break;
        }
        case NodeKind::For: render_for(n, scope, out); break;
        case NodeKind::Set: execute_set(n, scope); break;
        case NodeKind::Macro: define_macro(n, scope); break;
        case NodeKind::Break: return Flow::Break;
        case NodeKind::Continue: return Flow::Continue;
        default: append_display(out, eval(n, scope)); break;
      }
      check_size(out);
    }
    return Flow::Normal;
  }

  void bind(const Node& target, const Value& item, Scope& scope) {
    if (target.kind == NodeKind::Identifier) {
      assign(scope.variables, target.name, item);
      return;
    }
    if (item.kind != Kind::Array) render_failure(std::string("Cannot unpack non-iterable type: ") + type_name(item.kind));
    if (item.list->size() != target.args.size())
      render_failure(std::string("Too ") + (target.args.size() > item.list->size() ? "few" : "many") + " items to unpack");
    for (size_t i = 0; i < target.args.size(); ++i) assign(scope.variables, target.args[i]->name, (*item.list)[i]);
  }

  [[gnu::noinline]] void render_for(const Node& n, const ScopePtr& outer, std::string& out) {
    Deeper deeper(depth_, limits_.max_depth, "the template nests loops and macro calls past its depth limit");
    auto scope = std::make_shared<Scope>();
    scope->parent = outer;
    Value iterable = eval(*n.args[1], scope);
    if (iterable.kind == Kind::Object) {
      List keys;
      for (const auto& e : *iterable.dict) keys.push_back(Value::string(e.first));
      iterable = Value::array(std::move(keys));
    }
    if (iterable.kind != Kind::Array)
      render_failure(std::string("Expected iterable or object type in for loop: got ") + type_name(iterable.kind));
    const Node& target = *n.args[0];
    const Node* condition = n.args[2].get();
    List selected;
    const List* items = iterable.list.get();
    if (condition || target.kind != NodeKind::Identifier) {
      for (const Value& item : *iterable.list) {
        tick();
        if (target.kind == NodeKind::TupleLiteral) {
          if (item.kind != Kind::Array || item.tuple)
            render_failure(std::string("Cannot unpack non-iterable type: ") + (item.tuple ? "TupleValue" : type_name(item.kind)));
          if (item.list->size() != target.args.size())
            render_failure(std::string("Too ") + (target.args.size() > item.list->size() ? "few" : "many") + " items to unpack");
        }
        if (condition) {
          auto test_scope = std::make_shared<Scope>();
          test_scope->parent = scope;
          bind(target, item, *test_scope);
          if (!truthy(eval(*condition, test_scope))) continue;
        }
        selected.push_back(item);
      }
      items = &selected;
    }
    const List keep_alive = *items;  // the body may reassign what the list came from
    const size_t length = keep_alive.size();
    bool iterated = false;
    for (size_t i = 0; i < length; ++i) {
      tick();
      Dict loop;
      loop.reserve(9);
      loop.emplace_back("index", Value::integer(double(i + 1)));
      loop.emplace_back("index0", Value::integer(double(i)));
      loop.emplace_back("revindex", Value::integer(double(length - i)));
      loop.emplace_back("revindex0", Value::integer(double(length - i - 1)));
      loop.emplace_back("first", Value::of(i == 0));
      loop.emplace_back("last", Value::of(i + 1 == length));
      loop.emplace_back("length", Value::integer(double(length)));
      loop.emplace_back("previtem", i > 0 ? keep_alive[i - 1] : Value::undefined());
      loop.emplace_back("nextitem", i + 1 < length ? keep_alive[i + 1] : Value::undefined());
      assign(scope->variables, "loop", Value::object(std::move(loop)));
      bind(target, keep_alive[i], *scope);
      const Flow f = render(n.body, scope, out);
      if (f == Flow::Break) break;
      if (f == Flow::Continue) continue;
      iterated = true;
    }
    if (!iterated && render(n.alternate, scope, out) != Flow::Normal) render_failure("break or continue outside a loop");
  }

  [[gnu::noinline]] void execute_set(const Node& n, const ScopePtr& scope) {
    Value value;
    if (n.args[1]) {
      value = eval(*n.args[1], scope);
    } else {
      std::string text;
      if (render(n.body, scope, text) != Flow::Normal) render_failure("break or continue outside a loop");
      value = Value::string(std::move(text));
    }
    const Node& target = *n.args[0];
    if (target.kind == NodeKind::Identifier) {
      assign(scope->variables, target.name, std::move(value));
    } else if (target.kind == NodeKind::TupleLiteral) {
      if (value.kind != Kind::Array) render_failure(std::string("Cannot unpack non-iterable type in set: ") + type_name(value.kind));
      if (value.list->size() != target.args.size())
        render_failure(std::string("Too ") + (target.args.size() > value.list->size() ? "few" : "many") + " items to unpack in set");
      for (size_t i = 0; i < target.args.size(); ++i) {
        if (target.args[i]->kind != NodeKind::Identifier) render_failure("Cannot unpack to non-identifier in set");
        assign(scope->variables, target.args[i]->name, (*value.list)[i]);
      }
    } else {
      const Value object = eval(*target.args[0], scope);
      if (object.kind != Kind::Namespace) render_failure("cannot assign attribute on non-namespace object");
      assign(*object.dict, target.name, std::move(value));
    }
  }

  void define_macro(const Node& n, const ScopePtr& scope) {
    auto c = std::make_shared<Callable>();
    c->type = Callable::Type::Macro;
    c->name = n.name;
    c->macro = &n;
    c->closure = scope.get();
    macro_scopes_.push_back(scope);
    for (const NodePtr& b : n.body) {
      c->takes_kwargs = c->takes_kwargs || mentions(b.get(), "kwargs");
      c->takes_varargs = c->takes_varargs || mentions(b.get(), "varargs");
    }
    assign(scope->variables, n.name, function_value(std::move(c)));
  }

  // Expressions ------------------------------------------------------------------------

  Arguments evaluate_arguments(const Node& n, size_t first, const ScopePtr& scope) {
    Arguments a;
    a.max_text_bytes = limits_.max_output_bytes;
    for (size_t i = first; i < n.args.size(); ++i)
      if (n.args[i]->kind != NodeKind::KeywordArgument) a.positional.push_back(eval(*n.args[i], scope));
    for (size_t i = first; i < n.args.size(); ++i) {
      const Node& arg = *n.args[i];
      if (arg.kind != NodeKind::KeywordArgument) continue;
      if (find(a.keywords, arg.name)) render_failure("Got multiple values for keyword argument '" + arg.name + "'");
      a.keywords.emplace_back(arg.name, eval(*arg.args[0], scope));
    }
    return a;
  }

  // Every level of a template's nesting passes through here, so its frame is kept
  // small: the cases that need many locals live in functions of their own.
  Value eval(const Node& n, const ScopePtr& scope) {
    tick();
    Deeper deeper(evaluation_, kMaxEvaluationDepth, "the template nests expressions and calls too deeply");
    switch (n.kind) {
      case NodeKind::Literal: return n.literal;
      case NodeKind::Identifier: {
        const Value* v = scope->lookup(n.name);
        return v ? *v : Value::undefined();
      }
      case NodeKind::Member: return eval_member(n, scope);
      case NodeKind::Slice: return eval_slice(n, scope);
      case NodeKind::Call: return eval_call(n, scope);
      case NodeKind::Filter: return eval_filter(n, scope);
      case NodeKind::Test: return eval_test(n, scope);
      case NodeKind::Unary: return eval_unary(n, scope);
      case NodeKind::Binary: return eval_binary(n, scope);
      case NodeKind::Ternary: return truthy(eval(*n.args[0], scope)) ? eval(*n.args[1], scope) : eval(*n.args[2], scope);
      case NodeKind::Select: return truthy(eval(*n.args[1], scope)) ? eval(*n.args[0], scope) : Value::undefined();
      case NodeKind::ArrayLiteral:
      case NodeKind::TupleLiteral: return eval_list(n, scope);
      case NodeKind::ObjectLiteral: return eval_dict(n, scope);
      default: render_failure("this construct is not an expression");
    }
  }

  [[gnu::noinline]] Value eval_slice(const Node& n, const ScopePtr& scope) {
    const Value object = eval(*n.args[0], scope);
    const auto part = [&](size_t i) { return n.args[i] ? eval(*n.args[i], scope) : Value::undefined(); };
    const Value start = part(1), stop = part(2), step = part(3);
    tick(object.kind == Kind::Array ? object.list->size() / 16 : object.text.size() / 64);
    return slice_value(object, start, stop, step);
  }

  [[gnu::noinline]] Value eval_filter(const Node& n, const ScopePtr& scope) {
    const Value operand = eval(*n.args[0], scope);
    const Arguments a = evaluate_arguments(n, 1, scope);
    bool literals = true;
    for (size_t i = 1; i < n.args.size(); ++i)
      literals = literals && n.args[i]->kind == NodeKind::Literal && n.args[i]->literal.kind == Kind::String;
    line_ = n.line;
    tick(operand.kind == Kind::Array ? operand.list->size() : operand.text.size() / 64);
    return checked(apply_filter(n.name, operand, n.flag, a, literals));
  }

  [[gnu::noinline]] Value eval_test(const Node& n, const ScopePtr& scope) {
    const Value operand = eval(*n.args[0], scope);
    line_ = n.line;
    return Value::of(apply_test(n.name, operand) != n.flag);
  }

  [[gnu::noinline]] Value eval_unary(const Node& n, const ScopePtr& scope) {
    const Value v = eval(*n.args[0], scope);
    if (n.op == Op::Not) return Value::of(!truthy(v));
    if (!v.is_numeric_like()) {
      line_ = n.line;
      render_failure(std::string("Unknown operator \"") + (n.op == Op::Negate ? "-" : "+") + "\" for " + type_name(v.kind));
    }
    const double r = (n.op == Op::Negate ? -1 : 1) * v.numeric();
    return v.kind == Kind::Float ? Value::floating(r) : Value::integer(r);
  }

  [[gnu::noinline]] Value eval_list(const Node& n, const ScopePtr& scope) {
    List items;
    for (const NodePtr& a : n.args) items.push_back(eval(*a, scope));
    check_list(items);
    Value v = Value::array(std::move(items));
    v.tuple = n.kind == NodeKind::TupleLiteral;
    return v;
  }

  [[gnu::noinline]] Value eval_dict(const Node& n, const ScopePtr& scope) {
    Dict entries;
    for (size_t i = 0; i + 1 < n.args.size(); i += 2) {
      const Value key = eval(*n.args[i], scope);
      if (key.kind != Kind::String) {
        line_ = n.line;
        render_failure(std::string("Object keys must be strings: got ") + type_name(key.kind));
      }
      assign(entries, key.text, eval(*n.args[i + 1], scope));
    }
    return Value::object(std::move(entries));
  }

  [[gnu::noinline]] Value eval_member(const Node& n, const ScopePtr& scope) {
    const Value object = eval(*n.args[0], scope);
    const Value property = n.args[1] ? eval(*n.args[1], scope) : Value::string(n.name);
    line_ = n.line;
    if (object.is_container()) {
      if (property.kind != Kind::String)
        render_failure(std::string("Cannot access property with non-string: got ") + type_name(property.kind));
      if (const Value* v = find(*object.dict, property.text)) return *v;
      if (object.kind == Kind::Object) return method_or_attribute(object, property.text);
      return Value::undefined();
    }
    if (object.kind == Kind::Array || object.kind == Kind::String) {
      if (property.kind == Kind::Integer) {
        double index = property.number;
        if (object.kind == Kind::Array) {
          const double size = double(object.list->size());
          if (index < 0) index += size;
          return index >= 0 && index < size ? (*object.list)[size_t(index)] : Value::undefined();
        }
        const auto starts = code_point_starts(object.text);
        const double size = double(starts.size());
        if (index < 0) index += size;
        if (!(index >= 0 && index < size)) return Value::undefined();
        const size_t k = size_t(index);
        return Value::string(object.text.substr(starts[k], (k + 1 < starts.size() ? starts[k + 1] : object.text.size()) - starts[k]));
      }
      if (property.kind == Kind::String) return method_or_attribute(object, property.text);
      render_failure(std::string("Cannot access property with non-string/non-number: got ") + type_name(property.kind));
    }
    if (property.kind != Kind::String)
      render_failure(std::string("Cannot access property with non-string: got ") + type_name(property.kind));
    return Value::undefined();
  }

  Value method_or_attribute(const Value& object, const std::string& name) {
    bool is_method = false;
    Value v = builtin_attribute(object, name, &is_method);
    if (!is_method) return v;
    auto c = std::make_shared<Callable>();
    c->type = Callable::Type::Method;
    c->name = name;
    c->receiver = object;
    return function_value(std::move(c));
  }

  [[gnu::noinline]] Value eval_call(const Node& n, const ScopePtr& scope) {
    const Node& callee_node = *n.args[0];
    // s.strip(): call the method directly, without making a bound function first.
    if (callee_node.kind == NodeKind::Member && !callee_node.args[1]) {
      Arguments a = evaluate_arguments(n, 1, scope);
      const Value receiver = eval(*callee_node.args[0], scope);
      line_ = n.line;
      if (receiver.is_container()) {
        if (const Value* own = find(*receiver.dict, callee_node.name)) return call(*own, a);
        if (receiver.kind == Kind::Namespace) call(Value::undefined(), a);
      }
      bool is_method = false;
      builtin_attribute(receiver, callee_node.name, &is_method);
      if (!is_method) call(Value::undefined(), a);
      tick(receiver.text.size() / 64);
      return checked(call_method(receiver, callee_node.name, a));
    }
    Arguments a = evaluate_arguments(n, 1, scope);
    const Value callee = eval(callee_node, scope);
    line_ = n.line;
    return call(callee, a);
  }

  Value call(const Value& callee, Arguments& a) {
    if (callee.kind != Kind::Function)
      render_failure(std::string("Cannot call something that is not a function: got ") + type_name(callee.kind));
    const Callable& c = *callee.callable;
    switch (c.type) {
      case Callable::Type::Method: return checked(call_method(c.receiver, c.name, a));
      case Callable::Type::Global: return call_global(c.name, a);
      case Callable::Type::Macro: return call_macro(c, a);
    }
    return Value::undefined();
  }

  [[gnu::noinline]] Value call_global(const std::string& name, Arguments& a) {
    if (name == "raise_exception") {
      const Value message = a.positional.empty() ? Value::undefined() : a.positional[0];
      render_failure(message.kind == Kind::Undefined ? std::string() : raw_string(message));
    }
    if (name == "strftime_now") {
      if (a.positional.empty() || a.positional[0].kind != Kind::String) render_failure("strftime_now() needs a format string");
      return Value::string(strftime_now(a.positional[0].text));
    }
    if (name == "range") {
      for (const Value& v : a.positional)
        if (!v.is_number()) render_failure("range() takes numbers");
      if (a.positional.empty() || a.positional.size() > 3) render_failure("range() takes 1 to 3 numbers");
      double start = 0, stop, step = 1;
      if (a.positional.size() == 1) {
        stop = a.positional[0].number;
      } else {
        start = a.positional[0].number;
        stop = a.positional[1].number;
        if (a.positional.size() == 3) step = a.positional[2].number;
      }
      if (step == 0) render_failure("range() step must not be zero");
      const double count = std::ceil((stop - start) / step);
      // Charged before the list exists, so range(10**9) stops at once.
      if (count > 0) {
        if (!(count <= double(limits_.max_steps))) tick(limits_.max_steps + 1);
        tick(size_t(count));
        if (count > double(std::max<size_t>(1024, limits_.max_output_bytes / 64)))
          render_failure("range() of " + js_number(count) + " numbers is past the template's limit");
      }
      List out;
      if (step > 0)
        for (double i = start; i < stop; i += step) out.push_back(i == std::floor(i) ? Value::integer(i) : Value::floating(i));
      else
        for (double i = start; i > stop; i += step) out.push_back(i == std::floor(i) ? Value::integer(i) : Value::floating(i));
      return Value::array(std::move(out));
    }
    // namespace(mapping or pairs, key=value...)
    if (a.positional.size() > 1)
      render_failure("namespace expected at most 1 argument, got " + std::to_string(a.positional.size()));
    Dict entries;
    if (a.positional.size() == 1) {
      const Value& source = a.positional[0];
      if (source.kind == Kind::Object) {
        entries = *source.dict;
      } else if (source.kind == Kind::Array) {
        for (const Value& pair : *source.list) {
          if (pair.kind != Kind::Array || pair.list->size() != 2)
            render_failure("namespace expected an object or an iterable of [key, value] pairs");
          if ((*pair.list)[0].kind != Kind::String) render_failure("namespace keys must be strings");
          assign(entries, (*pair.list)[0].text, (*pair.list)[1]);
        }
      } else {
        render_failure(std::string("'") + type_name(source.kind) + "' object is not iterable");
      }
    }
    for (auto& [k, v] : a.keywords) assign(entries, k, v);
    Value ns = Value::object(std::move(entries), Kind::Namespace);
    namespaces_.push_back(ns.dict);
    return ns;
  }

  [[gnu::noinline]] Value call_macro(const Callable& c, Arguments& a) {
    Deeper deeper(depth_, limits_.max_depth, "the template nests loops and macro calls past its depth limit");
    const Node& m = *c.macro;
    auto scope = std::make_shared<Scope>();
    scope->parent = c.closure->shared_from_this();
    std::vector<const Node*> pending;
    for (size_t i = 0; i < m.args.size(); ++i) {
      const Node& p = *m.args[i];
      const bool has_default = p.kind == NodeKind::KeywordArgument;
      Value v;
      bool given = false;
      if (i < a.positional.size()) {
        v = a.positional[i];
        given = true;
      } else {
        for (auto it = a.keywords.begin(); it != a.keywords.end(); ++it)
          if (it->first == p.name) {
            v = it->second;
            a.keywords.erase(it);
            given = true;
            break;
          }
      }
      if (!given && has_default) pending.push_back(&p);
      assign(scope->variables, p.name, std::move(v));
    }
    if (c.takes_kwargs) assign(scope->variables, "kwargs", Value::object(a.keywords));
    else if (!a.keywords.empty())
      render_failure("macro '" + c.name + "' takes no keyword argument '" + a.keywords.front().first + "'");
    if (c.takes_varargs) {
      List rest;
      for (size_t i = m.args.size(); i < a.positional.size(); ++i) rest.push_back(a.positional[i]);
      assign(scope->variables, "varargs", Value::array(std::move(rest)));
    } else if (a.positional.size() > m.args.size()) {
      render_failure("macro '" + c.name + "' takes not more than " + std::to_string(m.args.size()) + " argument(s)");
    }
    for (const Node* p : pending) assign(scope->variables, p->name, eval(*p->args[0], scope));
    std::string out;
    if (render(m.body, scope, out) != Flow::Normal) render_failure("break or continue outside a loop");
    return Value::string(std::move(out));
  }

  [[gnu::noinline]] Value eval_binary(const Node& n, const ScopePtr& scope) {
    const Value left = eval(*n.args[0], scope);
    if (n.op == Op::And) return truthy(left) ? eval(*n.args[1], scope) : left;
    if (n.op == Op::Or) return truthy(left) ? left : eval(*n.args[1], scope);
    const Value right = eval(*n.args[1], scope);
    line_ = n.line;
    if (n.op == Op::Equal) return Value::of(loose_equals(left, right));
    if (n.op == Op::NotEqual) return Value::of(!loose_equals(left, right));
    const char* op_text = op_name(n.op);
    if (left.is_number() && right.is_number() && n.op != Op::Concat && n.op != Op::Power) {
      const double a = left.number, b = right.number;
      const bool is_float = left.kind == Kind::Float || right.kind == Kind::Float;
      const auto number = [&](double r) { return is_float ? Value::floating(r) : Value::integer(r); };
      switch (n.op) {
        case Op::Add: return number(a + b);
        case Op::Subtract: return number(a - b);
        case Op::Multiply: return number(a * b);
        case Op::Divide: return Value::floating(a / b);
        case Op::FloorDivide: return number(std::floor(a / b));
        case Op::Modulo: return number(std::fmod(a, b));
        case Op::Less: return Value::of(a < b);
        case Op::Greater: return Value::of(a > b);
        case Op::LessEqual: return Value::of(a <= b);
        case Op::GreaterEqual: return Value::of(a >= b);
        default: break;
      }
    } else if (left.kind == Kind::Undefined || right.kind == Kind::Undefined) {
      if (right.kind == Kind::Undefined && (n.op == Op::In || n.op == Op::NotIn)) return Value::of(n.op == Op::NotIn);
      if (n.op == Op::Concat && left.kind != Kind::Null && right.kind != Kind::Null) {
        std::string s = left.kind == Kind::Undefined ? std::string() : raw_string(left);
        s += right.kind == Kind::Undefined ? std::string() : raw_string(right);
        return checked(Value::string(std::move(s)));
      }
      render_failure(std::string("Cannot perform operation ") + op_text + " on undefined values");
    } else if (left.kind == Kind::Null || right.kind == Kind::Null) {
      render_failure("Cannot perform operation on null values");
    } else if (n.op == Op::Concat) {
      return concat(left, right);
    } else if (n.op == Op::Power && left.is_numeric_like() && right.is_numeric_like()) {
      const double a = left.numeric(), b = right.numeric();
      if (a == 0 && b < 0) render_failure("0.0 cannot be raised to a negative power");
      const double r = std::pow(a, b);
      if (!std::isfinite(r)) render_failure("Exponentiation result is not a finite real number");
      return left.kind == Kind::Float || right.kind == Kind::Float || b < 0 ? Value::floating(r) : Value::integer(r);
    } else if (left.kind == Kind::Array && right.kind == Kind::Array) {
      if (n.op == Op::Add) {
        tick(left.list->size() + right.list->size());
        if (left.list->size() + right.list->size() > std::max<size_t>(1024, limits_.max_output_bytes / 64))
          render_failure("the template built a list past its limit");
        List joined = *left.list;
        joined.insert(joined.end(), right.list->begin(), right.list->end());
        return checked(Value::array(std::move(joined)));
      }
    } else if (right.kind == Kind::Array) {
      if (n.op == Op::In || n.op == Op::NotIn) {
        tick(right.list->size() / 16);
        bool member = false;
        for (const Value& x : *right.list) member = member || strict_equals(x, left);
        return Value::of(member == (n.op == Op::In));
      }
    }
    if ((left.kind == Kind::String || right.kind == Kind::String) && n.op == Op::Add) return concat(left, right);
    if (left.kind == Kind::String && right.kind == Kind::String && (n.op == Op::In || n.op == Op::NotIn))
      return Value::of((right.text.find(left.text) != std::string::npos) == (n.op == Op::In));
    if (left.kind == Kind::String && right.kind == Kind::Object && (n.op == Op::In || n.op == Op::NotIn))
      return Value::of((find(*right.dict, left.text) != nullptr) == (n.op == Op::In));
    render_failure(std::string("Unknown operator \"") + op_text + "\" between " + type_name(left.kind) + " and " +
                   type_name(right.kind));
  }

  [[gnu::noinline]] Value concat(const Value& left, const Value& right) {
    std::string s = raw_string(left);
    s += raw_string(right);
    tick(s.size() / 256);
    return checked(Value::string(std::move(s)));
  }

  static const char* op_name(Op op) {
    switch (op) {
      case Op::Add: return "+";
      case Op::Subtract: return "-";
      case Op::Concat: return "~";
      case Op::Multiply: return "*";
      case Op::Divide: return "/";
      case Op::FloorDivide: return "//";
      case Op::Modulo: return "%";
      case Op::Power: return "**";
      case Op::Less: return "<";
      case Op::Greater: return ">";
      case Op::LessEqual: return "<=";
      case Op::GreaterEqual: return ">=";
      case Op::In: return "in";
      case Op::NotIn: return "not in";
      default: return "?";
    }
  }
};

Value global_function(const char* name) {
  auto c = std::make_shared<Callable>();
  c->type = Callable::Type::Global;
  c->name = name;
  return function_value(std::move(c));
}

}  // namespace

std::string render_program(const std::vector<NodePtr>& program, const std::vector<std::pair<std::string, Value>>& variables,
                           const ChatRenderLimits& limits) {
  auto globals = std::make_shared<Scope>();
  Dict& g = globals->variables;
  g.reserve(16 + variables.size());
  g.emplace_back("namespace", global_function("namespace"));
  g.emplace_back("false", Value::of(false));
  g.emplace_back("true", Value::of(true));
  g.emplace_back("none", Value::null());
  g.emplace_back("raise_exception", global_function("raise_exception"));
  g.emplace_back("range", global_function("range"));
  g.emplace_back("strftime_now", global_function("strftime_now"));
  g.emplace_back("True", Value::of(true));
  g.emplace_back("False", Value::of(false));
  g.emplace_back("None", Value::null());
  // The caller's variables, except names already taken (the reference refuses to
  // redeclare them).
  for (const auto& [name, value] : variables)
    if (!find(g, name)) g.emplace_back(name, value);
  Interpreter interpreter(limits);
  return interpreter.run(program, globals);
}

}  // namespace mmb::jinja
