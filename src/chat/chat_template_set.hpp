// A model's chat templates, compiled when the model loads (so a template the
// interpreter cannot run is a load error, never a wrong prompt later), with the
// token texts templates read (bos_token, eos_token).
#pragma once

#include "chat/chat_template.hpp"
#include "model/tokenizer_data.hpp"
#include "tokenizer/tokenizer.hpp"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mmb {

class ChatTemplateSet {
 public:
  // Compiles every template of `data`. Throws mmb::Error(MMB_ERR_UNSUPPORTED, "chat
  // template \"name\": ...") for one the interpreter refuses.
  ChatTemplateSet(const TokenizerData& data, const Tokenizer& tokenizer);

  size_t size() const { return templates_.size(); }
  // The template called `name` ("" or "default": the main one). Throws
  // mmb::Error(MMB_ERR_UNSUPPORTED) naming the templates there are.
  const ChatTemplate& find(std::string_view name) const;
  // Input for rendering `messages` with the model's token texts.
  ChatRenderInput input(std::span<const ChatMessage> messages, bool add_generation_prompt) const;

 private:
  std::vector<std::pair<std::string, ChatTemplate>> templates_;
  std::string bos_text_, eos_text_;
};

}  // namespace mmb
