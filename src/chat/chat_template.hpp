// A model's chat template (the Jinja text in tokenizer_config.json) compiled once and
// rendered for many conversations, by an interpreter of the Jinja subset that real
// chat templates use. Every construct outside that subset is refused when the
// template is compiled, so an unsupported template is an error at load time and
// never a wrong prompt.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mmb {

struct ChatMessage {
  std::string role;     // "system", "user", "assistant", "tool", ...
  std::string content;  // the text of the turn
};

struct ChatRenderInput {
  std::span<const ChatMessage> messages;
  bool add_generation_prompt = false;
  std::string bos_token;  // the template's bos_token / eos_token variables
  std::string eos_token;
  // Further string variables a template may read (e.g. "date_string").
  std::vector<std::pair<std::string, std::string>> variables;
};

// What rendering may spend before it stops with an error (a template that loops or
// recurses without end, or builds a huge prompt).
struct ChatRenderLimits {
  size_t max_output_bytes = size_t(64) << 20;
  size_t max_steps = size_t(50) << 20;  // statements and expression nodes evaluated
  size_t max_depth = 256;               // nesting of calls, loops and macros
  // With these defaults a render stays within 512 KiB of stack (a test checks it); a
  // thread with less should lower max_depth.
};

class ChatTemplate {
 public:
  // Parses and checks `source`. Throws mmb::Error(MMB_ERR_FORMAT, "chat template:
  // line L, column C: ...") for a syntax error or a construct, filter, test or method
  // the interpreter does not have.
  explicit ChatTemplate(std::string_view source, ChatRenderLimits limits = {});
  ~ChatTemplate();
  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;

  // Renders the conversation. Throws mmb::Error(MMB_ERR_TEMPLATE, message) when the
  // template calls raise_exception(message) or runs past a limit, with "line L" of
  // where it happened. Thread-safe (const).
  std::string render(const ChatRenderInput& input) const;

 private:
  struct Program;
  std::unique_ptr<Program> program_;
};

}  // namespace mmb
