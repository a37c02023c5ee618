// POSIX (posix_spawn of the Python kit); Windows: kit_converter_windows.cpp.
#ifndef _WIN32
#include "kit_converter.hpp"

#include "base/error.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace mmb::cli {

namespace fs = std::filesystem;

namespace {

constexpr const char* kInstallHint = "set MMB_PYTHON to a python3 that has PyTorch (Debian: apt-get install python3-torch)";

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

bool is_kit(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / "moemamba_kit" / "convert" / "__main__.py", ec);
}

std::string kit_path() {
  if (const char* v = std::getenv("MMB_KIT_PATH"); v && *v) {
    if (!is_kit(v)) fail(MMB_ERR_UNSUPPORTED, "MMB_KIT_PATH=", v, " does not hold moemamba_kit/convert");
    return v;
  }
  std::error_code ec;
  fs::path dir = fs::read_symlink("/proc/self/exe", ec).parent_path();
  for (int up = 0; !ec && !dir.empty() && up < 8; ++up, dir = dir.parent_path()) {
    for (const char* sub : {"sdk/python", "share/moemamba/python"})
      if (is_kit(dir / sub)) return (dir / sub).string();
    if (dir == dir.root_path()) break;
  }
  fail(MMB_ERR_UNSUPPORTED, "the authoring kit (moemamba_kit) was not found beside mmb: set MMB_KIT_PATH to the folder holding it (sdk/python)");
}

std::string last_lines(const std::string& text, size_t n) {
  size_t end = text.find_last_not_of("\n ");
  if (end == std::string::npos) return "";
  size_t start = end + 1;
  for (size_t lines = 0; lines < n && start > 0; ++lines) {
    const size_t nl = text.rfind('\n', start - 1);
    start = nl == std::string::npos ? 0 : nl;
  }
  return text.substr(start == 0 ? 0 : start + 1, end + 1 - (start == 0 ? 0 : start + 1));
}

struct SpawnActions {
  posix_spawn_file_actions_t actions;
  SpawnActions() { posix_spawn_file_actions_init(&actions); }
  ~SpawnActions() { posix_spawn_file_actions_destroy(&actions); }
};

}  // namespace

std::string run_kit_converter(const std::string& input, const std::string& out_dir) {
  const std::string python = env_or("MMB_PYTHON", "/usr/bin/python3");
  if (access(python.c_str(), X_OK) != 0)
    fail(MMB_ERR_UNSUPPORTED, "reading a PyTorch pickle needs Python, and ", python, " is not an executable: ", kInstallHint);
  const std::string kit = kit_path();

  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "PYTHONPATH=", 11) != 0) env_strings.emplace_back(*e);
  const std::string old_path = env_or("PYTHONPATH", "");
  env_strings.push_back("PYTHONPATH=" + kit + (old_path.empty() ? "" : ":" + old_path));
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> arg_strings = {python, "-m", "moemamba_kit.convert", input, "-o", out_dir};
  std::vector<char*> argv;
  for (auto& s : arg_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  // stdout and stderr into one pipe: the report on success, the reason on failure.
  int fds[2];
  if (pipe(fds) != 0) fail(MMB_ERR_INTERNAL, "pipe: ", std::strerror(errno));
  SpawnActions sa;
  posix_spawn_file_actions_addclose(&sa.actions, fds[0]);
  posix_spawn_file_actions_adddup2(&sa.actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&sa.actions, fds[1], STDERR_FILENO);
  posix_spawn_file_actions_addclose(&sa.actions, fds[1]);
  pid_t pid = 0;
  const int spawn_error = posix_spawn(&pid, python.c_str(), &sa.actions, nullptr, argv.data(), envp.data());
  close(fds[1]);
  if (spawn_error != 0) {
    close(fds[0]);
    fail(MMB_ERR_UNSUPPORTED, "cannot start ", python, ": ", std::strerror(spawn_error), "; ", kInstallHint);
  }
  std::string output;
  char buf[4096];
  for (;;) {
    const ssize_t n = read(fds[0], buf, sizeof buf);
    if (n > 0) output.append(buf, size_t(n));
    else if (n == 0 || errno != EINTR) break;
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (code == 0) return last_lines(output, 1);
  std::string reason = last_lines(output, 1);
  const std::string prefix = "moemamba_kit.convert: ";
  if (reason.rfind(prefix, 0) == 0) reason.erase(0, prefix.size());
  if (code == 1) fail(MMB_ERR_FORMAT, reason);
  if (code == 3) fail(MMB_ERR_UNSUPPORTED, reason);
  fail(MMB_ERR_INTERNAL, python, " -m moemamba_kit.convert failed (", WIFEXITED(status) ? "exit " + std::to_string(code) : std::string("killed"),
       "): ", last_lines(output, 6));
}

}  // namespace mmb::cli
#endif
