// Chats through the public C API on a real bundle with a chat template: rendering,
// turns that prefill only what the session has not seen (and leave it exactly where a
// fresh session fed the whole rendering would be), starting over when the session was
// used directly, saved chats, end-of-turn tokens, and clear errors for misuse.
#include <catch2/catch.hpp>

#include "chat/conversation.hpp"
#include "support/bundle_fixtures.hpp"
#include "support/model_harness.hpp"

#include <moemamba/moemamba.h>

#include <cstring>
#include <string>
#include <vector>

using namespace mmb;
using namespace mmb::testing;

namespace {

// ChatML, as instruct models write it; the byte tokenizer has no special tokens, so
// the markers are plain text here (which keeps the expected strings readable).
const char* const kChatML =
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

struct ChatModel {
  RuntimePtr rt = make_runtime();
  ModelPtr model;

  explicit ChatModel(std::vector<ChatTemplateText> templates, std::vector<int32_t> stop_ids = {}, uint32_t vocab = 256) {
    ModelConfig shape = named_shape("tiny");
    shape.vocab_size = vocab;  // more rows than the byte tokenizer's pieces: ids without text
    SyntheticModel m = make_synthetic_model(shape, {5, DType::F32});
    m.contents.tokenizer = test::byte_tokenizer();
    m.contents.tokenizer.chat_templates = std::move(templates);
    m.contents.tokenizer.stop_ids = std::move(stop_ids);
    model = load_model(rt.get(), m);
  }
};

struct ChatDeleter {
  void operator()(mmb_chat* c) const { mmb_chat_destroy(c); }
};
using ChatPtr = std::unique_ptr<mmb_chat, ChatDeleter>;

ChatPtr make_chat(mmb_model* model) {
  mmb_chat* chat = nullptr;
  REQUIRE(mmb_chat_create(model, nullptr, &chat) == MMB_OK);
  return ChatPtr(chat);
}

struct Greedy {
  mmb_sampler* sampler = nullptr;
  Greedy() {
    mmb_sampler_params p;
    REQUIRE(mmb_sampler_params_init(&p, sizeof p) == MMB_OK);
    p.temperature = 0.0f;
    REQUIRE(mmb_sampler_create(&p, &sampler) == MMB_OK);
  }
  ~Greedy() { mmb_sampler_destroy(sampler); }
};

// What a reply streams: its text, and the bytes of its tokens as the model made them
// (the text has U+FFFD where those are not valid UTF-8; the history keeps the bytes).
struct Streamed {
  std::string text;
  std::string token_bytes;
};

int32_t collect(void* user, int32_t token, const char* text, size_t len) {
  auto* s = static_cast<Streamed*>(user);
  s->text.append(text, len);
  if (token >= 0) s->token_bytes.push_back(char(token));  // the byte tokenizer: id b is byte b
  return 1;
}

// One reply of at most `max_tokens` tokens; returns the streamed text.
Streamed reply_stream(mmb_chat* chat, int32_t max_tokens, mmb_chat_stats& stats) {
  Greedy greedy;
  mmb_generate_options o;
  REQUIRE(mmb_generate_options_init(&o, sizeof o) == MMB_OK);
  o.max_tokens = max_tokens;
  Streamed streamed;
  stats = {};
  stats.struct_size = sizeof stats;
  REQUIRE(mmb_chat_generate(chat, greedy.sampler, &o, collect, &streamed, &stats) == MMB_OK);
  return streamed;
}

std::string reply(mmb_chat* chat, int32_t max_tokens, mmb_chat_stats& stats) {
  return reply_stream(chat, max_tokens, stats).text;
}

std::string render(mmb_model* model, const std::vector<mmb_chat_message>& messages, int32_t add) {
  size_t len = 0;
  REQUIRE(mmb_chat_render(model, nullptr, messages.data(), messages.size(), add, nullptr, 0, &len) == MMB_ERR_BUFFER_TOO_SMALL);
  std::string text(len, '\0');
  REQUIRE(mmb_chat_render(model, nullptr, messages.data(), messages.size(), add, text.data(), text.size(), &len) == MMB_OK);
  return text;
}

std::vector<float> last_logits_of(mmb_model* model, const std::string& text) {
  size_t n = 0;
  mmb_tokenize(model, text.data(), text.size(), nullptr, 0, &n, MMB_TOKENIZE_PARSE_SPECIAL);
  std::vector<int32_t> ids(n);
  REQUIRE(mmb_tokenize(model, text.data(), text.size(), ids.data(), ids.size(), &n, MMB_TOKENIZE_PARSE_SPECIAL) == MMB_OK);
  SessionPtr s = make_session(model);
  std::vector<float> logits(256);
  REQUIRE(mmb_session_prefill(s.get(), ids.data(), ids.size(), logits.data(), logits.size()) == MMB_OK);
  return logits;
}

std::string message_content(const mmb_chat* chat, size_t index) {
  size_t role_len = 0, content_len = 0;
  REQUIRE(mmb_chat_get_message(chat, index, nullptr, 0, &role_len, nullptr, 0, &content_len) == MMB_ERR_BUFFER_TOO_SMALL);
  std::string role(role_len, '\0'), content(content_len, '\0');
  REQUIRE(mmb_chat_get_message(chat, index, role.data(), role.size(), &role_len, content.data(), content.size(), &content_len) == MMB_OK);
  return content;
}

}  // namespace

