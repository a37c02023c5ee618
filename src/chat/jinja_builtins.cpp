#include "chat/jinja_builtins.hpp"

#include "chat/jinja_text.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <ctime>

namespace mmb::jinja {
namespace {

constexpr std::array<std::string_view, 33> kFilters{
    "safe", "tojson", "list", "first", "last", "length", "count", "reverse", "sort", "join", "string",
    "unique", "trim", "indent", "int", "float", "abs", "items", "keys", "values", "dictsort", "upper",
    "lower", "title", "capitalize", "bool", "default", "d", "selectattr", "rejectattr", "map", "replace", "get"};
constexpr std::array<std::string_view, 19> kTests{
    "boolean", "callable", "odd", "even", "false", "true", "none", "string", "number", "integer", "iterable",
    "mapping", "sequence", "lower", "upper", "defined", "undefined", "equalto", "eq"};
constexpr std::array<std::string_view, 16> kMethods{
    "upper", "lower", "strip", "title", "capitalize", "rstrip", "lstrip", "startswith", "endswith", "split",
    "replace", "get", "items", "keys", "values", "dictsort"};

template <size_t N>
bool contains(const std::array<std::string_view, N>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

void check_growth(const std::string& text, size_t limit) {
  if (text.size() > limit)
    render_failure("the template built a text past its limit of " + std::to_string(limit) + " bytes");
}

[[noreturn]] void cannot_apply(std::string_view filter, const Value& v) {
  render_failure("Cannot apply filter \"" + std::string(filter) + "\" to type: " + type_name(v.kind));
}

const Value* arg_at(const Arguments& a, size_t i, std::string_view keyword) {
  if (i < a.positional.size()) return &a.positional[i];
  return keyword.empty() ? nullptr : find(a.keywords, keyword);
}

bool bool_arg(const Arguments& a, size_t i, std::string_view keyword, bool fallback, const char* what) {
  const Value* v = arg_at(a, i, keyword);
  if (!v) return fallback;
  if (v->kind != Kind::Boolean) render_failure(std::string(what) + " must be a boolean");
  return v->boolean;
}

std::string title_case(std::string_view s) {
  std::string out(s);
  for (size_t i = 0; i < out.size(); ++i) {
    const auto c = static_cast<unsigned char>(out[i]);
    if (is_word_byte(c) && (i == 0 || !is_word_byte(static_cast<unsigned char>(out[i - 1]))) && c >= 'a' && c <= 'z')
      out[i] = char(c - 'a' + 'A');
  }
  return out;
}

std::string capitalize(std::string_view s) {
  if (s.empty()) return std::string();
  size_t n = 0;
  decode_utf8(s, 0, n);
  return to_upper(s.substr(0, n)) + std::string(s.substr(n));
}

std::vector<std::string_view> split_on(std::string_view s, std::string_view sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    const size_t at = s.find(sep, start);
    if (at == std::string_view::npos) break;
    parts.push_back(s.substr(start, at - start));
    start = at + sep.size();
  }
  parts.push_back(s.substr(start));
  return parts;
}

std::string indent_lines(std::string_view s, std::string_view indent, bool first, bool blank, size_t limit) {
  std::string out;
  const auto lines = split_on(s, "\n");
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i) out += '\n';
    if (!((!first && i == 0) || (!blank && lines[i].empty()))) out += indent;
    out += lines[i];
    check_growth(out, limit);
  }
  return out;
}

std::string replace_all(std::string_view s, std::string_view from, std::string_view to, const Value& count, size_t limit) {
  if (count.kind != Kind::Integer && count.kind != Kind::Null)
    render_failure("replace() count argument must be a number or null");
  double remaining = count.kind == Kind::Null || count.number < 0 ? INFINITY : count.number;
  std::string out;
  if (from.empty()) {
    // Between every two characters, and at both ends.
    const auto starts = code_point_starts(s);
    for (size_t i = 0; i <= starts.size(); ++i) {
      if (remaining > 0) {
        out += to;
        --remaining;
        check_growth(out, limit);
      }
      if (i < starts.size()) out += s.substr(starts[i], (i + 1 < starts.size() ? starts[i + 1] : s.size()) - starts[i]);
    }
    return out;
  }
  size_t start = 0;
  while (remaining > 0) {
    const size_t at = s.find(from, start);
    if (at == std::string_view::npos) break;
    out += s.substr(start, at - start);
    out += to;
    start = at + from.size();
    --remaining;
    check_growth(out, limit);
  }
  out += s.substr(start);
  return out;
}

