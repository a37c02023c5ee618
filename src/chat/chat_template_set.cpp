#include "chat/chat_template_set.hpp"

#include "base/error.hpp"

namespace mmb {

ChatTemplateSet::ChatTemplateSet(const TokenizerData& data, const Tokenizer& tokenizer) {
  templates_.reserve(data.chat_templates.size());
  for (const ChatTemplateText& t : data.chat_templates) {
    try {
      templates_.emplace_back(t.name, ChatTemplate(t.text));
    } catch (const Error& e) {
      fail(MMB_ERR_UNSUPPORTED, "chat template \"", t.name, "\": ", e.what());
    }
  }
  if (tokenizer.bos_id() >= 0) bos_text_ = tokenizer.piece(tokenizer.bos_id());
  if (tokenizer.eos_id() >= 0) eos_text_ = tokenizer.piece(tokenizer.eos_id());
}

const ChatTemplate& ChatTemplateSet::find(std::string_view name) const {
  if (name.empty()) name = "default";
  for (const auto& [n, t] : templates_)
    if (n == name) return t;
  if (templates_.empty()) fail(MMB_ERR_UNSUPPORTED, "the model has no chat template (its bundle was packed without one)");
  std::string names;
  for (const auto& [n, t] : templates_) names += (names.empty() ? "\"" : ", \"") + n + "\"";
  fail(MMB_ERR_UNSUPPORTED, "the model has no chat template \"", name, "\" (it has ", names, ")");
}

ChatRenderInput ChatTemplateSet::input(std::span<const ChatMessage> messages, bool add_generation_prompt) const {
  ChatRenderInput in;
  in.messages = messages;
  in.add_generation_prompt = add_generation_prompt;
  in.bos_token = bos_text_;
  in.eos_token = eos_text_;
  return in;
}

}  // namespace mmb
