#include "chat/jinja_value.hpp"

#include "chat/jinja_text.hpp"

#include <algorithm>
#include <cmath>

namespace mmb::jinja {

void render_failure(std::string message) { throw RenderFailure{std::move(message)}; }

const Value* find(const Dict& dict, std::string_view key) {
  for (const auto& [k, v] : dict)
    if (k == key) return &v;
  return nullptr;
}

void assign(Dict& dict, std::string_view key, Value value) {
  for (auto& [k, v] : dict)
    if (k == key) {
      v = std::move(value);
      return;
    }
  dict.emplace_back(std::string(key), std::move(value));
}

const char* type_name(Kind kind) {
  switch (kind) {
    case Kind::Undefined: return "UndefinedValue";
    case Kind::Null: return "NullValue";
    case Kind::Boolean: return "BooleanValue";
    case Kind::Integer: return "IntegerValue";
    case Kind::Float: return "FloatValue";
    case Kind::String: return "StringValue";
    case Kind::Array: return "ArrayValue";
    case Kind::Object: return "ObjectValue";
    case Kind::Namespace: return "NamespaceValue";
    case Kind::Function: return "FunctionValue";
  }
  return "?";
}

bool truthy(const Value& v) {
  switch (v.kind) {
    case Kind::Undefined:
    case Kind::Null: return false;
    case Kind::Boolean: return v.boolean;
    case Kind::Integer:
    case Kind::Float: return v.number != 0 && !std::isnan(v.number);
    case Kind::String: return !v.text.empty();
    case Kind::Array: return !v.list->empty();
    case Kind::Object: return !v.dict->empty();
    case Kind::Namespace:
    case Kind::Function: return true;
  }
  return false;
}

namespace {

std::string float_display(double x) {
  if (x == 0 && std::signbit(x)) return "-0.0";
  // toFixed(1) of a whole number; at 1e21 and beyond toFixed prints like toString.
  if (std::isfinite(x) && x == std::floor(x) && std::fabs(x) < 1e21) return js_number(x) + ".0";
  return js_number(x);
}

}  // namespace

void append_display(std::string& out, const Value& v) {
  switch (v.kind) {
    case Kind::Undefined:
    case Kind::Null: return;
    case Kind::String: out += v.text; return;
    case Kind::Float: out += float_display(v.number); return;
    default: out += display(v);
  }
}

std::string display(const Value& v) {
  switch (v.kind) {
    case Kind::Undefined:
    case Kind::Null: return "";
    case Kind::Boolean: return v.boolean ? "true" : "false";
    case Kind::Integer: return js_number(v.number);
    case Kind::Float: return float_display(v.number);
    case Kind::String: return v.text;
    case Kind::Array:
    case Kind::Object:
    case Kind::Namespace: {
      JsonOptions options;
      options.undefined_as_null = false;
      return to_json(v, options);
    }
    case Kind::Function: render_failure("cannot print a function");
  }
  return "";
}

namespace {

// toString of an element inside a list that JavaScript joins: the element's own
// toString, so none prints "null" there.
std::string element_string(const Value& v) {
  switch (v.kind) {
    case Kind::Undefined: return "undefined";
    case Kind::Null: return "null";
    default: return display(v);
  }
}

}  // namespace

std::string raw_string(const Value& v) {
  switch (v.kind) {
    case Kind::Undefined: return "undefined";
    case Kind::Null: return "null";
    case Kind::Boolean: return v.boolean ? "true" : "false";
    case Kind::Integer:
    case Kind::Float: return js_number(v.number);
    case Kind::String: return v.text;
    case Kind::Array: {
      std::string out;
      for (size_t i = 0; i < v.list->size(); ++i) {
        if (i) out += ',';
        out += element_string((*v.list)[i]);
      }
      return out;
    }
    case Kind::Object:
    case Kind::Namespace: return "[object Map]";
    case Kind::Function: render_failure("cannot convert a function to a string");
  }
  return "";
}

namespace {

void append_ascii_safe(std::string& out, std::string_view json) {
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0, n = 0; i < json.size(); i += n) {
    const char32_t c = decode_utf8(json, i, n);
    if (c < 0x7F) {
      out += char(c);
      continue;
    }
    // \uXXXX per UTF-16 code unit, as JavaScript escapes them.
    auto unit = [&](unsigned u) {
      out += "\\u";
      for (int s = 12; s >= 0; s -= 4) out += hex[(u >> s) & 15];
    };
    if (c >= 0x10000) {
      unit(0xD800 + ((c - 0x10000) >> 10));
      unit(0xDC00 + ((c - 0x10000) & 0x3FF));
    } else {
      unit(unsigned(c));
    }
  }
}

void append_json(std::string& out, const Value& v, const JsonOptions& o, int depth) {
  if (depth > 200) render_failure("Maximum call stack size exceeded (a value contains itself)");
  switch (v.kind) {
    case Kind::Undefined: out += o.undefined_as_null ? "null" : "undefined"; return;
    case Kind::Null: out += "null"; return;
    case Kind::Boolean: out += v.boolean ? "true" : "false"; return;
    case Kind::Integer:
    case Kind::Float: out += std::isfinite(v.number) ? js_number(v.number) : "null"; return;
    case Kind::String: {
      if (!o.ensure_ascii) {
        append_json_string(out, v.text);
        return;
      }
      std::string quoted;
      append_json_string(quoted, v.text);
      append_ascii_safe(out, quoted);
      return;
    }
    case Kind::Function: render_failure("Cannot convert to JSON: FunctionValue");
    default: break;
  }
  if (v.tuple) render_failure("Cannot convert to JSON: TupleValue");
  const std::string item_sep = o.custom_separators ? o.item_separator : o.indent ? "," : ", ";
  const std::string key_sep = o.custom_separators ? o.key_separator : ": ";
  const std::string unit(size_t(o.indent), ' ');
  std::string base = "\n";
  for (int i = 0; i < depth; ++i) base += unit;
  const std::string child = base + unit;
  if (v.kind == Kind::Array) {
    const List& items = *v.list;
    out += '[';
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) out += item_sep;
      if (o.indent) out += child;
      append_json(out, items[i], o, depth + 1);
    }
    if (o.indent && !items.empty()) out += base;
    out += ']';
    return;
  }
  std::vector<const std::pair<std::string, Value>*> entries;
  for (const auto& e : *v.dict) entries.push_back(&e);
  if (o.sort_keys)
    std::stable_sort(entries.begin(), entries.end(), [](auto* a, auto* b) { return a->first < b->first; });
  out += '{';
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i) out += item_sep;
    if (o.indent) out += child;
    std::string key;
    append_json_string(key, entries[i]->first);
    if (o.ensure_ascii)
      append_ascii_safe(out, key);
    else
      out += key;
    out += key_sep;
    append_json(out, entries[i]->second, o, depth + 1);
  }
  if (o.indent && !entries.empty()) out += base;
  out += '}';
}

}  // namespace

