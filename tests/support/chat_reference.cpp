#include "support/chat_reference.hpp"

#include "support/tokenizer_reference.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

namespace mmb::test {

nlohmann::json render_with_reference(const nlohmann::ordered_json& cases) {
  const std::string package = std::string(MMB_DEPS_DIR) + "/npm/node_modules/@huggingface/jinja";
  if (!std::filesystem::exists(package + "/package.json"))
    FAIL("@huggingface/jinja is missing from " << package << ": run sdk/scripts/setup.sh");
  ScratchDir scratch("chat_reference");
  write_bytes(scratch.path("cases.json"), cases.dump());
  run_node_script("render_reference.mjs", {package, scratch.path("cases.json"), scratch.path("results.json")}, "chat");
  return nlohmann::json::parse(read_bytes(scratch.path("results.json")));
}

}  // namespace mmb::test
