#include "json_fields.hpp"

#include "base/error.hpp"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

namespace mmb {

using nlohmann::json;

std::string read_text_file(const std::string& path) {
  std::FILE* in = std::fopen(path.c_str(), "rb");
  if (!in) fail(MMB_ERR_IO, path, ": cannot open: ", std::strerror(errno));
  std::string text;
  char buf[1 << 16];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, in)) > 0) text.append(buf, n);
  const bool failed = std::ferror(in);
  const int saved_errno = errno;
  std::fclose(in);
  if (failed) fail(MMB_ERR_IO, path, ": read failed: ", std::strerror(saved_errno));
  return text;
}

nlohmann::json parse_json_strict(std::string_view text, const std::string& what) {
  // keys_at[d] holds the keys seen so far in the object whose members sit at depth d.
  std::vector<std::set<std::string>> keys_at;
  std::string duplicate;
  json::parser_callback_t track_keys = [&](int depth, json::parse_event_t event, json& parsed) {
    const size_t d = size_t(depth);
    if (event == json::parse_event_t::object_start) {
      if (keys_at.size() < d + 2) keys_at.resize(d + 2);
      keys_at[d + 1].clear();
    } else if (event == json::parse_event_t::key) {
      if (keys_at.size() < d + 1) keys_at.resize(d + 1);
      if (!keys_at[d].insert(parsed.get<std::string>()).second && duplicate.empty()) duplicate = parsed.get<std::string>();
    }
    return true;
  };
  json parsed;
  try {
    parsed = json::parse(text.begin(), text.end(), track_keys);
  } catch (const json::exception& e) {
    // Drop nlohmann's "[json.exception.parse_error.101] " prefix: the rest says it all.
    std::string message = e.what();
    if (size_t close = message.find("] "); message.rfind("[json.exception", 0) == 0 && close != std::string::npos)
      message.erase(0, close + 2);
    fail(MMB_ERR_FORMAT, what, ": invalid JSON: ", message);
  }
  if (!duplicate.empty()) fail(MMB_ERR_FORMAT, what, ": key '", duplicate, "' appears twice in one object");
  return parsed;
}

std::string with_python_floats_spelled_out(std::string_view text) {
  static constexpr std::string_view kTokens[] = {"-Infinity", "Infinity", "NaN"};
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) out += text[++i];
      else if (c == '"') in_string = false;
      ++i;
      continue;
    }
    if (c == '"') in_string = true;
    bool replaced = false;
    for (std::string_view token : kTokens)
      if (text.substr(i, token.size()) == token) {
        out += cat("{\"__float__\": \"", token, "\"}");
        i += token.size();
        replaced = true;
        break;
      }
    if (!replaced) out += text[i++];
  }
  return out;
}

std::optional<double> python_float(const json& value) {
  if (value.is_number()) return value.get<double>();
  if (!value.is_object() || value.size() != 1 || !value.contains("__float__") || !value.at("__float__").is_string())
    return std::nullopt;
  const std::string s = value.at("__float__").get<std::string>();
  if (s == "Infinity") return HUGE_VAL;
  if (s == "-Infinity") return -HUGE_VAL;
  if (s == "NaN") return NAN;
  return std::nullopt;
}

std::string json_type_name(const json& value) {
  if (value.is_number_integer()) return "an integer";
  if (value.is_number_float()) return "a fractional number";
  switch (value.type()) {
    case json::value_t::null: return "null";
    case json::value_t::object: return "an object";
    case json::value_t::array: return "an array";
    case json::value_t::string: return "a string";
    case json::value_t::boolean: return "a boolean";
    default: return "an unexpected value";
  }
}

JsonFields::JsonFields(const json& object, std::string where) : object_(object), where_(std::move(where)) {
  if (!object_.is_object()) fail(MMB_ERR_FORMAT, where_, ": expected an object, got ", json_type_name(object_));
}