std::string to_json(const Value& v, const JsonOptions& options) {
  std::string out;
  append_json(out, v, options, 0);
  return out;
}

bool strict_equals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) return a.number == b.number;
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Kind::Undefined:
    case Kind::Null: return true;
    case Kind::Boolean: return a.boolean == b.boolean;
    case Kind::String: return a.text == b.text;
    case Kind::Array: return a.list == b.list;
    case Kind::Object:
    case Kind::Namespace: return a.dict == b.dict;
    case Kind::Function: return a.callable == b.callable;
    default: return false;
  }
}

bool loose_equals(const Value& a, const Value& b) {
  const auto nullish = [](const Value& v) { return v.kind == Kind::Undefined || v.kind == Kind::Null; };
  if (nullish(a) || nullish(b)) return nullish(a) && nullish(b);
  const auto primitive = [](const Value& v) { return v.is_numeric_like() || v.kind == Kind::String; };
  if (primitive(a) && primitive(b)) {
    if (a.kind == Kind::String && b.kind == Kind::String) return a.text == b.text;
    if (a.kind == Kind::Boolean && b.kind == Kind::Boolean) return a.boolean == b.boolean;
    const double x = a.kind == Kind::String ? js_string_to_number(a.text) : a.numeric();
    const double y = b.kind == Kind::String ? js_string_to_number(b.text) : b.numeric();
    return x == y;
  }
  if (primitive(a) != primitive(b)) {
    // A list against a string or number compares its joined text, as JavaScript does.
    const Value& object = primitive(a) ? b : a;
    const Value& other = primitive(a) ? a : b;
    if (object.kind != Kind::Array) return false;
    const Value joined = Value::string(raw_string(object));
    return loose_equals(joined, other);
  }
  return strict_equals(a, b);
}

}  // namespace mmb::jinja