TEST_CASE("mmb_chat_render gives the template's text, size-then-copy", "[chat]") {
  ChatModel m(std::vector<ChatTemplateText>{{"default", kChatML}});
  const std::vector<mmb_chat_message> messages = {{"system", "Be brief."}, {"user", "Hi \"there\""}};
  CHECK(render(m.model.get(), messages, 0) == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi \"there\"<|im_end|>\n");
  CHECK(render(m.model.get(), messages, 1) ==
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi \"there\"<|im_end|>\n<|im_start|>assistant\n");
  CHECK(render(m.model.get(), {}, 1) == "<|im_start|>assistant\n");

  mmb_model_info info{};
  info.struct_size = sizeof info;
  REQUIRE(mmb_model_get_info(m.model.get(), &info) == MMB_OK);
  CHECK(info.n_chat_templates == 1);
}

TEST_CASE("A chat's second turn prefills only the new tokens and ends where a fresh session would", "[chat]") {
  ChatModel m(std::vector<ChatTemplateText>{{"default", kChatML}});
  ChatPtr chat = make_chat(m.model.get());
  REQUIRE(mmb_chat_add(chat.get(), "system", "You are a wolf.") == MMB_OK);
  REQUIRE(mmb_chat_add(chat.get(), "user", "Where is the forest?") == MMB_OK);
  mmb_chat_stats first{};
  const Streamed first_reply = reply_stream(chat.get(), 12, first);
  CHECK(first.restarted == 0);
  CHECK(first.reused_tokens == 0);
  CHECK(first.prefilled_tokens == first.prompt_tokens);
  CHECK(first.generated_tokens == 12);

  size_t count = 0;
  REQUIRE(mmb_chat_get_message_count(chat.get(), &count) == MMB_OK);
  REQUIRE(count == 3);
  CHECK(message_content(chat.get(), 2) == first_reply.token_bytes);

  REQUIRE(mmb_chat_add(chat.get(), "user", "And the river?") == MMB_OK);
  mmb_chat_stats second{};
  reply(chat.get(), 1, second);
  CHECK(second.restarted == 0);
  // Everything of turn one (prompt and reply) is reused; the new part is the end of
  // the reply's turn, the user's line and the generation prompt.
  CHECK(second.reused_tokens == first.prompt_tokens + first.generated_tokens);
  const std::string new_text = "<|im_end|>\n<|im_start|>user\nAnd the river?<|im_end|>\n<|im_start|>assistant\n";
  CHECK(second.prefilled_tokens == new_text.size());  // byte tokenizer: a token per byte
  CHECK(second.prompt_tokens == second.reused_tokens + second.prefilled_tokens);

  // The session now holds exactly the rendering of the history up to the new reply's
  // first token: compare its next logits with a fresh session fed all of it at once.
  REQUIRE(mmb_chat_add(chat.get(), "user", "Bye.") == MMB_OK);
  mmb_chat_stats third{};
  third.struct_size = sizeof third;
  REQUIRE(mmb_chat_prefill(chat.get(), &third) == MMB_OK);
  CHECK(third.restarted == 0);
  CHECK(third.generated_tokens == 0);
  std::vector<mmb_chat_message> history;
  std::vector<std::string> storage;
  REQUIRE(mmb_chat_get_message_count(chat.get(), &count) == MMB_OK);
  REQUIRE(count == 6);
  for (size_t i = 0; i < count; ++i) storage.push_back(message_content(chat.get(), i));
  const char* roles[] = {"system", "user", "assistant", "user", "assistant", "user"};
  for (size_t i = 0; i < count; ++i) history.push_back({roles[i], storage[i].c_str()});
  const std::string whole = render(m.model.get(), history, 0);
  uint64_t position = 0;
  REQUIRE(mmb_session_get_position(mmb_chat_get_session(chat.get()), &position) == MMB_OK);
  CHECK(position == whole.size());

  // One more step on both gives the same logits, bit for bit.
  const int32_t probe = 'x';
  std::vector<float> from_chat(256), fresh_prefix = last_logits_of(m.model.get(), whole);
  REQUIRE(mmb_session_step(mmb_chat_get_session(chat.get()), probe, from_chat.data(), from_chat.size()) == MMB_OK);
  const std::vector<float> fresh = last_logits_of(m.model.get(), whole + "x");
  CHECK(std::memcmp(from_chat.data(), fresh.data(), fresh.size() * sizeof(float)) == 0);
}

