#include "cli_args.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace mmb::cli {

namespace {

std::string quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

std::string dashed(std::string_view name) { return "--" + std::string(name); }

// Shortest readable form: 1, 0.5, 1e+06.
std::string number_text(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", x);
  return buf;
}

}  // namespace

Args::Args(const std::vector<std::string>& argv, const std::vector<Option>& options) : options_(options) {
  for (const std::string& a : argv) {
    if (a == "--") break;
    if (a == "-h" || a == "--help") {
      help_ = true;
      return;
    }
  }
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a == "--") {
      positionals_.insert(positionals_.end(), argv.begin() + std::ptrdiff_t(i) + 1, argv.end());
      break;
    }
    if (a.size() < 2 || a[0] != '-' || (a[1] != '-' && !(a[1] >= 'a' && a[1] <= 'z') && !(a[1] >= 'A' && a[1] <= 'Z'))) {
      positionals_.push_back(a);  // including "-" and negative numbers such as "-3"
      continue;
    }
    if (a[1] != '-') throw UsageError("unknown option " + quoted(a) + " (options are spelled --name)");
    const size_t eq = a.find('=');
    const std::string name = a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    const auto spec = std::find_if(options_.begin(), options_.end(), [&](const Option& o) { return name == o.name; });
    if (spec == options_.end()) throw UsageError("unknown option " + quoted(dashed(name)));
    if (!spec->repeatable && has(name)) throw UsageError(dashed(name) + " is given more than once");
    std::string value;
    if (!spec->value) {
      if (eq != std::string::npos) throw UsageError(dashed(name) + " takes no value");
    } else if (eq != std::string::npos) {
      value = a.substr(eq + 1);
    } else if (i + 1 < argv.size()) {
      value = argv[++i];
    } else {
      throw UsageError(dashed(name) + " needs a value (" + spec->value + ")");
    }
    given_.emplace_back(name, std::move(value));
  }
}

void Args::expect_positionals(size_t min, size_t max, const char* names) const {
  const size_t n = positionals_.size();
  if (n < min) throw UsageError(std::string("missing ") + names);
  if (n > max)
    throw UsageError("unexpected argument " + quoted(positionals_[max]) + " (expected " + names + ")");
}

const Option& Args::declared(std::string_view name) const {
  for (const Option& o : options_)
    if (name == o.name) return o;
  throw std::logic_error("option --" + std::string(name) + " was never declared");
}

bool Args::has(std::string_view name) const {
  declared(name);
  return std::any_of(given_.begin(), given_.end(), [&](const auto& g) { return g.first == name; });
}

std::optional<std::string> Args::get(std::string_view name) const {
  declared(name);
  for (auto it = given_.rbegin(); it != given_.rend(); ++it)
    if (it->first == name) return it->second;
  return std::nullopt;
}

std::string Args::get_string(std::string_view name, std::string_view fallback) const {
  auto v = get(name);
  return v ? *v : std::string(fallback);
}

std::vector<std::string> Args::get_all(std::string_view name) const {
  declared(name);
  std::vector<std::string> out;
  for (const auto& g : given_)
    if (g.first == name) out.push_back(g.second);
  return out;
}

std::string Args::require(std::string_view name) const {
  auto v = get(name);
  if (!v) throw UsageError(dashed(name) + " is required");
  return *v;
}

int64_t Args::get_int(std::string_view name, int64_t fallback, int64_t min, int64_t max) const {
  auto v = get(name);
  if (!v) return fallback;
  const int64_t x = parse_int(*v, dashed(name));
  if (x < min || x > max)
    throw UsageError(dashed(name) + " is " + std::to_string(x) + "; expected " + std::to_string(min) + ".." +
                     std::to_string(max));
  return x;
}

uint64_t Args::get_uint64(std::string_view name, uint64_t fallback) const {
  auto v = get(name);
  if (!v) return fallback;
  uint64_t x = 0;
  const char* end = v->data() + v->size();
  const auto [ptr, ec] = std::from_chars(v->data(), end, x);
  if (ec != std::errc() || ptr != end || v->empty())
    throw UsageError(dashed(name) + " expects an unsigned integer, got " + quoted(*v));
  return x;
}

double Args::get_double(std::string_view name, double fallback, double min, double max) const {
  auto v = get(name);
  if (!v) return fallback;
  const double x = parse_double(*v, dashed(name));
  if (!(x >= min && x <= max))
    throw UsageError(dashed(name) + " is " + *v + "; expected a value in [" + number_text(min) + ", " +
                     number_text(max) + "]");
  return x;
}

int64_t parse_int(std::string_view text, const std::string& what) {
  int64_t x = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, x);
  if (ec == std::errc::result_out_of_range) throw UsageError(what + " is out of range: " + quoted(text));
  if (ec != std::errc() || ptr != end || text.empty())
    throw UsageError(what + " expects an integer, got " + quoted(text));
  return x;
}

double parse_double(std::string_view text, const std::string& what) {
  double x = 0.0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, x);  // locale-independent
  if (ec != std::errc() || ptr != end || text.empty())
    throw UsageError(what + " expects a number, got " + quoted(text));
  if (!std::isfinite(x)) throw UsageError(what + " is not a finite number: " + quoted(text));
  return x;
}

std::vector<int64_t> parse_int_list(std::string_view text, const std::string& what) {
  std::vector<int64_t> out;
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    std::string_view item = text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    const std::string where = "item " + std::to_string(out.size() + 1) + " of " + what;
    if (item.empty()) throw UsageError(where + " is empty");
    out.push_back(parse_int(item, where));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

std::string help_text(std::string_view usage_line, std::string_view description, const std::vector<Option>& options) {
  std::string out = "usage: ";
  out.append(usage_line).append("\n");
  if (!description.empty()) out.append("\n").append(description).append("\n");
  std::vector<std::pair<std::string, std::string>> rows;
  for (const Option& o : options) {
    std::string left = dashed(o.name);
    if (o.value) left.append(" ").append(o.value);
    rows.emplace_back(std::move(left), o.help);
  }
  rows.emplace_back("--help", "show this help");
  size_t width = 0;
  for (const auto& row : rows) width = std::max(width, row.first.size());
  out.append("\noptions:\n");
  for (const auto& [left, help] : rows)
    out.append("  ").append(left).append(width - left.size() + 2, ' ').append(help).append("\n");
  return out;
}

}  // namespace mmb::cli
