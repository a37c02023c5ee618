#include "grammar/json_schema_grammar.hpp"

#include "base/error.hpp"
#include "grammar/decimal_range.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace mmb::grammar {

namespace {

using Json = nlohmann::ordered_json;

constexpr int64_t kMaxCount = 100000;  // above it the unrolled grammar would be huge

const std::set<std::string, std::less<>> kAnnotations = {
    "title",   "description", "examples", "default",  "$schema",  "$id",
    "$comment", "deprecated", "readOnly", "writeOnly", "$defs", "definitions"};
const std::set<std::string, std::less<>> kObjectKeywords = {"properties", "required", "additionalProperties"};
const std::set<std::string, std::less<>> kArrayKeywords = {"items", "prefixItems", "additionalItems",
                                                           "minItems", "maxItems", "uniqueItems"};
const std::set<std::string, std::less<>> kStringKeywords = {"minLength", "maxLength"};
const std::set<std::string, std::less<>> kNumberKeywords = {"minimum", "maximum", "exclusiveMinimum",
                                                            "exclusiveMaximum"};
const std::set<std::string, std::less<>> kOtherKeywords = {"type", "enum", "const", "anyOf", "oneOf",
                                                           "allOf", "$ref"};
const char* const kTypes[] = {"null", "boolean", "object", "array", "string", "number", "integer"};

std::string escape_token(const std::string& key) {
  std::string out;
  for (char c : key) {
    if (c == '~')
      out += "~0";
    else if (c == '/')
      out += "~1";
    else
      out += c;
  }
  return out;
}

std::string child(const std::string& ptr, const std::string& key) { return ptr + "/" + escape_token(key); }
std::string child(const std::string& ptr, size_t index) { return ptr + "/" + std::to_string(index); }

template <typename... Parts>
[[noreturn]] void fail_at(const std::string& ptr, const Parts&... parts) {
  fail(MMB_ERR_GRAMMAR, "schema at ", ptr.empty() ? std::string("/") : ptr, ": ", parts...);
}

Expr lit(std::string s) { return Expr::literal(std::move(s)); }

Expr seq(std::vector<Expr> parts) { return flat_sequence(std::move(parts)); }

Expr optional(Expr e) { return Expr::repeat(std::move(e), 0, 1); }

size_t utf8_length(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// Whether `v` validates against `s`, for the keywords this compiler supports: an enum
// or const value beside other keywords must satisfy them too.
class Validator {
 public:
  explicit Validator(const Json& root) : root_(root) {}

  bool matches(const Json& s, const Json& v, int depth = 0) const {
    if (depth > 64) return false;
    if (s.is_boolean()) return s.get<bool>();
    if (!s.is_object()) return false;
    if (auto it = s.find("$ref"); it != s.end() && it->is_string()) {
      const Json* target = resolve(it->get<std::string>());
      if (!target || !matches(*target, v, depth + 1)) return false;
    }
    if (auto it = s.find("anyOf"); it != s.end() && it->is_array()) {
      bool any = false;
      for (const Json& sub : *it) any = any || matches(sub, v, depth + 1);
      if (!any) return false;
    }
    if (auto it = s.find("oneOf"); it != s.end() && it->is_array()) {
      int count = 0;
      for (const Json& sub : *it) count += matches(sub, v, depth + 1);
      if (count != 1) return false;
    }
    if (auto it = s.find("allOf"); it != s.end() && it->is_array())
      for (const Json& sub : *it)
        if (!matches(sub, v, depth + 1)) return false;
    if (auto it = s.find("enum"); it != s.end() && it->is_array() &&
        std::find(it->begin(), it->end(), v) == it->end())
      return false;
    if (auto it = s.find("const"); it != s.end() && *it != v) return false;
    if (auto it = s.find("type"); it != s.end()) {
      bool ok = false;
      if (it->is_string()) ok = has_type(v, it->get<std::string>());
      if (it->is_array())
        for (const Json& t : *it) ok = ok || (t.is_string() && has_type(v, t.get<std::string>()));
      if (!ok) return false;
    }
    if (v.is_number()) {
      const double x = v.get<double>();
      const auto num = [&](const char* key) -> std::optional<double> {
        auto it = s.find(key);
        if (it == s.end() || !it->is_number()) return std::nullopt;
        return it->get<double>();
      };
      const bool old_xmin = s.value("exclusiveMinimum", Json()).is_boolean() && s["exclusiveMinimum"].get<bool>();
      const bool old_xmax = s.value("exclusiveMaximum", Json()).is_boolean() && s["exclusiveMaximum"].get<bool>();
      if (auto m = num("minimum"); m && (old_xmin ? !(x > *m) : !(x >= *m))) return false;
      if (auto m = num("maximum"); m && (old_xmax ? !(x < *m) : !(x <= *m))) return false;
      if (auto m = num("exclusiveMinimum"); m && !(x > *m)) return false;
      if (auto m = num("exclusiveMaximum"); m && !(x < *m)) return false;
    }
    if (v.is_string()) {
      const size_t n = utf8_length(v.get<std::string>());
      if (auto it = s.find("minLength"); it != s.end() && it->is_number() && n < it->get<double>()) return false;
      if (auto it = s.find("maxLength"); it != s.end() && it->is_number() && n > it->get<double>()) return false;
    }
    if (v.is_array()) {
      const size_t n = v.size();
      if (auto it = s.find("minItems"); it != s.end() && it->is_number() && n < it->get<double>()) return false;
      if (auto it = s.find("maxItems"); it != s.end() && it->is_number() && n > it->get<double>()) return false;
      const Json* prefix = nullptr;
      const Json* rest = nullptr;
      if (auto it = s.find("prefixItems"); it != s.end() && it->is_array()) prefix = &*it;
      if (auto it = s.find("items"); it != s.end()) {
        if (it->is_array()) {
          prefix = &*it;
          if (auto a = s.find("additionalItems"); a != s.end()) rest = &*a;
        } else {
          rest = &*it;
        }
      }
      for (size_t i = 0; i < n; ++i) {
        const Json* sub = prefix && i < prefix->size() ? &(*prefix)[i] : rest;
        if (sub && !matches(*sub, v[i], depth + 1)) return false;
      }
    }
    if (v.is_object()) {
      const Json* props = nullptr;
      if (auto it = s.find("properties"); it != s.end() && it->is_object()) props = &*it;
      if (auto it = s.find("required"); it != s.end() && it->is_array())
        for (const Json& name : *it)
          if (name.is_string() && !v.contains(name.get<std::string>())) return false;
      const auto extra = s.find("additionalProperties");
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (props && props->contains(it.key())) {
          if (!matches((*props)[it.key()], it.value(), depth + 1)) return false;
        } else if (extra != s.end() && !matches(*extra, it.value(), depth + 1)) {
          return false;
        }
      }
    }
    return true;
  }

  // The subschema named by a supported $ref, or null.
  const Json* resolve(const std::string& ref) const {
    if (ref == "#") return &root_;
    for (const char* prefix : {"#/$defs/", "#/definitions/"}) {
      const std::string p = prefix;
      if (ref.compare(0, p.size(), p) != 0) continue;
      std::string name;
      for (size_t i = p.size(); i < ref.size(); ++i) {
        if (ref[i] == '/') return nullptr;
        if (ref[i] == '~' && i + 1 < ref.size() && (ref[i + 1] == '0' || ref[i + 1] == '1')) {
          name += ref[i + 1] == '0' ? '~' : '/';
          ++i;
        } else {
          name += ref[i];
        }
      }
      const std::string section = p.substr(2, p.size() - 3);
      auto defs = root_.find(section);
      if (defs == root_.end() || !defs->is_object()) return nullptr;
      auto it = defs->find(name);
      return it == defs->end() ? nullptr : &*it;
    }
    return nullptr;
  }

 private:
  static bool has_type(const Json& v, const std::string& t) {
    if (t == "null") return v.is_null();
    if (t == "boolean") return v.is_boolean();
    if (t == "object") return v.is_object();
    if (t == "array") return v.is_array();
    if (t == "string") return v.is_string();
    if (t == "number") return v.is_number();
    if (t == "integer")
      return v.is_number_integer() || (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>());
    return false;
  }

  const Json& root_;
};

class Compiler {
 public:
  Compiler(const Json& root, const JsonGrammarOptions& options)
      : root_(root), validator_(root), whitespace_(options.whitespace) {}