TEST_CASE("A chat whose session was stepped directly starts over", "[chat]") {
  ChatModel m(std::vector<ChatTemplateText>{{"default", kChatML}});
  ChatPtr chat = make_chat(m.model.get());
  REQUIRE(mmb_chat_add(chat.get(), "user", "Hello") == MMB_OK);
  mmb_chat_stats stats{};
  reply(chat.get(), 3, stats);
  REQUIRE(mmb_session_step(mmb_chat_get_session(chat.get()), 'q', nullptr, 0) == MMB_OK);
  REQUIRE(mmb_chat_add(chat.get(), "user", "Again") == MMB_OK);
  reply(chat.get(), 3, stats);
  CHECK(stats.restarted == 1);
  CHECK(stats.reused_tokens == 0);
  CHECK(stats.prefilled_tokens == stats.prompt_tokens);
}

TEST_CASE("A saved chat continues exactly as the chat it was saved from", "[chat]") {
  ChatModel m(std::vector<ChatTemplateText>{{"default", kChatML}});
  ChatPtr chat = make_chat(m.model.get());
  REQUIRE(mmb_chat_add(chat.get(), "user", "Tell me a story.") == MMB_OK);
  mmb_chat_stats stats{};
  reply(chat.get(), 8, stats);

  size_t size = 0;
  REQUIRE(mmb_chat_state_size(chat.get(), &size) == MMB_OK);
  std::vector<char> saved(size);
  size_t written = 0;
  CHECK(mmb_chat_state_save(chat.get(), saved.data(), size - 1, &written) == MMB_ERR_BUFFER_TOO_SMALL);
  REQUIRE(mmb_chat_state_save(chat.get(), saved.data(), saved.size(), &written) == MMB_OK);
  REQUIRE(written == size);

  REQUIRE(mmb_chat_add(chat.get(), "user", "Go on.") == MMB_OK);
  const std::string expected = reply(chat.get(), 8, stats);

  ChatPtr other = make_chat(m.model.get());
  REQUIRE(mmb_chat_state_load(other.get(), saved.data(), saved.size()) == MMB_OK);
  REQUIRE(mmb_chat_add(other.get(), "user", "Go on.") == MMB_OK);
  mmb_chat_stats loaded_stats{};
  CHECK(reply(other.get(), 8, loaded_stats) == expected);
  CHECK(loaded_stats.restarted == 0);
  CHECK(loaded_stats.reused_tokens == stats.reused_tokens);

  // Corrupt or foreign bytes change nothing.
  std::vector<char> bad = saved;
  bad[0] ^= 1;
  CHECK(mmb_chat_state_load(other.get(), bad.data(), bad.size()) == MMB_ERR_FORMAT);
  CHECK(mmb_chat_state_load(other.get(), saved.data(), 20) == MMB_ERR_FORMAT);
  size_t count = 0;
  REQUIRE(mmb_chat_get_message_count(other.get(), &count) == MMB_OK);
  CHECK(count == 4);
}

TEST_CASE("Templates that refuse a conversation give MMB_ERR_TEMPLATE with their message", "[chat]") {
  ChatModel m(std::vector<ChatTemplateText>{{"default", "{% if messages[0]['role'] != 'user' %}{{ raise_exception('First turn must be the user') }}{% endif %}ok"},
               {"tool_use", "tools!"}});
  const std::vector<mmb_chat_message> messages = {{"assistant", "hi"}};
  size_t len = 0;
  char buf[64];
  CHECK(mmb_chat_render(m.model.get(), nullptr, messages.data(), 1, 0, buf, sizeof buf, &len) == MMB_ERR_TEMPLATE);
  CHECK(std::string(mmb_last_error()).find("First turn must be the user") != std::string::npos);
  REQUIRE(mmb_chat_render(m.model.get(), "tool_use", messages.data(), 1, 0, buf, sizeof buf, &len) == MMB_OK);
  CHECK(std::string(buf, len) == "tools!");
  CHECK(mmb_chat_render(m.model.get(), "rag", messages.data(), 1, 0, buf, sizeof buf, &len) == MMB_ERR_UNSUPPORTED);
  CHECK(std::string(mmb_last_error()).find("\"default\", \"tool_use\"") != std::string::npos);

  ChatPtr chat = make_chat(m.model.get());
  REQUIRE(mmb_chat_add(chat.get(), "assistant", "hi") == MMB_OK);
  Greedy greedy;
  CHECK(mmb_chat_generate(chat.get(), greedy.sampler, nullptr, nullptr, nullptr, nullptr) == MMB_ERR_TEMPLATE);
  size_t count = 0;
  REQUIRE(mmb_chat_get_message_count(chat.get(), &count) == MMB_OK);
  CHECK(count == 1);  // no reply was added
}