std::string JsonFields::field(std::string_view key) const { return cat(where_, ".", key); }

bool JsonFields::has(std::string_view key) const { return object_.find(key) != object_.end(); }

const json* JsonFields::find(std::string_view key) {
  auto it = object_.find(key);
  if (it == object_.end()) return nullptr;
  read_.emplace(key);
  return &*it;
}

bool JsonFields::given(std::string_view key) {
  const json* v = find(key);
  return v && !v->is_null();
}

const json& JsonFields::value(std::string_view key) {
  const json* v = find(key);
  if (!v) fail(MMB_ERR_FORMAT, where_, ": missing required key '", key, "'");
  return *v;
}

uint64_t JsonFields::integer(std::string_view key, uint64_t lo, uint64_t hi) {
  const json& v = value(key);
  if (v.is_number_unsigned()) {
    uint64_t x = v.get<uint64_t>();
    if (x >= lo && x <= hi) return x;
    fail(MMB_ERR_FORMAT, field(key), ": ", x, " is outside [", lo, ", ", hi, "]");
  }
  if (v.is_number_integer()) fail(MMB_ERR_FORMAT, field(key), ": ", v.get<int64_t>(), " is outside [", lo, ", ", hi, "]");
  fail(MMB_ERR_FORMAT, field(key), ": expected an integer in [", lo, ", ", hi, "], got ", json_type_name(v));
}

uint64_t JsonFields::integer(std::string_view key, uint64_t lo, uint64_t hi, uint64_t fallback) {
  return has(key) ? integer(key, lo, hi) : fallback;
}

double JsonFields::number(std::string_view key, double lo, double hi) {
  const json& v = value(key);
  if (!v.is_number()) fail(MMB_ERR_FORMAT, field(key), ": expected a number, got ", json_type_name(v));
  double x = v.get<double>();
  if (!(std::isfinite(x) && x >= lo && x <= hi)) fail(MMB_ERR_FORMAT, field(key), ": ", x, " is outside [", lo, ", ", hi, "]");
  return x;
}

double JsonFields::number(std::string_view key, double lo, double hi, double fallback) {
  return has(key) ? number(key, lo, hi) : fallback;
}

bool JsonFields::boolean(std::string_view key) {
  const json& v = value(key);
  if (!v.is_boolean()) fail(MMB_ERR_FORMAT, field(key), ": expected true or false, got ", json_type_name(v));
  return v.get<bool>();
}

bool JsonFields::boolean(std::string_view key, bool fallback) { return has(key) ? boolean(key) : fallback; }

std::string JsonFields::string(std::string_view key) {
  const json& v = value(key);
  if (!v.is_string()) fail(MMB_ERR_FORMAT, field(key), ": expected a string, got ", json_type_name(v));
  return v.get<std::string>();
}

std::string JsonFields::string(std::string_view key, const std::string& fallback) {
  return has(key) ? string(key) : fallback;
}

size_t JsonFields::choice(std::string_view key, std::span<const std::string_view> names) {
  const std::string s = string(key);
  size_t i = 0;
  for (std::string_view n : names) {
    if (n == s) return i;
    ++i;
  }
  std::string options;
  for (std::string_view n : names) options += cat(options.empty() ? "" : ", ", "\"", n, "\"");
  fail(MMB_ERR_FORMAT, field(key), ": \"", s, "\" is not one of ", options);
}

size_t JsonFields::choice(std::string_view key, std::span<const std::string_view> names, size_t fallback) {
  return has(key) ? choice(key, names) : fallback;
}

void JsonFields::reject_unknown() const {
  std::string unknown;
  for (auto it = object_.begin(); it != object_.end(); ++it)
    if (!read_.count(it.key())) unknown += cat(unknown.empty() ? "" : ", ", "'", it.key(), "'");
  if (!unknown.empty()) fail(MMB_ERR_FORMAT, where_, ": unknown key(s) ", unknown);
}

}  // namespace mmb