  GrammarAst run() {
    const uint32_t root = new_rule("root", "");
    ref_rules_[""] = root;
    set_body(root, compile(root_, ""));
    ast_.root = root;
    return std::move(ast_);
  }

 private:
  uint32_t new_rule(std::string name, const std::string& ptr) {
    std::string unique = name;
    for (int n = 2; !names_.insert(unique).second; ++n) unique = name + "-" + std::to_string(n);
    ast_.rules.push_back(Rule{unique, Expr::sequence({}), ptr.empty() ? "/" : ptr});
    return static_cast<uint32_t>(ast_.rules.size() - 1);
  }
  void set_body(uint32_t rule, Expr body) { ast_.rules[rule].body = std::move(body); }

  static std::string rule_name(const std::string& ptr) {
    std::string name;
    for (char c : ptr.substr(1)) {
      const bool keep = std::isalnum(static_cast<unsigned char>(c)) != 0;
      if (keep)
        name += c;
      else if (!name.empty() && name.back() != '-')
        name += '-';
    }
    while (!name.empty() && name.back() == '-') name.pop_back();
    return name.empty() ? "schema" : name;
  }

  // A subschema as its own rule (shared by every place that repeats it).
  uint32_t compile_rule(const Json& s, const std::string& ptr) {
    if (s.is_boolean() && s.get<bool>()) return value_rule();
    const uint32_t rule = new_rule(rule_name(ptr), ptr);
    set_body(rule, compile(s, ptr));
    return rule;
  }

