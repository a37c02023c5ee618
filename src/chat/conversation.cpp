#include "chat/conversation.hpp"

#include "base/error.hpp"

#include <algorithm>
#include <cstring>

namespace mmb {

void Conversation::add(std::string role, std::string content) {
  messages_.push_back({std::move(role), std::move(content)});
}

Conversation::Plan Conversation::plan(const ChatTemplateSet& templates, const ChatTemplate& chat_template,
                                      const Tokenizer& tokenizer, bool add_generation_prompt,
                                      uint64_t session_position) const {
  Plan p;
  p.rendered = chat_template.render(templates.input(messages_, add_generation_prompt));
  // Templates write the BOS text themselves where the model wants it, so the
  // rendering is tokenized with its special tokens and nothing added.
  std::vector<int32_t> all;
  tokenizer.encode(p.rendered, true, all);
  p.prompt_tokens = all.size();

  const bool in_step = session_position == seen_tokens_.size();
  if (in_step && all.size() >= seen_tokens_.size() && std::equal(seen_tokens_.begin(), seen_tokens_.end(), all.begin())) {
    // The usual case: the new rendering's tokens start with everything seen.
    p.reused_tokens = seen_tokens_.size();
    p.feed.assign(all.begin() + std::ptrdiff_t(seen_tokens_.size()), all.end());
  } else if (in_step && p.rendered.size() >= seen_text_.size() && p.rendered.compare(0, seen_text_.size(), seen_text_) == 0) {
    // The text continues, but a reply the model generated tokenizes differently
    // when read back: keep its tokens and tokenize only the new text.
    p.reused_tokens = seen_tokens_.size();
    tokenizer.encode(std::string_view(p.rendered).substr(seen_text_.size()), true, p.feed);
    p.prompt_tokens = p.reused_tokens + p.feed.size();
  } else {
    p.restart = session_position != 0 || !seen_tokens_.empty();
    p.feed = std::move(all);
  }
  return p;
}

void Conversation::commit(Plan&& p) {
  if (p.restart) seen_tokens_.clear();
  seen_tokens_.insert(seen_tokens_.end(), p.feed.begin(), p.feed.end());
  seen_text_ = std::move(p.rendered);
}

void Conversation::add_reply(std::span<const int32_t> tokens, std::string text) {
  seen_tokens_.insert(seen_tokens_.end(), tokens.begin(), tokens.end());
  seen_text_ += text;
  messages_.push_back({"assistant", std::move(text)});
}

void Conversation::clear() {
  messages_.clear();
  seen_tokens_.clear();
  seen_text_.clear();
}

namespace {

// Little-endian: 64-bit sizes (then the bytes), 32-bit tokens.
void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(char(uint8_t(v >> (8 * i))));
}
void put_size(std::string& out, uint64_t v) { put_le(out, v, 8); }
void put_text(std::string& out, std::string_view s) {
  put_size(out, s.size());
  out.append(s);
}

struct Reader {
  std::string_view in;
  uint64_t le(int bytes) {
    if (in.size() < size_t(bytes)) fail(MMB_ERR_FORMAT, "chat state: cut short");
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= uint64_t(uint8_t(in[size_t(i)])) << (8 * i);
    in.remove_prefix(size_t(bytes));
    return v;
  }
  uint64_t size() { return le(8); }
  std::string_view bytes(uint64_t n) {
    if (n > in.size()) fail(MMB_ERR_FORMAT, "chat state: a field of ", n, " bytes runs past the end");
    std::string_view s = in.substr(0, size_t(n));
    in.remove_prefix(size_t(n));
    return s;
  }
};

constexpr std::string_view kMagic = "MMBCONV1";

}  // namespace

void Conversation::to_bytes(std::string& out) const {
  out.append(kMagic);
  put_size(out, messages_.size());
  for (const ChatMessage& m : messages_) {
    put_text(out, m.role);
    put_text(out, m.content);
  }
  put_size(out, seen_tokens_.size());
  for (int32_t t : seen_tokens_) put_le(out, uint32_t(t), 4);
  put_text(out, seen_text_);
}

Conversation Conversation::from_bytes(std::string_view bytes) {
  Reader r{bytes};
  if (r.bytes(kMagic.size()) != kMagic) fail(MMB_ERR_FORMAT, "chat state: not a saved conversation");
  Conversation c;
  const uint64_t n_messages = r.size();
  if (n_messages > r.in.size() / 16) fail(MMB_ERR_FORMAT, "chat state: ", n_messages, " messages cannot fit");
  for (uint64_t i = 0; i < n_messages; ++i) {
    std::string role(r.bytes(r.size()));
    std::string content(r.bytes(r.size()));
    c.messages_.push_back({std::move(role), std::move(content)});
  }
  const uint64_t n_tokens = r.size();
  if (n_tokens > r.in.size() / 4) fail(MMB_ERR_FORMAT, "chat state: ", n_tokens, " tokens cannot fit");
  c.seen_tokens_.reserve(size_t(n_tokens));
  for (uint64_t i = 0; i < n_tokens; ++i) {
    const uint64_t t = r.le(4);
    if (t > uint64_t(INT32_MAX)) fail(MMB_ERR_FORMAT, "chat state: token ", t, " is out of range");
    c.seen_tokens_.push_back(int32_t(t));
  }
  c.seen_text_ = std::string(r.bytes(r.size()));
  if (!r.in.empty()) fail(MMB_ERR_FORMAT, "chat state: ", r.in.size(), " bytes past the end");
  return c;
}

}  // namespace mmb
