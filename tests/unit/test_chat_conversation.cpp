// The plan that keeps a chat's session in step with its history: what is reused,
// what is fed, when it starts over; and the saved form of a conversation.
#include <catch2/catch.hpp>

#include "base/error.hpp"
#include "chat/conversation.hpp"
#include "support/bundle_fixtures.hpp"

#include <string>
#include <vector>

using namespace mmb;

namespace {

// Bytes plus one merge, "a" + "b" -> "ab" (id 256): text read back can tokenize
// differently from the tokens a model generated.
TokenizerData bytes_with_ab() {
  TokenizerData d = test::byte_tokenizer();
  d.kind = TokenizerKind::ByteBPE;
  d.pre_tokenizer = PreTokenizer::None;
  d.pieces.push_back("ab");
  d.merges.push_back({'a', 'b'});
  d.chat_templates = {{"default", "{% for m in messages %}[{{ m.role }}]{{ m.content }}|{% endfor %}"
                                  "{% if add_generation_prompt %}[assistant]{% endif %}"}};
  return d;
}

struct Setup {
  TokenizerData data = bytes_with_ab();
  Tokenizer tokenizer{data};
  ChatTemplateSet templates{data, tokenizer};
  const ChatTemplate& chat_template = templates.find("");

  Conversation::Plan plan(const Conversation& c, bool gen, uint64_t position) const {
    return c.plan(templates, chat_template, tokenizer, gen, position);
  }
  std::vector<int32_t> encode(const std::string& text) const {
    std::vector<int32_t> ids;
    tokenizer.encode(text, true, ids);
    return ids;
  }
};

}  // namespace

TEST_CASE("A conversation feeds the whole first rendering, then only what is new", "[chat]") {
  Setup s;
  Conversation c;
  c.add("user", "hi");
  Conversation::Plan first = s.plan(c, true, 0);
  CHECK(first.rendered == "[user]hi|[assistant]");
  CHECK(first.feed == s.encode("[user]hi|[assistant]"));
  CHECK_FALSE(first.restart);
  CHECK(first.reused_tokens == 0);
  const size_t fed = first.feed.size();
  c.commit(std::move(first));
  CHECK(c.seen_tokens() == fed);

  // The model's reply as it generated it: "a" and "b" apart, which reads back as "ab".
  const std::vector<int32_t> reply = {'a', 'b', 'x'};
  c.add_reply(reply, "abx");
  c.add("user", "ok");
  Conversation::Plan second = s.plan(c, true, c.seen_tokens());
  CHECK_FALSE(second.restart);
  CHECK(second.reused_tokens == fed + reply.size());
  CHECK(second.feed == s.encode("|[user]ok|[assistant]"));
  CHECK(second.prompt_tokens == second.reused_tokens + second.feed.size());

  // Tokens that do read back the same are matched as tokens.
  Conversation same;
  same.add("user", "hi");
  same.commit(s.plan(same, true, 0));
  same.add_reply(std::vector<int32_t>{'x', 'y'}, "xy");
  same.add("user", "ok");
  const Conversation::Plan p = s.plan(same, true, same.seen_tokens());
  CHECK(p.feed == s.encode("|[user]ok|[assistant]"));
  CHECK(p.prompt_tokens == s.encode(p.rendered).size());
}

TEST_CASE("A conversation starts over when the session moved or the rendering changed", "[chat]") {
  Setup s;
  Conversation c;
  c.add("user", "hi");
  c.commit(s.plan(c, true, 0));
  // The session was stepped by someone else.
  Conversation::Plan moved = s.plan(c, true, c.seen_tokens() + 1);
  CHECK(moved.restart);
  CHECK(moved.feed == s.encode(moved.rendered));
  CHECK(moved.reused_tokens == 0);
  // Without the generation prompt the rendering no longer continues what was fed.
  Conversation::Plan shorter = s.plan(c, false, c.seen_tokens());
  CHECK(shorter.restart);
  c.commit(std::move(shorter));
  CHECK(c.seen_tokens() == s.encode("[user]hi|").size());
}

TEST_CASE("A conversation's saved form round-trips and rejects every truncation", "[chat]") {
  Setup s;
  Conversation c;
  c.add("system", std::string("nul\0inside", 10));
  c.add("user", "h\xC3\xA9");
  c.commit(s.plan(c, true, 0));
  c.add_reply(std::vector<int32_t>{'o', 256}, "oab");
  std::string bytes;
  c.to_bytes(bytes);
  const Conversation back = Conversation::from_bytes(bytes);
  std::string again;
  back.to_bytes(again);
  CHECK(again == bytes);
  REQUIRE(back.messages().size() == 3);
  CHECK(back.messages()[0].content == std::string("nul\0inside", 10));
  CHECK(back.seen_tokens() == c.seen_tokens());

  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    INFO("cut at " << cut);
    try {
      Conversation::from_bytes(std::string_view(bytes).substr(0, cut));
      FAIL("a truncated conversation loaded");
    } catch (const Error& e) {
      CHECK(e.status() == MMB_ERR_FORMAT);
    }
  }
  std::string longer = bytes + "x";
  CHECK_THROWS_AS(Conversation::from_bytes(longer), Error);
}