  Expr ws() const {
    if (whitespace_ <= 0) return lit("");
    return Expr::repeat(Expr::char_class({{' ', ' '}, {'\t', '\t'}, {'\n', '\n'}}), 0,
                        static_cast<uint32_t>(whitespace_));
  }

  // The generic rules: any JSON value, and one string character.
  uint32_t char_rule() {
    if (char_rule_) return *char_rule_;
    char_rule_ = new_rule("char", "");
    const Expr hex = Expr::char_class({{'0', '9'}, {'A', 'F'}, {'a', 'f'}});
    // \uXXXX outside the surrogates D800-DFFF (a pair would count as two code points).
    const Expr unicode = Expr::choice({
        seq({Expr::char_class({{'0', '9'}, {'A', 'C'}, {'E', 'F'}, {'a', 'c'}, {'e', 'f'}}), hex, hex, hex}),
        seq({Expr::char_class({{'D', 'D'}, {'d', 'd'}}), Expr::char_class({{'0', '7'}}), hex, hex}),
    });
    set_body(*char_rule_,
             Expr::choice({
                 Expr::char_class({{0x20, 0x21}, {0x23, 0x5B}, {0x5D, 0xD7FF}, {0xE000, 0x10FFFF}}),
                 seq({lit("\\"), Expr::choice({Expr::char_class({{'"', '"'},
                                                                 {'/', '/'},
                                                                 {'\\', '\\'},
                                                                 {'b', 'b'},
                                                                 {'f', 'f'},
                                                                 {'n', 'n'},
                                                                 {'r', 'r'},
                                                                 {'t', 't'}}),
                                               seq({lit("u"), unicode})})}),
             }));
    return *char_rule_;
  }

  Expr string_expr(uint32_t lo, uint32_t hi) {
    return seq({lit("\""), Expr::repeat(Expr::ref(char_rule()), lo, hi), lit("\"")});
  }

  uint32_t value_rule() {
    if (value_rule_) return *value_rule_;
    value_rule_ = new_rule("value", "");
    const uint32_t v = *value_rule_;
    const Expr key = string_expr(0, kUnbounded);
    const Expr member = seq({key, lit(":"), ws(), Expr::ref(v)});
    const Expr object = seq({lit("{"), ws(),
                             optional(seq({member, Expr::repeat(seq({lit(","), ws(), member}), 0, kUnbounded), ws()})),
                             lit("}")});
    const Expr array = seq({lit("["), ws(),
                            optional(seq({Expr::ref(v), Expr::repeat(seq({lit(","), ws(), Expr::ref(v)}), 0, kUnbounded),
                                          ws()})),
                            lit("]")});
    set_body(v, Expr::choice({object, array, string_expr(0, kUnbounded), json_number_expr(), lit("true"),
                              lit("false"), lit("null")}));
    return v;
  }

