// mmb: pack, inspect, verify and run moemamba bundles. `mmb help` lists the commands.
#include "command.hpp"
#include "utf8_console.hpp"

#include "base/error.hpp"
#include "moemamba/moemamba.h"

#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>

namespace mmb::cli {

static std::vector<Command>& registry() {
  static std::vector<Command> all;
  return all;
}

RegisterCommand::RegisterCommand(const char* name, const char* summary, CommandFn run) {
  registry().push_back({name, summary, run});
}

const std::vector<Command>& commands() { return registry(); }

int report_error(const char* command, const std::string& message, int code) {
  std::fprintf(stderr, "mmb %s: %s\n", command, message.c_str());
  return code;
}

int run_with_args(const char* name, const std::vector<std::string>& argv, const std::vector<Option>& options,
                  const char* usage, const char* description, FunctionRef<int(const Args&)> body) {
  try {
    const Args args(argv, options);
    if (args.help()) {
      std::fputs(help_text(usage, description, options).c_str(), stdout);
      return 0;
    }
    return body(args);
  } catch (const UsageError& e) {
    return report_error(name, std::string(e.what()) + " (see `mmb " + name + " --help`)", 2);
  }
}

}  // namespace mmb::cli

static void print_help() {
  std::printf("usage: mmb <command> [arguments]\n\ncommands:\n");
  for (const auto& c : mmb::cli::commands()) std::printf("  %-10s %s\n", c.name, c.summary);
  std::printf("\n`mmb <command> --help` describes a command; `mmb --version` prints the version.\n");
}

int main(int argc, char** argv) {
  // A closed output ends the program quietly, as it does `cat` or `ls` (`mmb inspect X |
  // head`): a shell or a test harness may have left SIGPIPE ignored, and then every write
  // to the closed pipe would fail and be reported instead.
#ifdef SIGPIPE
  std::signal(SIGPIPE, SIG_DFL);
#endif
  if (argc >= 2 && (!std::strcmp(argv[1], "--version") || !std::strcmp(argv[1], "version"))) {
    std::printf("mmb %s\n", mmb_version_string());
    return 0;
  }
  if (argc < 2 || !std::strcmp(argv[1], "help") || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    print_help();
    return argc < 2 ? 2 : 0;
  }
  for (const auto& c : mmb::cli::commands()) {
    if (std::strcmp(c.name, argv[1]) != 0) continue;
    const std::vector<std::string> all = mmb::cli::utf8_console_arguments(argc, argv);
    std::vector<std::string> args(all.begin() + 2, all.end());
    try {
      return c.run(args);
    } catch (const mmb::Error& e) {
      return mmb::cli::report_error(c.name, mmb::cat(mmb_status_string(e.status()), ": ", e.what()));
    } catch (const std::bad_alloc&) {
      return mmb::cli::report_error(c.name, "out of memory");
    } catch (const std::exception& e) {
      return mmb::cli::report_error(c.name, e.what());
    }
  }
  std::fprintf(stderr, "mmb: unknown command '%s' (try `mmb help`)\n", argv[1]);
  return 2;
}
