// Strict reading of the JSON that `mmb pack` takes in (config.json, safetensors
// headers, shard indexes): duplicate keys are errors rather than "last one wins",
// every field is type-checked, and every message names the file and the field
// ("config.json: layers[3].d_ff: expected an integer in [1, 4194304], got -2").
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>

namespace mmb {

// The whole file as text. Throws mmb::Error(MMB_ERR_IO) naming the path.
std::string read_text_file(const std::string& path);

// Parses `text`; throws mmb::Error(MMB_ERR_FORMAT) starting with `what` on invalid
// JSON (with the byte offset), invalid UTF-8 or a key repeated within one object.
nlohmann::json parse_json_strict(std::string_view text, const std::string& what);

// Python's json module writes the floats JSON lacks as bare NaN, Infinity and
// -Infinity (transformers' config.json: "time_step_limit": [0.0, Infinity]). This
// returns `text` with each such token outside strings replaced by transformers 5's
// spelling of the same value, {"__float__": "Infinity"}, which parses as JSON;
// python_float() reads either form back.
std::string with_python_floats_spelled_out(std::string_view text);

// A number, or a {"__float__": "Infinity" | "-Infinity" | "NaN"} object; nullopt for
// anything else.
std::optional<double> python_float(const nlohmann::json& value);

// Names a JSON value for messages: "config.json: layers[3]".
std::string json_type_name(const nlohmann::json& value);

// Typed access to the fields of one JSON object. `where` prefixes every message.
// Reads are recorded so that reject_unknown() can name the keys nobody asked for
// (a typo such as "n_expert" must not silently fall back to a default).
class JsonFields {
 public:
  JsonFields(const nlohmann::json& object, std::string where);

  const std::string& where() const { return where_; }
  bool has(std::string_view key) const;
  // Present and not null (marked as read): Python config classes read None as their default.
  bool given(std::string_view key);
  // The raw value (marked as read); throws when the key is missing.
  const nlohmann::json& value(std::string_view key);

  // Integers: the JSON token must be an integer within [lo, hi].
  uint64_t integer(std::string_view key, uint64_t lo, uint64_t hi);
  uint64_t integer(std::string_view key, uint64_t lo, uint64_t hi, uint64_t fallback);
  // Any finite JSON number within [lo, hi].
  double number(std::string_view key, double lo, double hi);
  double number(std::string_view key, double lo, double hi, double fallback);
  bool boolean(std::string_view key);
  bool boolean(std::string_view key, bool fallback);
  std::string string(std::string_view key);
  std::string string(std::string_view key, const std::string& fallback);
  // One of `names`; returns its index.
  size_t choice(std::string_view key, std::span<const std::string_view> names);
  size_t choice(std::string_view key, std::span<const std::string_view> names, size_t fallback);

  // Throws naming every key that was never read.
  void reject_unknown() const;

  // "where.key" for messages about a field.
  std::string field(std::string_view key) const;

 private:
  const nlohmann::json* find(std::string_view key);
  const nlohmann::json& object_;
  std::string where_;
  std::set<std::string, std::less<>> read_;
};

}  // namespace mmb