// The value at a dotted path ("a.b", "items.0") of a dict or list, or Undefined.
Value attribute_path(const Value& item, std::string_view path) {
  Value v = item;
  for (std::string_view part : split_on(path, ".")) {
    if (v.is_container()) {
      const Value* e = find(*v.dict, part);
      if (!e) return Value::undefined();
      Value next = *e;
      v = std::move(next);
    } else if (v.kind == Kind::Array) {
      const double index = js_parse_int(part);
      if (std::isnan(index) || index < 0 || index >= double(v.list->size())) return Value::undefined();
      Value next = (*v.list)[size_t(index)];
      v = std::move(next);
    } else {
      return Value::undefined();
    }
  }
  return v;
}

int compare_values(const Value& a, const Value& b, bool case_sensitive) {
  const auto incomparable = [&] {
    render_failure(std::string("Cannot compare ") + type_name(a.kind) + " with " + type_name(b.kind));
  };
  if (a.kind == Kind::Null || b.kind == Kind::Null) {
    if (a.kind == b.kind) return 0;
    incomparable();
  }
  if (a.kind == Kind::Undefined || b.kind == Kind::Undefined) {
    if (a.kind == b.kind) return 0;
    incomparable();
  }
  if (a.is_numeric_like() && b.is_numeric_like()) {
    const double x = a.numeric(), y = b.numeric();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.kind != b.kind) render_failure(std::string("Cannot compare different types: ") + type_name(a.kind) + " and " + type_name(b.kind));
  if (a.kind != Kind::String) render_failure(std::string("Cannot compare type: ") + type_name(a.kind));
  const std::string x = case_sensitive ? a.text : to_lower(a.text);
  const std::string y = case_sensitive ? b.text : to_lower(b.text);
  return x < y ? -1 : x > y ? 1 : 0;
}

Value items_of(const Dict& d) {
  List out;
  for (const auto& [k, v] : d) out.push_back(Value::array({Value::string(k), v}));
  return Value::array(std::move(out));
}

Value keys_of(const Dict& d) {
  List out;
  for (const auto& e : d) out.push_back(Value::string(e.first));
  return Value::array(std::move(out));
}

Value values_of(const Dict& d) {
  List out;
  for (const auto& e : d) out.push_back(e.second);
  return Value::array(std::move(out));
}

Value dictsort(const Dict& d, const Arguments& a) {
  const bool case_sensitive = bool_arg(a, 0, "case_sensitive", false, "case_sensitive");
  const Value* by = arg_at(a, 1, "by");
  if (by && by->kind != Kind::String) render_failure("by must be a string");
  const bool by_value = by && by->text == "value";
  if (by && !by_value && by->text != "key") render_failure("by must be either 'key' or 'value'");
  const bool reverse = bool_arg(a, 2, "reverse", false, "reverse");
  Value items = items_of(d);
  std::stable_sort(items.list->begin(), items.list->end(), [&](const Value& x, const Value& y) {
    const int r = compare_values((*x.list)[by_value], (*y.list)[by_value], case_sensitive);
    return (reverse ? -r : r) < 0;
  });
  return items;
}

Value json_filter(const Value& operand, const Arguments& a) {
  JsonOptions o;
  if (const Value* indent = find(a.keywords, "indent")) {
    if (indent->kind != Kind::Integer && indent->kind != Kind::Null) render_failure("If set, indent must be a number");
    o.indent = indent->kind == Kind::Integer ? int(std::clamp(indent->number, 0.0, 64.0)) : 0;
  }
  o.ensure_ascii = bool_arg(Arguments{{}, a.keywords}, 99, "ensure_ascii", false, "If set, ensure_ascii");
  o.sort_keys = bool_arg(Arguments{{}, a.keywords}, 99, "sort_keys", false, "If set, sort_keys");
  if (const Value* sep = find(a.keywords, "separators"); sep && sep->kind != Kind::Null) {
    if (sep->kind != Kind::Array || sep->list->size() != 2 || (*sep->list)[0].kind != Kind::String ||
        (*sep->list)[1].kind != Kind::String)
      render_failure("separators must be a tuple of two strings");
    o.custom_separators = true;
    o.item_separator = (*sep->list)[0].text;
    o.key_separator = (*sep->list)[1].text;
  }
  return Value::string(to_json(operand, o));
}