  Expr compile(const Json& s, const std::string& ptr) {
    // Subschemas nest through compile(); a bound keeps a hostile schema off the stack's end.
    if (depth_ >= kMaxDepth) fail_at(ptr, "subschemas nested deeper than ", kMaxDepth, " levels");
    ++depth_;
    struct Leave {
      int& depth;
      ~Leave() { --depth; }
    } leave{depth_};
    if (s.is_boolean()) {
      if (s.get<bool>()) return Expr::ref(value_rule());
      fail_at(ptr, "the schema false accepts no value");
    }
    if (!s.is_object()) fail_at(ptr, "a schema must be an object or a boolean, not ", s.dump());

    std::vector<std::string> validity;  // the keywords that restrict values
    std::set<std::string> types_implied;
    for (auto it = s.begin(); it != s.end(); ++it) {
      const std::string& k = it.key();
      if (kAnnotations.count(k) || k.rfind("x-", 0) == 0) continue;
      if (k == "uniqueItems") {
        if (!it->is_boolean()) fail_at(child(ptr, k), "uniqueItems must be a boolean");
        if (it->get<bool>()) fail_at(child(ptr, k), "unsupported keyword 'uniqueItems' (true)");
      }
      if (kObjectKeywords.count(k))
        types_implied.insert("object");
      else if (kArrayKeywords.count(k))
        types_implied.insert("array");
      else if (kStringKeywords.count(k))
        types_implied.insert("string");
      else if (kNumberKeywords.count(k))
        types_implied.insert("number");
      else if (!kOtherKeywords.count(k))
        fail_at(child(ptr, k), "unsupported keyword '", k, "'");
      validity.push_back(k);
    }

    for (const char* combinator : {"$ref", "anyOf", "oneOf", "allOf"}) {
      if (!s.contains(combinator)) continue;
      for (const std::string& k : validity)
        if (k != combinator)
          fail_at(child(ptr, k), "'", k, "' beside '", combinator, "' is not supported");
      return compile_combinator(s, ptr, combinator);
    }

    if (s.contains("enum") || s.contains("const")) return compile_enum(s, ptr);

    std::vector<std::string> types;
    if (auto it = s.find("type"); it != s.end()) {
      const std::string tp = child(ptr, "type");
      if (it->is_string()) {
        types.push_back(it->get<std::string>());
      } else if (it->is_array() && !it->empty()) {
        for (const Json& t : *it) {
          if (!t.is_string()) fail_at(tp, "type must be a string or an array of strings");
          types.push_back(t.get<std::string>());
        }
      } else {
        fail_at(tp, "type must be a string or a non-empty array of strings");
      }
      for (const std::string& t : types)
        if (std::find(std::begin(kTypes), std::end(kTypes), t) == std::end(kTypes))
          fail_at(tp, "unknown type '", t, "'");
    } else {
      // No type: any value, but a keyword of one type means the author meant that type
      // (the other types would pass it unchecked; writing only this one is a subset).
      if (types_implied.empty()) return Expr::ref(value_rule());
      types.assign(types_implied.begin(), types_implied.end());
    }
    if (std::find(types.begin(), types.end(), "number") != types.end())
      types.erase(std::remove(types.begin(), types.end(), "integer"), types.end());

    std::vector<Expr> alts;
    std::set<std::string> seen;
    for (const std::string& t : types) {
      if (!seen.insert(t).second) continue;
      if (t == "null")
        alts.push_back(lit("null"));
      else if (t == "boolean")
        alts.push_back(Expr::choice({lit("true"), lit("false")}));
      else if (t == "object")
        alts.push_back(compile_object(s, ptr));
      else if (t == "array")
        alts.push_back(compile_array(s, ptr));
      else if (t == "string")
        alts.push_back(compile_string(s, ptr));
      else
        alts.push_back(compile_number(s, ptr, t == "integer"));
    }
    if (alts.size() == 1) return std::move(alts[0]);
    return Expr::choice(std::move(alts));
  }

