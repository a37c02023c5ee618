// The mmb CLI: each subcommand lives in its own cmd_*.cpp and registers itself here.
#pragma once

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

}  // namespace mmb::cli
