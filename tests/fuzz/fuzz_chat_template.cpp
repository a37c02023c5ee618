// A model's chat template is text from a downloaded tokenizer_config.json: any input is
// compiled as a template and, when it compiles, rendered for a small fixed
// conversation under tight limits. mmb::Error is the interpreter's way to refuse a
// template or stop a render; anything else escaping, a hang, or a sanitizer report is
// a finding.
#include "chat/chat_template.hpp"

#include "base/error.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<mmb::ChatMessage> messages = {
      {"system", "Be brief."},
      {"user", "Hi {{ x }} \"q\"\n caf\xc3\xa9"},
      {"assistant", "<think>a</think> Hello"},
      {"tool", ""},
      {"user", "again"},
  };
  mmb::ChatRenderLimits limits;
  limits.max_output_bytes = 1 << 16;
  limits.max_steps = 20000;
  limits.max_depth = 16;
  const std::string_view source(reinterpret_cast<const char*>(data), size);
  try {
    const mmb::ChatTemplate chat_template(source, limits);
    for (bool generation : {false, true}) {
      mmb::ChatRenderInput input;
      input.messages = messages;
      input.add_generation_prompt = generation;
      input.bos_token = "<s>";
      input.eos_token = "</s>";
      input.variables = {{"date_string", "26 Jul 2024"}};
      try {
        const std::string text = chat_template.render(input);
        if (text.size() > limits.max_output_bytes) {
          std::fprintf(stderr, "a render of %zu bytes passed its limit\n", text.size());
          std::abort();
        }
      } catch (const mmb::Error& e) {
        if (e.status() != MMB_ERR_TEMPLATE) {
          std::fprintf(stderr, "a render failed with status %d: %s\n", int(e.status()), e.what());
          std::abort();
        }
      }
    }
  } catch (const mmb::Error& e) {
    if (e.status() != MMB_ERR_FORMAT) {
      std::fprintf(stderr, "compiling failed with status %d: %s\n", int(e.status()), e.what());
      std::abort();
    }
  }
  return 0;
}