  Expr compile_combinator(const Json& s, const std::string& ptr, const std::string& which) {
    const std::string kp = child(ptr, which);
    const Json& v = s[which];
    if (which == "$ref") {
      if (!v.is_string()) fail_at(kp, "$ref must be a string");
      const std::string ref = v.get<std::string>();
      const Json* target = validator_.resolve(ref);
      if (!target)
        fail_at(kp, "$ref '", ref, "' is not supported or names nothing (only \"#\", \"#/$defs/NAME\" and "
                "\"#/definitions/NAME\")");
      const std::string target_ptr = ref == "#" ? std::string() : ref.substr(1);
      if (auto it = ref_rules_.find(target_ptr); it != ref_rules_.end()) return Expr::ref(it->second);
      const uint32_t rule = new_rule(rule_name(target_ptr), target_ptr);
      ref_rules_[target_ptr] = rule;  // before the body, so a recursive $ref finds it
      set_body(rule, compile(*target, target_ptr));
      return Expr::ref(rule);
    }
    if (!v.is_array() || v.empty()) fail_at(kp, which, " must be a non-empty array of schemas");
    if (which == "allOf") {
      if (v.size() != 1) fail_at(kp, "allOf with more than one subschema is not supported");
      return compile(v[0], child(kp, size_t(0)));
    }
    std::vector<Expr> alts;
    for (size_t i = 0; i < v.size(); ++i) alts.push_back(compile(v[i], child(kp, i)));
    if (alts.size() == 1) return std::move(alts[0]);
    return Expr::choice(std::move(alts));
  }

  Expr compile_enum(const Json& s, const std::string& ptr) {
    Json others = s;  // the value must satisfy the schema's other keywords too
    others.erase("enum");
    others.erase("const");
    std::vector<std::pair<Json, std::string>> values;  // value, pointer
    if (auto it = s.find("enum"); it != s.end()) {
      if (!it->is_array()) fail_at(child(ptr, "enum"), "enum must be an array");
      if (it->empty()) fail_at(child(ptr, "enum"), "enum is empty");
      for (size_t i = 0; i < it->size(); ++i) values.emplace_back((*it)[i], child(child(ptr, "enum"), i));
    }
    if (auto it = s.find("const"); it != s.end()) {
      if (!values.empty() && std::none_of(values.begin(), values.end(), [&](const auto& p) { return p.first == *it; }))
        fail_at(child(ptr, "const"), "const ", it->dump(), " is not in enum");
      values.assign(1, {*it, child(ptr, "const")});
    }
    std::vector<Expr> alts;
    std::set<std::string> texts;
    for (const auto& [value, where] : values) {
      if (!validator_.matches(others, value)) fail_at(where, value.dump(), " does not satisfy the schema's other keywords");
      std::string text = value.dump();
      if (texts.insert(text).second) alts.push_back(lit(std::move(text)));
    }
    if (alts.size() == 1) return std::move(alts[0]);
    return Expr::choice(std::move(alts));
  }

  // A count keyword (minItems, maxLength, ...): a non-negative integer up to kMaxCount.
  static std::optional<uint32_t> count(const Json& s, const std::string& ptr, const char* key) {
    auto it = s.find(key);
    if (it == s.end()) return std::nullopt;
    const std::string kp = child(ptr, key);
    if (!it->is_number() || it->get<double>() < 0 || std::floor(it->get<double>()) != it->get<double>())
      fail_at(kp, key, " must be a non-negative integer");
    if (it->get<double>() > kMaxCount) fail_at(kp, key, " ", it->dump(), " is above the limit of ", kMaxCount);
    return static_cast<uint32_t>(it->get<double>());
  }

  static std::pair<uint32_t, std::optional<uint32_t>> counts(const Json& s, const std::string& ptr,
                                                             const char* min_key, const char* max_key) {
    const uint32_t lo = count(s, ptr, min_key).value_or(0);
    const std::optional<uint32_t> hi = count(s, ptr, max_key);
    if (hi && lo > *hi) fail_at(child(ptr, min_key), min_key, " ", lo, " is above ", max_key, " ", *hi);
    return {lo, hi};
  }

  Expr compile_string(const Json& s, const std::string& ptr) {
    const auto [lo, hi] = counts(s, ptr, "minLength", "maxLength");
    return string_expr(lo, hi.value_or(kUnbounded));
  }

  struct Bound {
    double value = 0;
    bool exclusive = false;
    std::string key;
    const Json* json = nullptr;
  };