TEST_CASE("Models without a template, templates that do not compile, and misuse", "[chat]") {
  ChatModel plain(std::vector<ChatTemplateText>{});
  mmb_chat* chat = nullptr;
  CHECK(mmb_chat_create(plain.model.get(), nullptr, &chat) == MMB_ERR_UNSUPPORTED);
  CHECK(chat == nullptr);
  CHECK(std::string(mmb_last_error()).find("no chat template") != std::string::npos);

  SyntheticModel broken = test::tiny_model(DType::F32, 5);
  broken.contents.tokenizer.chat_templates = {{"default", "{% for m in messages %}{{ m | no_such_filter }}{% endfor %}"}};
  RuntimePtr rt = make_runtime();
  const std::vector<std::byte> bytes = write_bundle_to_memory(broken.contents, {});
  mmb_model* model = nullptr;
  CHECK(mmb_model_load_memory(rt.get(), bytes.data(), bytes.size(), nullptr, &model) == MMB_ERR_UNSUPPORTED);
  CHECK(std::string(mmb_last_error()).find("no_such_filter") != std::string::npos);

  ChatModel m(std::vector<ChatTemplateText>{{"default", kChatML}});
  ChatPtr ok = make_chat(m.model.get());
  const mmb_chat_message null_content = {"user", nullptr};
  size_t len = 0;
  CHECK(mmb_chat_render(m.model.get(), nullptr, &null_content, 1, 0, nullptr, 0, &len) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(mmb_chat_render(nullptr, nullptr, nullptr, 0, 0, nullptr, 0, &len) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(mmb_chat_add(ok.get(), nullptr, "x") == MMB_ERR_INVALID_ARGUMENT);
  CHECK(mmb_chat_add(nullptr, "user", "x") == MMB_ERR_INVALID_ARGUMENT);
  CHECK(mmb_chat_generate(ok.get(), nullptr, nullptr, nullptr, nullptr, nullptr) == MMB_ERR_INVALID_ARGUMENT);
  mmb_chat_stats small{};
  small.struct_size = 4;
  CHECK(mmb_chat_prefill(ok.get(), &small) == MMB_ERR_INVALID_ARGUMENT);
  size_t role_len = 0, content_len = 0;
  CHECK(mmb_chat_get_message(ok.get(), 0, nullptr, 0, &role_len, nullptr, 0, &content_len) == MMB_ERR_INVALID_ARGUMENT);
  mmb_chat_destroy(nullptr);
  CHECK(mmb_chat_get_session(nullptr) == nullptr);
}

TEST_CASE("Generation stops at the model's end-of-turn tokens", "[chat]") {
  std::vector<int32_t> every_byte;
  for (int32_t b = 0; b < 256; ++b) every_byte.push_back(b);
  ChatModel m(std::vector<ChatTemplateText>{{"default", kChatML}}, every_byte);
  size_t n = 0;
  CHECK(mmb_model_get_stop_tokens(m.model.get(), nullptr, 0, &n) == MMB_ERR_BUFFER_TOO_SMALL);
  CHECK(n == 256);  // the tiny model has no EOS, so none is left out
  std::vector<int32_t> stops(n);
  REQUIRE(mmb_model_get_stop_tokens(m.model.get(), stops.data(), stops.size(), &n) == MMB_OK);
  CHECK(stops == every_byte);

  ChatPtr chat = make_chat(m.model.get());
  REQUIRE(mmb_chat_add(chat.get(), "user", "Say something") == MMB_OK);
  mmb_chat_stats stats{};
  CHECK(reply(chat.get(), 16, stats).empty());
  CHECK(stats.generated_tokens == 0);
}

TEST_CASE("A reply with ids that have no text still joins the history, and the next turn reuses it", "[chat]") {
  // A model's head may have rows past its tokenizer's pieces (padding); sampling can
  // pick them. They are in the session, so the history must keep the reply anyway.
  ChatModel m(std::vector<ChatTemplateText>{{"default", kChatML}}, {}, 4096);
  ChatPtr chat = make_chat(m.model.get());
  size_t count = 0;
  for (int turn = 0; turn < 3; ++turn) {
    REQUIRE(mmb_chat_add(chat.get(), "user", "Tell me more.") == MMB_OK);
    mmb_chat_stats stats{};
    reply(chat.get(), 16, stats);
    CHECK(stats.restarted == 0);
    if (turn > 0) CHECK(stats.reused_tokens > 0);
    REQUIRE(mmb_chat_get_message_count(chat.get(), &count) == MMB_OK);
    CHECK(count == size_t(2 * (turn + 1)));
  }
}
