// The mmb CLI: each subcommand lives in its own cmd_*.cpp and registers itself here.
#pragma once

#include "base/function_ref.hpp"
#include "cli_args.hpp"

#include <string>
#include <vector>

namespace mmb::cli {

using CommandFn = int (*)(const std::vector<std::string>& args);  // args after the subcommand name

struct Command {
  const char* name;
  const char* summary;  // one line for `mmb help`
  CommandFn run;
};

// Called from a static object in each cmd_*.cpp.
struct RegisterCommand {
  RegisterCommand(const char* name, const char* summary, CommandFn run);
};

const std::vector<Command>& commands();

// Prints "mmb <command>: <message>" on stderr and returns the exit code 1 (or `code`).
int report_error(const char* command, const std::string& message, int code = 1);

// The shell of a subcommand that uses Args: parses argv against `options`, prints the
// help text for --help, runs `body`, and turns a UsageError into one line on stderr
// with exit code 2 ("... (see `mmb NAME --help`)").
int run_with_args(const char* name, const std::vector<std::string>& argv, const std::vector<Option>& options,
                  const char* usage, const char* description, FunctionRef<int(const Args&)> body);

}  // namespace mmb::cli