// join's elements: the underlying JavaScript values, where none and undefined are "".
std::string join_element(const Value& v) {
  return v.kind == Kind::Null || v.kind == Kind::Undefined ? std::string() : raw_string(v);
}

Value plain_filter(std::string_view name, const Value& operand) {
  if (name == "safe") return operand;
  if (name == "tojson") return Value::string(to_json(operand, JsonOptions{}));
  switch (operand.kind) {
    case Kind::Array: {
      const List& l = *operand.list;
      if (name == "list") return operand;
      if (name == "first" || name == "last") {
        if (l.empty()) render_failure("'" + std::string(name) + "' of an empty list");
        return name == "first" ? l.front() : l.back();
      }
      if (name == "length" || name == "count") return Value::integer(double(l.size()));
      if (name == "reverse") return Value::array(List(l.rbegin(), l.rend()));
      if (name == "sort") {
        List sorted = l;
        std::stable_sort(sorted.begin(), sorted.end(),
                         [](const Value& a, const Value& b) { return compare_values(a, b, false) < 0; });
        return Value::array(std::move(sorted));
      }
      if (name == "join") {
        std::string out;
        for (const Value& v : l) out += join_element(v);
        return Value::string(std::move(out));
      }
      if (name == "string") {
        JsonOptions o;
        o.undefined_as_null = false;
        return Value::string(to_json(operand, o));
      }
      if (name == "unique") {
        List out;
        for (const Value& v : l)
          if (std::none_of(out.begin(), out.end(), [&](const Value& seen) { return strict_equals(seen, v); }))
            out.push_back(v);
        return Value::array(std::move(out));
      }
      render_failure("Unknown ArrayValue filter: " + std::string(name));
    }
    case Kind::String: {
      const std::string& s = operand.text;
      if (name == "length" || name == "count") return Value::integer(double(utf16_length(s)));
      if (name == "upper") return Value::string(to_upper(s));
      if (name == "lower") return Value::string(to_lower(s));
      if (name == "title") return Value::string(title_case(s));
      if (name == "capitalize") return Value::string(capitalize(s));
      if (name == "trim") return Value::string(std::string(trim(s)));
      if (name == "indent") return Value::string(indent_lines(s, "    ", false, false, size_t(-1) / 2));
      if (name == "join" || name == "string") return operand;
      if (name == "int") {
        const double v = js_parse_int(s);
        return Value::integer(std::isnan(v) ? 0 : v);
      }
      if (name == "float") {
        const double v = js_parse_float(s);
        return Value::floating(std::isnan(v) ? 0 : v);
      }
      render_failure("Unknown StringValue filter: " + std::string(name));
    }
    case Kind::Integer:
    case Kind::Float: {
      if (name == "abs") return operand.kind == Kind::Integer ? Value::integer(std::fabs(operand.number))
                                                              : Value::floating(std::fabs(operand.number));
      if (name == "int") return Value::integer(std::trunc(operand.number) + 0.0);
      if (name == "float") return Value::floating(operand.number);
      if (name == "string") return Value::string(display(operand));
      render_failure("Unknown NumericValue filter: " + std::string(name));
    }
    case Kind::Object: {
      if (name == "items") return items_of(*operand.dict);
      if (name == "length" || name == "count") return Value::integer(double(operand.dict->size()));
      if (name == "keys") return keys_of(*operand.dict);
      if (name == "values") return values_of(*operand.dict);
      if (name == "dictsort") return dictsort(*operand.dict, {});
      if (name == "get") render_failure("Object key must be a string: got UndefinedValue");
      render_failure("Unknown ObjectValue filter: " + std::string(name));
    }
    case Kind::Boolean: {
      if (name == "bool") return operand;
      if (name == "int") return Value::integer(operand.boolean ? 1 : 0);
      if (name == "float") return Value::floating(operand.boolean ? 1 : 0);
      if (name == "string") return Value::string(operand.boolean ? "true" : "false");
      render_failure("Unknown BooleanValue filter: " + std::string(name));
    }
    default: break;
  }
  // `default` written without parentheses means default(''), as in Jinja.
  if (name == "default" || name == "d") return operand.kind == Kind::Undefined ? Value::string("") : operand;
  cannot_apply(name, operand);
}

}  // namespace

