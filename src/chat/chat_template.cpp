// ChatTemplate: compiles once (lexer, parser, checks), renders per conversation.
//
// Known differences from the reference engine (@huggingface/jinja), all outside what
// chat templates do with their messages:
//  - upper and lower map the case of ASCII, Latin-1, Latin Extended-A, Greek and
//    Cyrillic letters (not the rest of Unicode, nor Greek's final sigma);
//  - strings are UTF-8: s[i] counts code points where JavaScript counts UTF-16 units
//    (only text outside the BMP differs; slices and length agree);
//  - `count`, `d`, and `default` without parentheses are accepted (Jinja has them; the
//    reference does not);
//  - {% call %}, {% filter %} and argument unpacking are refused when compiling, as is a
//    call of anything but a global function, a macro of the template or a known method;
//  - a break or continue outside a loop is an error rather than escaping a macro.
#include "chat/chat_template.hpp"

#include "base/error.hpp"
#include "chat/jinja_interpreter.hpp"
#include "chat/jinja_parser.hpp"

namespace mmb {

struct ChatTemplate::Program {
  std::vector<jinja::NodePtr> statements;
  ChatRenderLimits limits;
};

ChatTemplate::ChatTemplate(std::string_view source, ChatRenderLimits limits) : program_(std::make_unique<Program>()) {
  program_->limits = limits;
  try {
    program_->statements = jinja::parse(source);
  } catch (const jinja::SyntaxFailure& f) {
    size_t line = 0, column = 0;
    jinja::line_and_column(source, f.offset, line, column);
    fail(MMB_ERR_FORMAT, "chat template: line ", line, ", column ", column, ": ", f.message);
  }
}

ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;

std::string ChatTemplate::render(const ChatRenderInput& input) const {
  using jinja::Value;
  jinja::List messages;
  messages.reserve(input.messages.size());
  for (const ChatMessage& m : input.messages)
    messages.push_back(Value::object({{"role", Value::string(m.role)}, {"content", Value::string(m.content)}}));
  std::vector<std::pair<std::string, Value>> variables;
  variables.reserve(4 + input.variables.size());
  variables.emplace_back("messages", Value::array(std::move(messages)));
  variables.emplace_back("add_generation_prompt", Value::of(input.add_generation_prompt));
  variables.emplace_back("bos_token", Value::string(input.bos_token));
  variables.emplace_back("eos_token", Value::string(input.eos_token));
  for (const auto& [name, value] : input.variables) variables.emplace_back(name, Value::string(value));
  try {
    return jinja::render_program(program_->statements, variables, program_->limits);
  } catch (const jinja::RenderFailure& f) {
    fail(MMB_ERR_TEMPLATE, "chat template: ", f.message);
  }
}

}  // namespace mmb
