// Command-line arguments of an mmb subcommand: options declared up front, parsed once,
// read back through typed getters. Every mistake is a UsageError whose message is one
// line naming the option and what was expected, for the command to print and exit.
//
//   const std::vector<mmb::cli::Option> options = {
//       {"prompt", "TEXT", "text to continue"},
//       {"max-tokens", "N", "most tokens to generate (default 128)"},
//       {"no-bos", nullptr, "do not prepend the BOS token"}};
//   mmb::cli::Args args(argv, options);
//   if (args.help()) { std::fputs(mmb::cli::help_text("mmb generate BUNDLE [options]", "...", options).c_str(), stdout); return 0; }
//   args.expect_positionals(1, 1, "BUNDLE");
//   int64_t n = args.get_int("max-tokens", 128, 0, 1 << 20);
//
// Syntax: "--name VALUE", "--name=VALUE", "--flag", positionals anywhere, "--" ends the
// options (everything after it is positional), "-h" / "--help" anywhere asks for help.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace mmb::cli {

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Option {
  const char* name;         // without the leading "--": "max-tokens"
  const char* value;        // placeholder shown in help ("N"); nullptr: a flag without value
  const char* help;         // one line
  bool repeatable = false;  // may be given more than once (read with get_all)
};

class Args {
 public:
  // Throws UsageError for an unknown option, a missing value, a value given to a flag,
  // or an option that is not repeatable given twice. With -h / --help anywhere (before
  // "--") nothing else is checked and help() is true.
  Args(const std::vector<std::string>& argv, const std::vector<Option>& options);

  bool help() const { return help_; }

  // Throws UsageError unless min <= count <= max; `names` describes them ("BUNDLE").
  void expect_positionals(size_t min, size_t max, const char* names) const;
  const std::vector<std::string>& positionals() const { return positionals_; }

  // Whether the option was given (a flag, or an option with a value).
  bool has(std::string_view name) const;

  // The option's value (the last one for a repeatable option), or nullopt/fallback when
  // absent. `name` must be a declared option (else std::logic_error: a bug in the command).
  std::optional<std::string> get(std::string_view name) const;
  std::string get_string(std::string_view name, std::string_view fallback) const;
  std::vector<std::string> get_all(std::string_view name) const;
  // Throws UsageError "--name is required" when absent.
  std::string require(std::string_view name) const;

  // Typed values; a malformed or out-of-range value is a UsageError naming the option.
  int64_t get_int(std::string_view name, int64_t fallback, int64_t min, int64_t max) const;
  uint64_t get_uint64(std::string_view name, uint64_t fallback) const;
  double get_double(std::string_view name, double fallback, double min, double max) const;

 private:
  const Option& declared(std::string_view name) const;

  std::vector<Option> options_;
  std::vector<std::pair<std::string, std::string>> given_;  // (name, value) in order
  std::vector<std::string> positionals_;
  bool help_ = false;
};

// Strict number parsing (the whole text, no trailing bytes). `what` names the value in
// the UsageError message ("--top-k", "token 3 of --tokens").
int64_t parse_int(std::string_view text, const std::string& what);
double parse_double(std::string_view text, const std::string& what);
// "1,2, 3" -> {1, 2, 3}; empty items are errors.
std::vector<int64_t> parse_int_list(std::string_view text, const std::string& what);

// "usage: <usage_line>\n\n<description>\n\noptions:\n  --name VALUE  help\n ..."
std::string help_text(std::string_view usage_line, std::string_view description, const std::vector<Option>& options);

}  // namespace mmb::cli