  // The tighter of minimum / exclusiveMinimum (or of the maxima), draft-4 booleans included.
  static std::optional<Bound> bound(const Json& s, const std::string& ptr, bool lower) {
    const char* inclusive_key = lower ? "minimum" : "maximum";
    const char* exclusive_key = lower ? "exclusiveMinimum" : "exclusiveMaximum";
    std::optional<Bound> out;
    bool old_exclusive = false;
    if (auto it = s.find(exclusive_key); it != s.end()) {
      if (it->is_boolean()) {
        old_exclusive = it->get<bool>();
      } else if (it->is_number()) {
        out = Bound{it->get<double>(), true, exclusive_key, &*it};
      } else {
        fail_at(child(ptr, exclusive_key), exclusive_key, " must be a number");
      }
    }
    if (auto it = s.find(inclusive_key); it != s.end()) {
      if (!it->is_number()) fail_at(child(ptr, inclusive_key), inclusive_key, " must be a number");
      Bound b{it->get<double>(), old_exclusive, inclusive_key, &*it};
      const bool tighter = !out || (lower ? b.value > out->value : b.value < out->value);
      if (tighter) out = b;
    }
    return out;
  }

  Expr compile_number(const Json& s, const std::string& ptr, bool integer) {
    const std::optional<Bound> lo = bound(s, ptr, true), hi = bound(s, ptr, false);
    if (lo && hi && (lo->value > hi->value || (lo->value == hi->value && (lo->exclusive || hi->exclusive))))
      fail_at(child(ptr, lo->key), lo->key, " ", lo->json->dump(), " leaves no value up to ", hi->key, " ",
              hi->json->dump());
    if (integer) {
      std::optional<int64_t> ilo, ihi;
      if (lo) ilo = integer_bound(*lo, ptr, true);
      if (hi) ihi = integer_bound(*hi, ptr, false);
      if (ilo && ihi && *ilo > *ihi) fail_at(ptr, "no integer lies within the bounds");
      return integer_range_expr(ilo, ihi);
    }
    NumberBounds b;
    for (const std::optional<Bound>* x : {&lo, &hi})
      if (*x && !(std::fabs((*x)->value) <= kNumberBoundLimit))
        fail_at(child(ptr, (*x)->key), (*x)->key, " ", (*x)->json->dump(), " is beyond ±1e13");
    if (lo) b.lo = lo->value, b.lo_exclusive = lo->exclusive;
    if (hi) b.hi = hi->value, b.hi_exclusive = hi->exclusive;
    std::optional<Expr> e = number_range_expr(b);
    if (!e) fail_at(ptr, "no number lies within the bounds at a tenth's resolution");
    return std::move(*e);
  }

  // The first (or last) integer inside a bound; absent when the bound lies beyond the
  // int64 range on the open side (then no constraint is needed there).
  static std::optional<int64_t> integer_bound(const Bound& b, const std::string& ptr, bool lower) {
    constexpr double kTwo63 = 9223372036854775808.0;
    const Json& j = *b.json;
    if (j.is_number_integer() && !(j.is_number_unsigned() && j.get<uint64_t>() > uint64_t(INT64_MAX))) {
      const int64_t v = j.get<int64_t>();
      if (!b.exclusive) return v;
      if (lower) {
        if (v == INT64_MAX) fail_at(child(ptr, b.key), "no integer lies above ", b.key, " ", j.dump());
        return v + 1;
      }
      if (v == INT64_MIN) fail_at(child(ptr, b.key), "no integer lies below ", b.key, " ", j.dump());
      return v - 1;
    }
    const double x = b.value;
    double r = lower ? (b.exclusive ? std::floor(x) + 1 : std::ceil(x)) : (b.exclusive ? std::ceil(x) - 1 : std::floor(x));
    if (lower) {
      if (r < -kTwo63) return std::nullopt;
      if (r >= kTwo63) fail_at(child(ptr, b.key), b.key, " ", j.dump(), " is beyond the 64-bit integers");
    } else {
      if (r >= kTwo63) return std::nullopt;
      if (r < -kTwo63) fail_at(child(ptr, b.key), b.key, " ", j.dump(), " is beyond the 64-bit integers");
    }
    return static_cast<int64_t>(r);
  }