bool is_filter_name(std::string_view name) { return contains(kFilters, name); }
bool is_test_name(std::string_view name) { return contains(kTests, name); }
bool is_method_name(std::string_view name) { return contains(kMethods, name); }
bool is_global_function(std::string_view name) {
  return name == "range" || name == "namespace" || name == "raise_exception" || name == "strftime_now";
}

bool apply_test(std::string_view name, const Value& v, const Value* argument) {
  const Kind k = v.kind;
  if (name == "boolean") return k == Kind::Boolean;
  if (name == "callable") return k == Kind::Function;
  if (name == "odd" || name == "even") {
    if (k != Kind::Integer) render_failure("cannot " + std::string(name) + " on " + type_name(k));
    const bool odd = std::fmod(v.number, 2) != 0;
    return name == "odd" ? odd : !odd;
  }
  if (name == "false") return k == Kind::Boolean && !v.boolean;
  if (name == "true") return k == Kind::Boolean && v.boolean;
  if (name == "none") return k == Kind::Null;
  if (name == "string") return k == Kind::String;
  if (name == "number") return v.is_number();
  if (name == "integer") return k == Kind::Integer;
  if (name == "iterable") return (k == Kind::Array && !v.tuple) || k == Kind::String;
  if (name == "mapping") return k == Kind::Object;
  if (name == "sequence") return k == Kind::Array || k == Kind::Object || k == Kind::String;
  if (name == "lower") return k == Kind::String && v.text == to_lower(v.text);
  if (name == "upper") return k == Kind::String && v.text == to_upper(v.text);
  if (name == "defined") return k != Kind::Undefined;
  if (name == "undefined") return k == Kind::Undefined;
  if (name == "equalto" || name == "eq") {
    if (!argument) render_failure("the test '" + std::string(name) + "' needs a value to compare with");
    return strict_equals(v, *argument);
  }
  render_failure("Unknown test: " + std::string(name));
}

