// A conversation's history and what its session has seen so far, and the plan that
// brings the session up to date with the next rendering of the history: only the
// tokens it has not seen are computed. Knows nothing of sessions itself; the C API
// (api/api_chat.cpp) feeds the planned tokens and reports back.
#pragma once

#include "chat/chat_template.hpp"
#include "chat/chat_template_set.hpp"
#include "tokenizer/tokenizer.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mmb {

class Conversation {
 public:
  struct Plan {
    std::vector<int32_t> feed;  // tokens the session must take now
    bool restart = false;       // reset the session first: the rendering does not continue what it saw
    size_t prompt_tokens = 0;   // the whole rendering's tokens
    size_t reused_tokens = 0;   // of those, already in the session
    std::string rendered;       // the whole rendering, kept by commit()
  };

  void add(std::string role, std::string content);
  const std::vector<ChatMessage>& messages() const { return messages_; }
  size_t seen_tokens() const { return seen_tokens_.size(); }

  // Renders the history (with the generation prompt if asked) and works out what the
  // session must take. `session_position` is where the session is now: anything but
  // what this conversation fed it means it was used directly, so it starts over.
  // Throws what rendering throws (MMB_ERR_TEMPLATE).
  Plan plan(const ChatTemplateSet& templates, const ChatTemplate& chat_template, const Tokenizer& tokenizer,
            bool add_generation_prompt, uint64_t session_position) const;
  // The session took plan.feed (after a reset when plan.restart).
  void commit(Plan&& plan);
  // The session took the reply's tokens (not the end-of-turn token, which the next
  // rendering brings); the reply joins the history as an "assistant" message.
  void add_reply(std::span<const int32_t> tokens, std::string text);
  void clear();

  // The history and what the session has seen, as bytes (for saved chats), and back.
  // from_bytes throws mmb::Error(MMB_ERR_FORMAT) for anything malformed.
  void to_bytes(std::string& out) const;
  static Conversation from_bytes(std::string_view bytes);

 private:
  std::vector<ChatMessage> messages_;
  std::vector<int32_t> seen_tokens_;  // every token the session took for this conversation
  std::string seen_text_;             // the text those tokens stand for
};

}  // namespace mmb
