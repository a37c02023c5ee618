// mmb_chat_*: rendering conversations with the model's chat template, and chats that
// keep a conversation and its session in step (chat/conversation.hpp plans what the
// session must take; this file feeds it through the public session calls).
#include "api/api_guard.hpp"
#include "api/api_objects.hpp"
#include "api/api_structs.hpp"

#include <cstring>
#include <new>
#include <string>
#include <vector>

using namespace mmb;

namespace {

std::vector<ChatMessage> read_messages(const mmb_chat_message* messages, size_t n) {
  if (!messages && n) fail(MMB_ERR_INVALID_ARGUMENT, "messages is NULL with n_messages = ", n);
  std::vector<ChatMessage> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (!messages[i].role || !messages[i].content) fail(MMB_ERR_INVALID_ARGUMENT, "message ", i, " has a NULL role or content");
    out.push_back({messages[i].role, messages[i].content});
  }
  return out;
}

// Size-then-copy of `bytes` (no NUL added).
void copy_out(std::string_view bytes, char* buf, size_t cap, size_t* len, const char* what) {
  *len = bytes.size();
  if (bytes.size() > cap || (!buf && !bytes.empty()))
    fail(MMB_ERR_BUFFER_TOO_SMALL, what, " needs ", bytes.size(), " bytes, buffer has ", buf ? cap : 0);
  if (!bytes.empty()) std::memcpy(buf, bytes.data(), bytes.size());
}

void check_status(mmb_status s) {
  if (s != MMB_OK) fail(s, mmb_last_error());
}

// Brings the chat's session up to date with the history; returns the plan it carried
// out. `logits` (when given) receives the last fed token's logits; a plan that feeds
// nothing then starts over, since there is no other way to get them.
Conversation::Plan bring_up_to_date(mmb_chat* chat, bool add_generation_prompt, mmb_sampler* sampler,
                                    std::vector<float>* logits, const mmb_generate_options* o) {
  const Model& model = *chat->session->model->impl;
  uint64_t position = 0;
  check_status(mmb_session_get_position(chat->session, &position));
  Conversation::Plan plan = chat->conversation.plan(model.chat_templates(), *chat->chat_template, model.tokenizer(),
                                                    add_generation_prompt, position);
  if (logits && plan.feed.empty()) {
    Conversation empty;
    plan = empty.plan(model.chat_templates(), *chat->chat_template, model.tokenizer(), add_generation_prompt, position);
    plan.restart = true;
  }
  // Ids in range; a generation from an empty rendering starts from BOS.
  if (!plan.feed.empty() || logits) api::prepare_prompt(model, plan.feed);
  if (plan.restart) check_status(mmb_session_reset(chat->session));
  if (sampler)
    for (int32_t t : plan.feed) mmb_sampler_accept(sampler, t);
  mmb_prefill_options po = api::defaults<mmb_prefill_options>();
  if (o) {
    po.progress = o->progress;
    po.progress_user_data = o->progress_user_data;
  }
  check_status(mmb_session_prefill_ex(chat->session, plan.feed.data(), plan.feed.size(), logits ? logits->data() : nullptr,
                                      logits ? logits->size() : 0, &po));
  return plan;
}

void write_stats(mmb_chat_stats* stats, const Conversation::Plan& plan, uint64_t generated) {
  if (!stats) return;
  api::check_struct_size(stats->struct_size, sizeof(mmb_chat_stats), sizeof(mmb_chat_stats), "mmb_chat_stats");
  stats->restarted = plan.restart ? 1 : 0;
  stats->prompt_tokens = plan.prompt_tokens;
  stats->reused_tokens = plan.reused_tokens;
  stats->prefilled_tokens = plan.feed.size();
  stats->generated_tokens = generated;
}

void check_stats_size(const mmb_chat_stats* stats) {
  if (stats) api::check_struct_size(stats->struct_size, sizeof(mmb_chat_stats), sizeof(mmb_chat_stats), "mmb_chat_stats");
}

constexpr char kChatMagic[8] = {'M', 'M', 'B', 'C', 'H', 'A', 'T', '1'};

}  // namespace