Value apply_filter(std::string_view name, const Value& operand, bool called, const Arguments& a,
                   bool string_literal_args) {
  if (!called) return plain_filter(name, operand);
  if (name == "tojson") return json_filter(operand, a);
  if (name == "join") {
    const Value* sep = arg_at(a, 0, "separator");
    if (sep && sep->kind != Kind::String) render_failure("separator must be a string");
    const std::string separator = sep ? sep->text : "";
    std::string out;
    if (operand.kind == Kind::String) {
      const auto starts = code_point_starts(operand.text);
      for (size_t i = 0; i < starts.size(); ++i) {
        if (i) out += separator;
        check_growth(out, a.max_text_bytes);
        out += operand.text.substr(starts[i], (i + 1 < starts.size() ? starts[i + 1] : operand.text.size()) - starts[i]);
      }
    } else if (operand.kind == Kind::Array) {
      for (size_t i = 0; i < operand.list->size(); ++i) {
        if (i) out += separator;
        out += join_element((*operand.list)[i]);
        check_growth(out, a.max_text_bytes);
      }
    } else {
      cannot_apply(name, operand);
    }
    return Value::string(std::move(out));
  }
  if (name == "int" || name == "float") {
    const bool is_int = name == "int";
    const Value* fallback = arg_at(a, 0, "default");
    const Value def = fallback ? *fallback : is_int ? Value::integer(0) : Value::floating(0);
    if (operand.kind == Kind::String) {
      const double v = is_int ? js_parse_int(operand.text) : js_parse_float(operand.text);
      return std::isnan(v) ? def : is_int ? Value::integer(v) : Value::floating(v);
    }
    if (operand.is_number()) return is_int ? Value::integer(std::trunc(operand.number) + 0.0) : Value::floating(operand.number);
    if (operand.kind == Kind::Boolean) return is_int ? Value::integer(operand.boolean) : Value::floating(operand.boolean);
    cannot_apply(name, operand);
  }
  if (name == "default" || name == "d") {
    const Value def = a.positional.empty() ? Value::string("") : a.positional[0];
    const bool boolean = bool_arg(a, 1, "boolean", false, "`default` filter flag");
    if (operand.kind == Kind::Undefined || (boolean && !truthy(operand))) return def;
    return operand;
  }
  if (operand.kind == Kind::Array) {
    const List& l = *operand.list;
    if (name == "sort") {
      const bool reverse = bool_arg(a, 0, "reverse", false, "reverse");
      const bool case_sensitive = bool_arg(a, 1, "case_sensitive", false, "case_sensitive");
      const Value* attribute = arg_at(a, 2, "attribute");
      std::string path;
      if (attribute && attribute->kind != Kind::Null) {
        if (attribute->kind != Kind::String && attribute->kind != Kind::Integer)
          render_failure("attribute must be a string, integer, or null");
        path = attribute->kind == Kind::String ? attribute->text : js_number(attribute->number);
      }
      const bool by_attribute = attribute && attribute->kind != Kind::Null;
      List sorted = l;
      std::stable_sort(sorted.begin(), sorted.end(), [&](const Value& x, const Value& y) {
        const int r = by_attribute ? compare_values(attribute_path(x, path), attribute_path(y, path), case_sensitive)
                                   : compare_values(x, y, case_sensitive);
        return (reverse ? -r : r) < 0;
      });
      return Value::array(std::move(sorted));
    }
    if (name == "selectattr" || name == "rejectattr") {
      const bool select = name == "selectattr";
      for (const Value& item : l)
        if (!item.is_container()) render_failure("`" + std::string(name) + "` can only be applied to array of objects");
      if (!string_literal_args || !a.keywords.empty())
        render_failure("arguments of `" + std::string(name) + "` must be strings");
      if (a.positional.empty()) render_failure("`" + std::string(name) + "` needs the name of an attribute");
      const std::string& attr = a.positional[0].text;
      const std::string* test = a.positional.size() > 1 ? &a.positional[1].text : nullptr;
      if (test && !is_test_name(*test)) render_failure("Unknown test: " + *test);
      const Value* compare = a.positional.size() > 2 ? &a.positional[2] : nullptr;
      List out;
      for (const Value& item : l) {
        const Value* v = find(*item.dict, attr);
        const bool result = v ? (test ? apply_test(*test, *v, compare) : truthy(*v)) : false;
        if (result == select) out.push_back(item);
      }
      return Value::array(std::move(out));
    }
    if (name == "map") {
      const Value* attr = find(a.keywords, "attribute");
      if (!attr) render_failure("`map` expressions without `attribute` set are not currently supported.");
      if (attr->kind != Kind::String) render_failure("attribute must be a string");
      const Value* def = find(a.keywords, "default");
      List out;
      for (const Value& item : l) {
        if (!item.is_container()) render_failure("items in map must be an object");
        Value v = attribute_path(item, attr->text);
        out.push_back(v.kind == Kind::Undefined && def ? *def : std::move(v));
      }
      return Value::array(std::move(out));
    }
    render_failure("Unknown ArrayValue filter: " + std::string(name));
  }
  if (operand.kind == Kind::String) {
    if (name == "indent") {
      const Value* width = arg_at(a, 0, "width");
      std::string indent = "    ";
      if (width) {
        if (width->kind == Kind::String) indent = width->text;
        else if (width->kind == Kind::Integer) indent = std::string(size_t(std::clamp(width->number, 0.0, 1024.0)), ' ');
        else render_failure("width must be an integer or a string");
      }
      const Value* first = arg_at(a, 1, "first");
      const Value* blank = arg_at(a, 2, "blank");
      return Value::string(indent_lines(operand.text, indent, first && truthy(*first), blank && truthy(*blank), a.max_text_bytes));
    }
    if (name == "replace") {
      Arguments with_count = a;
      with_count.keywords.clear();
      if (a.positional.size() == 2) with_count.positional.push_back(find(a.keywords, "count") ? *find(a.keywords, "count") : Value::null());
      return call_method(operand, "replace", with_count);
    }
    render_failure("Unknown StringValue filter: " + std::string(name));
  }
  if (operand.kind == Kind::Object) {
    bool is_method = false;
    builtin_attribute(operand, name, &is_method);
    if (is_method) return call_method(operand, name, a);
    render_failure("Unknown ObjectValue filter: " + std::string(name));
  }
  cannot_apply(name, operand);
}

