// The values a chat template computes with, typed as the reference engine types them
// (integers and floats are both JavaScript numbers, told apart only by how they print),
// and the conversions every part of the interpreter shares: truth, printing, JSON,
// equality.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mmb::jinja {

// A failure while rendering (raise_exception, a type error, a limit). The interpreter
// adds the line and turns it into mmb::Error(MMB_ERR_TEMPLATE).
struct RenderFailure {
  std::string message;
};
[[noreturn]] void render_failure(std::string message);

struct Value;
struct Callable;
using List = std::vector<Value>;
// Insertion-ordered, like a JavaScript Map; chat messages have a handful of keys.
using Dict = std::vector<std::pair<std::string, Value>>;

enum class Kind : unsigned char { Undefined, Null, Boolean, Integer, Float, String, Array, Object, Namespace, Function };

struct Value {
  Kind kind = Kind::Undefined;
  bool boolean = false;
  bool tuple = false;  // an Array written (a, b): the reference cannot print it or use it as a list everywhere
  double number = 0;
  std::string text;
  std::shared_ptr<List> list;        // Array
  std::shared_ptr<Dict> dict;        // Object, Namespace (shared: a namespace is mutable)
  std::shared_ptr<Callable> callable;

  static Value undefined() { return {}; }
  static Value null() { return make(Kind::Null); }
  static Value of(bool b) {
    Value v = make(Kind::Boolean);
    v.boolean = b;
    return v;
  }
  static Value integer(double n) {
    Value v = make(Kind::Integer);
    v.number = n;
    return v;
  }
  static Value floating(double n) {
    Value v = make(Kind::Float);
    v.number = n;
    return v;
  }
  static Value string(std::string s) {
    Value v = make(Kind::String);
    v.text = std::move(s);
    return v;
  }
  static Value array(List items) {
    Value v = make(Kind::Array);
    v.list = std::make_shared<List>(std::move(items));
    return v;
  }
  static Value object(Dict entries, Kind kind = Kind::Object) {
    Value v = make(kind);
    v.dict = std::make_shared<Dict>(std::move(entries));
    return v;
  }

  bool is_number() const { return kind == Kind::Integer || kind == Kind::Float; }
  bool is_numeric_like() const { return is_number() || kind == Kind::Boolean; }
  double numeric() const { return kind == Kind::Boolean ? double(boolean) : number; }
  bool is_container() const { return kind == Kind::Object || kind == Kind::Namespace; }

 private:
  static Value make(Kind k) {
    Value v;
    v.kind = k;
    return v;
  }
};

// The entry of a dict, or nullptr.
const Value* find(const Dict& dict, std::string_view key);
void assign(Dict& dict, std::string_view key, Value value);

// The reference engine's class name of a value, for error messages ("StringValue").
const char* type_name(Kind kind);

// Python truth: empty strings, lists and dicts, 0, none and undefined are false.
bool truthy(const Value& v);

// What {{ v }} prints (the value's toString in the reference engine): floats keep a
// ".0", lists and dicts print as JSON, none and undefined print nothing.
std::string display(const Value& v);
void append_display(std::string& out, const Value& v);
// The string of the underlying JavaScript value (`value.toString()`), used by `~`, `+`
// and join: floats print as plain numbers, none as "null", a dict as "[object Map]".
std::string raw_string(const Value& v);

struct JsonOptions {
  int indent = 0;  // 0: one line
  bool ensure_ascii = false;
  bool sort_keys = false;
  bool custom_separators = false;
  std::string item_separator, key_separator;
  bool undefined_as_null = true;
};
std::string to_json(const Value& v, const JsonOptions& options);

// `==` (JavaScript's loose equality of the underlying values: "1" == 1, none == undefined,
// lists and dicts only equal to themselves).
bool loose_equals(const Value& a, const Value& b);
// `===`, as used by `in` over a list and by unique.
bool strict_equals(const Value& a, const Value& b);

}  // namespace mmb::jinja