extern "C" {

MMB_API mmb_status mmb_chat_render(const mmb_model* model, const char* template_name, const mmb_chat_message* messages,
                                   size_t n_messages, int32_t add_generation_prompt, char* buf, size_t cap, size_t* len) {
  return api::guard([&] {
    api::require(model, "model");
    api::require(len, "len");
    const std::vector<ChatMessage> history = read_messages(messages, n_messages);
    const ChatTemplateSet& templates = model->impl->chat_templates();
    const ChatTemplate& t = templates.find(template_name ? template_name : "");
    const std::string text = t.render(templates.input(history, add_generation_prompt != 0));
    copy_out(text, buf, cap, len, "the rendered conversation");
  });
}

MMB_API mmb_status mmb_chat_options_init(mmb_chat_options* options, size_t struct_size) {
  return api::init_struct(options, struct_size);
}

MMB_API mmb_status mmb_chat_create(mmb_model* model, const mmb_chat_options* options, mmb_chat** out) {
  return api::guard([&] {
    api::require(model, "model");
    api::require(out, "out");
    const mmb_chat_options o = api::read_struct(options);
    const ChatTemplate& t = model->impl->chat_templates().find(o.template_name ? o.template_name : "");
    auto chat = std::make_unique<mmb_chat>();
    chat->chat_template = &t;
    check_status(mmb_session_create(model, o.session, &chat->session));
    *out = chat.release();
  });
}

MMB_API void mmb_chat_destroy(mmb_chat* chat) {
  if (!chat) return;
  mmb_session_destroy(chat->session);
  delete chat;
}

MMB_API mmb_session* mmb_chat_get_session(mmb_chat* chat) { return chat ? chat->session : nullptr; }

MMB_API mmb_status mmb_chat_add(mmb_chat* chat, const char* role, const char* content) {
  return api::guard([&] {
    api::require(chat, "chat");
    api::require(role, "role");
    api::require(content, "content");
    chat->conversation.add(role, content);
  });
}

MMB_API mmb_status mmb_chat_get_message_count(const mmb_chat* chat, size_t* count) {
  return api::guard([&] {
    api::require(chat, "chat");
    api::require(count, "count");
    *count = chat->conversation.messages().size();
  });
}

MMB_API mmb_status mmb_chat_get_message(const mmb_chat* chat, size_t index, char* role, size_t role_cap, size_t* role_len,
                                        char* content, size_t content_cap, size_t* content_len) {
  return api::guard([&] {
    api::require(chat, "chat");
    api::require(role_len, "role_len");
    api::require(content_len, "content_len");
    const auto& messages = chat->conversation.messages();
    if (index >= messages.size()) fail(MMB_ERR_INVALID_ARGUMENT, "message ", index, " of ", messages.size());
    const ChatMessage& m = messages[index];
    *role_len = m.role.size();
    *content_len = m.content.size();
    const bool role_fits = m.role.size() <= role_cap && (role || m.role.empty());
    const bool content_fits = m.content.size() <= content_cap && (content || m.content.empty());
    if (!role_fits || !content_fits)
      fail(MMB_ERR_BUFFER_TOO_SMALL, "message ", index, " needs ", m.role.size(), " bytes of role and ", m.content.size(),
           " of content");
    copy_out(m.role, role, role_cap, role_len, "the role");
    copy_out(m.content, content, content_cap, content_len, "the content");
  });
}

MMB_API mmb_status mmb_chat_prefill(mmb_chat* chat, mmb_chat_stats* stats) {
  return api::guard([&] {
    api::require(chat, "chat");
    check_stats_size(stats);
    api::SessionUse use(chat->session);
    Conversation::Plan plan = bring_up_to_date(chat, false, nullptr, nullptr, nullptr);
    write_stats(stats, plan, 0);
    chat->conversation.commit(std::move(plan));
  });
}

MMB_API mmb_status mmb_chat_generate(mmb_chat* chat, mmb_sampler* sampler, const mmb_generate_options* options,
                                     mmb_token_callback cb, void* user_data, mmb_chat_stats* stats) {
  return api::guard([&] {
    api::require(chat, "chat");
    api::require(sampler, "sampler");
    check_stats_size(stats);
    const mmb_generate_options o = api::read_struct(options);
    if (o.max_tokens < 0) fail(MMB_ERR_INVALID_ARGUMENT, "max_tokens ", o.max_tokens, " is negative");
    api::SessionUse use(chat->session);
    const Model& model = *chat->session->model->impl;
    std::vector<float> logits(model.config().vocab_size);
    Conversation::Plan plan = bring_up_to_date(chat, true, sampler, &logits, &o);
    const int32_t last_fed = plan.feed.empty() ? -1 : plan.feed.back();
    write_stats(stats, plan, 0);
    chat->conversation.commit(std::move(plan));

    // The reply joins the history whatever ends it (a callback that stops early too),
    // since its tokens are in the session.
    std::vector<int32_t> reply;
    struct Record {
      Conversation& conversation;
      const Tokenizer& tokenizer;
      std::vector<int32_t>& reply;
      ~Record() {
        std::string text;
        try {
          // Ids the model can output without a tokenizer piece (a padded head) have no text.
          std::vector<int32_t> with_text;
          for (int32_t t : reply)
            if (t < tokenizer.n_pieces()) with_text.push_back(t);
          tokenizer.decode(with_text, text);
          conversation.add_reply(reply, std::move(text));
        } catch (...) {
          // Out of memory while recording: the next turn sees the session out of step and starts over.
        }
      }
    } record{chat->conversation, model.tokenizer(), reply};
    api::sample_reply(chat->session, sampler, logits, o, cb, user_data, last_fed, &reply);
    if (stats) stats->generated_tokens = reply.size();
  });
}

MMB_API mmb_status mmb_chat_reset(mmb_chat* chat) {
  return api::guard([&] {
    api::require(chat, "chat");
    check_status(mmb_session_reset(chat->session));
    chat->conversation.clear();
  });
}

MMB_API mmb_status mmb_chat_state_size(const mmb_chat* chat, size_t* bytes) {
  return api::guard([&] {
    api::require(chat, "chat");
    api::require(bytes, "bytes");
    std::string conversation;
    chat->conversation.to_bytes(conversation);
    size_t session_bytes = 0;
    check_status(mmb_session_state_size(chat->session, &session_bytes));
    *bytes = sizeof kChatMagic + 8 + conversation.size() + session_bytes;
  });
}

MMB_API mmb_status mmb_chat_state_save(const mmb_chat* chat, void* buf, size_t cap, size_t* written) {
  return api::guard([&] {
    api::require(chat, "chat");
    api::require(written, "written");
    std::string head(kChatMagic, sizeof kChatMagic);
    std::string conversation;
    chat->conversation.to_bytes(conversation);
    for (int i = 0; i < 8; ++i) head.push_back(char(uint8_t(uint64_t(conversation.size()) >> (8 * i))));
    head += conversation;
    size_t session_bytes = 0;
    check_status(mmb_session_state_size(chat->session, &session_bytes));
    *written = head.size() + session_bytes;
    if (!buf || cap < *written) fail(MMB_ERR_BUFFER_TOO_SMALL, "the chat state needs ", *written, " bytes, buffer has ", buf ? cap : 0);
    std::memcpy(buf, head.data(), head.size());
    size_t session_written = 0;
    check_status(mmb_session_state_save(chat->session, static_cast<char*>(buf) + head.size(), cap - head.size(), &session_written));
    *written = head.size() + session_written;
  });
}

MMB_API mmb_status mmb_chat_state_load(mmb_chat* chat, const void* buf, size_t size) {
  return api::guard([&] {
    api::require(chat, "chat");
    if (!buf) fail(MMB_ERR_INVALID_ARGUMENT, "buf is NULL");
    const std::string_view bytes(static_cast<const char*>(buf), size);
    if (bytes.size() < sizeof kChatMagic + 8 || std::memcmp(bytes.data(), kChatMagic, sizeof kChatMagic) != 0)
      fail(MMB_ERR_FORMAT, "not a saved chat (no MMBCHAT1 header)");
    uint64_t n = 0;
    for (int i = 0; i < 8; ++i) n |= uint64_t(uint8_t(bytes[sizeof kChatMagic + size_t(i)])) << (8 * i);
    const size_t head = sizeof kChatMagic + 8;
    if (n > bytes.size() - head) fail(MMB_ERR_FORMAT, "saved chat: its history of ", n, " bytes runs past the end");
    Conversation conversation = Conversation::from_bytes(bytes.substr(head, size_t(n)));
    check_status(mmb_session_state_load(chat->session, bytes.data() + head + n, bytes.size() - head - size_t(n)));
    chat->conversation = std::move(conversation);
  });
}

}  // extern "C"