Value builtin_attribute(const Value& receiver, std::string_view name, bool* is_method) {
  *is_method = false;
  if (receiver.kind == Kind::String) {
    if (name == "length") return Value::integer(double(utf16_length(receiver.text)));
    *is_method = name == "upper" || name == "lower" || name == "strip" || name == "title" || name == "capitalize" ||
                 name == "rstrip" || name == "lstrip" || name == "startswith" || name == "endswith" ||
                 name == "split" || name == "replace";
  } else if (receiver.kind == Kind::Array) {
    if (name == "length") return Value::integer(double(receiver.list->size()));
  } else if (receiver.kind == Kind::Object) {
    *is_method = name == "get" || name == "items" || name == "keys" || name == "values" || name == "dictsort";
  }
  return Value::undefined();
}

Value call_method(const Value& r, std::string_view name, const Arguments& a) {
  if (r.kind == Kind::Object) {
    const Dict& d = *r.dict;
    if (name == "get") {
      if (a.positional.empty() || a.positional[0].kind != Kind::String)
        render_failure(std::string("Object key must be a string: got ") +
                       type_name(a.positional.empty() ? Kind::Undefined : a.positional[0].kind));
      if (const Value* v = find(d, a.positional[0].text)) return *v;
      return a.positional.size() > 1 ? a.positional[1] : Value::null();
    }
    if (name == "items") return items_of(d);
    if (name == "keys") return keys_of(d);
    if (name == "values") return values_of(d);
    return dictsort(d, a);
  }
  const std::string& s = r.text;
  if (name != "replace" && !a.keywords.empty()) render_failure(std::string(name) + "() takes no keyword arguments");
  if (name == "upper") return Value::string(to_upper(s));
  if (name == "lower") return Value::string(to_lower(s));
  if (name == "strip") return Value::string(std::string(trim(s)));
  if (name == "lstrip") return Value::string(std::string(trim_start(s)));
  if (name == "rstrip") return Value::string(std::string(trim_end(s)));
  if (name == "title") return Value::string(title_case(s));
  if (name == "capitalize") return Value::string(capitalize(s));
  if (name == "startswith" || name == "endswith") {
    const bool starts = name == "startswith";
    if (a.positional.empty()) render_failure(std::string(name) + "() requires at least one argument");
    const auto matches = [&](const std::string& p) {
      return starts ? s.compare(0, p.size(), p) == 0 && s.size() >= p.size()
                    : s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
    };
    const Value& p = a.positional[0];
    if (p.kind == Kind::String) return Value::of(matches(p.text));
    if (p.kind == Kind::Array) {
      for (const Value& item : *p.list) {
        if (item.kind != Kind::String) render_failure(std::string(name) + "() tuple elements must be strings");
        if (matches(item.text)) return Value::of(true);
      }
      return Value::of(false);
    }
    render_failure(std::string(name) + "() argument must be a string or tuple of strings");
  }
  if (name == "split") {
    const Value sep = a.positional.empty() ? Value::null() : a.positional[0];
    if (sep.kind != Kind::String && sep.kind != Kind::Null) render_failure("sep argument must be a string or null");
    const Value maxsplit = a.positional.size() > 1 ? a.positional[1] : Value::integer(-1);
    if (maxsplit.kind != Kind::Integer) render_failure("maxsplit argument must be a number");
    List out;
    if (sep.kind == Kind::Null) {
      const std::string_view text = trim_start(s);
      size_t i = 0;
      while (i < text.size()) {
        i += whitespace_after(text, i);
        if (i >= text.size()) break;
        size_t end = i, n = 0;
        while (end < text.size() && !is_js_whitespace(decode_utf8(text, end, n))) end += n;
        if (maxsplit.number >= 0 && double(out.size()) >= maxsplit.number) {
          out.push_back(Value::string(std::string(text.substr(i))));
          break;
        }
        out.push_back(Value::string(std::string(text.substr(i, end - i))));
        i = end;
      }
    } else {
      if (sep.text.empty()) render_failure("empty separator");
      const auto parts = split_on(s, sep.text);
      for (size_t i = 0; i < parts.size(); ++i) {
        if (maxsplit.number >= 0 && double(i) >= maxsplit.number && i < parts.size()) {
          std::string rest(parts[i]);
          for (size_t j = i + 1; j < parts.size(); ++j) rest += sep.text + std::string(parts[j]);
          out.push_back(Value::string(std::move(rest)));
          break;
        }
        out.push_back(Value::string(std::string(parts[i])));
      }
    }
    return Value::array(std::move(out));
  }
  // replace(old, new[, count])
  if (a.positional.size() < 2) render_failure("replace() requires at least two arguments");
  if (a.positional[0].kind != Kind::String || a.positional[1].kind != Kind::String)
    render_failure("replace() arguments must be strings");
  Value count = Value::null();
  if (a.positional.size() > 2) count = a.positional[2];
  else if (const Value* c = find(a.keywords, "count")) count = *c;
  return Value::string(replace_all(s, a.positional[0].text, a.positional[1].text, count, a.max_text_bytes));
}