  Expr compile_object(const Json& s, const std::string& ptr) {
    struct Member {
      std::string key;
      uint32_t rule;
      bool required;
    };
    std::vector<Member> members;
    const Json* props = nullptr;
    if (auto it = s.find("properties"); it != s.end()) {
      if (!it->is_object()) fail_at(child(ptr, "properties"), "properties must be an object");
      props = &*it;
    }
    std::vector<std::string> required;
    if (auto it = s.find("required"); it != s.end()) {
      const std::string rp = child(ptr, "required");
      if (!it->is_array()) fail_at(rp, "required must be an array of strings");
      for (size_t i = 0; i < it->size(); ++i) {
        if (!(*it)[i].is_string()) fail_at(child(rp, i), "required must hold strings");
        const std::string name = (*it)[i].get<std::string>();
        if (std::find(required.begin(), required.end(), name) != required.end())
          fail_at(child(rp, i), "'", name, "' is required twice");
        required.push_back(name);
      }
    }
    const Json* extra = nullptr;  // absent: any value
    bool extra_allowed = true;
    if (auto it = s.find("additionalProperties"); it != s.end()) {
      if (it->is_boolean())
        extra_allowed = it->get<bool>();
      else
        extra = &*it;
    }
    std::optional<uint32_t> extra_rule;
    const auto extra_value = [&]() {
      if (!extra_rule) extra_rule = extra ? compile_rule(*extra, child(ptr, "additionalProperties")) : value_rule();
      return *extra_rule;
    };

    if (props) {
      const std::string pp = child(ptr, "properties");
      for (auto it = props->begin(); it != props->end(); ++it) {
        const bool req = std::find(required.begin(), required.end(), it.key()) != required.end();
        if (it->is_boolean() && !it->get<bool>()) {  // the property must be absent
          if (req) fail_at(child(pp, it.key()), "required property '", it.key(), "' has the schema false");
          continue;
        }
        members.push_back({it.key(), compile_rule(it.value(), child(pp, it.key())), req});
      }
    }
    // A required name outside `properties` must still be written; its value follows
    // additionalProperties.
    for (size_t i = 0; i < required.size(); ++i) {
      if (props && props->contains(required[i])) continue;
      if (!extra_allowed)
        fail_at(child(child(ptr, "required"), i), "required property '", required[i],
                "' is not in properties and additionalProperties is false");
      members.push_back({required[i], extra_value(), true});
    }

    if (members.empty()) {
      if (!extra_allowed || (props && !extra)) return seq({lit("{"), ws(), lit("}")});
      // No listed property: free string keys, values after additionalProperties.
      const Expr member = seq({string_expr(0, kUnbounded), lit(":"), ws(), Expr::ref(extra_value())});
      return seq({lit("{"), ws(),
                  optional(seq({member, Expr::repeat(seq({lit(","), ws(), member}), 0, kUnbounded), ws()})),
                  lit("}")});
    }
    // Listed properties only, in order (extra ones, even where allowed, are not
    // written). after[i]: members i.. once something was written (each after a comma);
    // first[i]: members i.. with at least one written, the first without a comma.
    const size_t n = members.size();
    const auto kv = [&](size_t i) {
      return seq({lit(Json(members[i].key).dump() + ":"), ws(), Expr::ref(members[i].rule)});
    };
    std::vector<Expr> after(n + 1);
    after[n] = lit("");
    for (size_t i = n; i-- > 0;) {
      Expr item = seq({lit(","), ws(), kv(i)});
      after[i] = seq({members[i].required ? std::move(item) : optional(std::move(item)), after[i + 1]});
    }
    std::optional<Expr> first;
    for (size_t i = n; i-- > 0;) {
      Expr here = seq({kv(i), after[i + 1]});
      if (members[i].required || !first)
        first = std::move(here);
      else
        first = Expr::choice({std::move(here), std::move(*first)});
    }
    const bool any_required = std::any_of(members.begin(), members.end(), [](const Member& m) { return m.required; });
    if (any_required) return seq({lit("{"), ws(), std::move(*first), ws(), lit("}")});
    return seq({lit("{"), ws(), optional(seq({std::move(*first), ws()})), lit("}")});
  }