Value slice_value(const Value& object, const Value& start_v, const Value& stop_v, const Value& step_v) {
  if (object.kind != Kind::Array && object.kind != Kind::String) render_failure("Slice object must be an array or string");
  for (const Value* v : {&start_v, &stop_v, &step_v})
    if (v->kind != Kind::Integer && v->kind != Kind::Undefined) render_failure("Slice start, stop and step must be integers");
  std::vector<size_t> starts;
  double length;
  if (object.kind == Kind::String) {
    starts = code_point_starts(object.text);
    length = double(starts.size());
  } else {
    length = double(object.list->size());
  }
  const double step = step_v.kind == Kind::Undefined ? 1 : step_v.number;
  if (step == 0) render_failure("slice step cannot be zero");
  double start, stop;
  if (step > 0) {
    start = start_v.kind == Kind::Undefined ? 0 : start_v.number;
    start = start < 0 ? std::max(length + start, 0.0) : std::min(start, length);
    stop = stop_v.kind == Kind::Undefined ? length : stop_v.number;
    stop = stop < 0 ? std::max(length + stop, 0.0) : std::min(stop, length);
  } else {
    start = start_v.kind == Kind::Undefined ? length - 1 : start_v.number;
    start = start < 0 ? std::max(length + start, -1.0) : std::min(start, length - 1);
    stop = stop_v.kind == Kind::Undefined ? -1 : stop_v.number;
    stop = stop < -1 ? std::max(length + stop, -1.0) : std::min(stop, length - 1);
  }
  const double direction = step > 0 ? 1 : -1;
  if (object.kind == Kind::Array) {
    List out;
    for (double i = start; direction * i < direction * stop; i += step) out.push_back((*object.list)[size_t(i)]);
    return Value::array(std::move(out));
  }
  std::string out;
  for (double i = start; direction * i < direction * stop; i += step) {
    const size_t k = size_t(i);
    out += object.text.substr(starts[k], (k + 1 < starts.size() ? starts[k + 1] : object.text.size()) - starts[k]);
  }
  return Value::string(std::move(out));
}

std::string strftime_now(std::string_view format) {
  static const char* const kLong[] = {"January", "February", "March", "April", "May", "June", "July",
                                      "August", "September", "October", "November", "December"};
  static const char* const kShort[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t now = std::time(nullptr);
  std::tm t{};
  localtime_r(&now, &t);
  const auto pad2 = [](int n) { return (n < 10 ? "0" : "") + std::to_string(n); };
  std::string out;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%' || i + 1 >= format.size()) {
      out += format[i];
      continue;
    }
    const char c = format[i + 1];
    switch (c) {
      case 'Y': out += std::to_string(t.tm_year + 1900); break;
      case 'm': out += pad2(t.tm_mon + 1); break;
      case 'd': out += pad2(t.tm_mday); break;
      case 'b': out += kShort[t.tm_mon]; break;
      case 'B': out += kLong[t.tm_mon]; break;
      case 'H': out += pad2(t.tm_hour); break;
      case 'M': out += pad2(t.tm_min); break;
      case '%': out += '%'; break;
      default: out += '%'; out += c; break;
    }
    ++i;
  }
  return out;
}

}  // namespace mmb::jinja