  Expr compile_array(const Json& s, const std::string& ptr) {
    std::vector<uint32_t> prefix;
    std::optional<uint32_t> rest;  // absent: no items past the prefix
    const auto rest_from = [&](const char* key) {
      auto it = s.find(key);
      if (it == s.end() || (it->is_boolean() && it->get<bool>())) {
        rest = value_rule();
      } else if (it->is_boolean()) {
        rest.reset();
      } else {
        rest = compile_rule(*it, child(ptr, key));
      }
    };
    const auto prefix_from = [&](const Json& list, const std::string& lp) {
      for (size_t i = 0; i < list.size(); ++i) prefix.push_back(compile_rule(list[i], child(lp, i)));
    };
    const auto items = s.find("items");
    if (auto it = s.find("prefixItems"); it != s.end()) {
      if (!it->is_array()) fail_at(child(ptr, "prefixItems"), "prefixItems must be an array of schemas");
      if (items != s.end() && items->is_array())
        fail_at(child(ptr, "items"), "items as an array beside prefixItems is not supported");
      prefix_from(*it, child(ptr, "prefixItems"));
      rest_from("items");
    } else if (items != s.end() && items->is_array()) {  // draft-7 tuple
      prefix_from(*items, child(ptr, "items"));
      rest_from("additionalItems");
    } else {
      rest_from("items");
    }
    const auto [lo, hi_given] = counts(s, ptr, "minItems", "maxItems");
    std::optional<uint32_t> hi = hi_given;
    if (!rest) hi = std::min<uint32_t>(hi.value_or(UINT32_MAX), static_cast<uint32_t>(prefix.size()));
    if (hi && lo > *hi) fail_at(child(ptr, "minItems"), "minItems ", lo, " is more items than the schema allows (", *hi, ")");
    if (hi && *hi == 0) return seq({lit("["), ws(), lit("]")});

    const uint32_t p = static_cast<uint32_t>(prefix.size());
    const auto element = [&](uint32_t i) { return Expr::ref(i < p ? prefix[i] : *rest); };
    // tail(i): the elements from position i on, each after a comma.
    Expr tail;
    {
      uint32_t i = std::max<uint32_t>(1, p);
      if (rest && (!hi || *hi > i)) {
        const uint32_t k_min = lo > i ? lo - i : 0;
        const uint32_t k_max = hi ? *hi - i : kUnbounded;
        tail = Expr::repeat(seq({lit(","), ws(), Expr::ref(*rest)}), k_min, k_max);
      } else {
        tail = lit("");
      }
      for (uint32_t j = std::min<uint32_t>(p, hi.value_or(UINT32_MAX)); j-- > 1;) {
        Expr item = seq({lit(","), ws(), element(j), std::move(tail)});
        tail = j < lo ? std::move(item) : optional(std::move(item));
      }
    }
    Expr content = seq({element(0), std::move(tail)});
    if (lo >= 1) return seq({lit("["), ws(), std::move(content), ws(), lit("]")});
    return seq({lit("["), ws(), optional(seq({std::move(content), ws()})), lit("]")});
  }

  const Json& root_;
  Validator validator_;
  int32_t whitespace_;
  GrammarAst ast_;
  std::map<std::string, uint32_t> ref_rules_;  // $ref target pointer -> its rule
  std::set<std::string> names_;
  std::optional<uint32_t> value_rule_, char_rule_;
  static constexpr int kMaxDepth = 128;
  int depth_ = 0;
};

}  // namespace

GrammarAst json_schema_grammar(std::string_view schema_json, const JsonGrammarOptions& options) {
  if (options.whitespace < 0) fail(MMB_ERR_GRAMMAR, "whitespace must be 0 or more, not ", options.whitespace);
  Json schema;
  try {
    schema = Json::parse(schema_json.begin(), schema_json.end());
  } catch (const nlohmann::json::out_of_range& e) {  // a number beyond a double (1e400)
    fail(MMB_ERR_GRAMMAR, "schema: ", e.what());
  } catch (const nlohmann::json::parse_error& e) {
    const size_t pos = std::min<size_t>(e.byte == 0 ? 0 : e.byte - 1, schema_json.size());
    size_t line = 1, line_start = 0;
    for (size_t i = 0; i < pos; ++i)
      if (schema_json[i] == '\n') ++line, line_start = i + 1;
    std::string what = e.what();
    if (size_t c = what.find("column "); c != std::string::npos)
      if (size_t colon = what.find(": ", c); colon != std::string::npos) what = what.substr(colon + 2);
    fail(MMB_ERR_GRAMMAR, "schema line ", line, ", column ", pos - line_start + 1, ": ", what);
  }
  try {
    return Compiler(schema, options).run();
  } catch (const nlohmann::json::exception& e) {  // a value of an unexpected kind deep in a check
    fail(MMB_ERR_GRAMMAR, "schema: ", e.what());
  }
}

}  // namespace mmb::grammar
