#include "bench_chat.hpp"

#include "api_handles.hpp"
#include "cli_args.hpp"
#include "command.hpp"

#include <moemamba/moemamba.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace mmb::cli {
namespace {

using Clock = std::chrono::steady_clock;

const char* const kUsage = "mmb bench chat BUNDLE [--turns N] [--reply-tokens N] [--threads N]";
const char* const kDescription =
    "Runs a scripted conversation (a system message, then N user turns with greedy replies of\n"
    "R tokens) twice: through mmb_chat, whose turns prefill only the tokens the session has\n"
    "not seen, and by re-feeding the whole rendered conversation to a fresh session each turn.\n"
    "Prints, per turn, the prompt's tokens, the tokens each way computes before replying, and\n"
    "the time to the first reply token. BUNDLE needs a chat template.";

const std::vector<Option> kOptions = {
    {"turns", "N", "user turns (default 8)"},
    {"reply-tokens", "R", "tokens per reply (default 32)"},
    {"threads", "N", "compute threads; 0 = one per core (default)"},
};

const char* const kLines[] = {
    "Good evening. I am looking for the road to the northern village; the map I bought is torn.",
    "Is it safe to travel at night, or should I wait for the morning caravan?",
    "What do the villagers trade? I carry salt, two bolts of cloth and a little silver.",
    "Tell me about the old tower on the hill. Nobody in town wanted to talk about it.",
    "I heard wolves last night. Have they attacked anyone on the road this season?",
    "Can you sell me bread and a waterskin? I can pay in coin or trade you some salt.",
    "Which of the two bridges is still standing after the spring floods?",
    "Thank you. If I come back this way, is there anything I can bring you from the north?",
};

struct FirstToken {
  Clock::time_point start, first;
  bool seen = false;
};

int32_t on_token(void* user, int32_t token, const char*, size_t) {
  auto* f = static_cast<FirstToken*>(user);
  if (!f->seen && token >= 0) {
    f->first = Clock::now();
    f->seen = true;
  }
  return 1;
}

double ms(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); }

SamplerPtr greedy_sampler() {
  mmb_sampler_params p;
  check(mmb_sampler_params_init(&p, sizeof p), "sampler parameters");
  p.temperature = 0.0f;
  mmb_sampler* s = nullptr;
  check(mmb_sampler_create(&p, &s), "creating a sampler");
  return SamplerPtr(s);
}

std::string message_text(const mmb_chat* chat, size_t index, std::string& role) {
  size_t role_len = 0, content_len = 0;
  mmb_chat_get_message(chat, index, nullptr, 0, &role_len, nullptr, 0, &content_len);
  std::string content(content_len, '\0');
  role.assign(role_len, '\0');
  check(mmb_chat_get_message(chat, index, role.data(), role.size(), &role_len, content.data(), content.size(), &content_len),
        "reading a message");
  return content;
}

int bench(const Args& args) {
  args.expect_positionals(1, 1, "BUNDLE");
  const int turns = int(args.get_int("turns", 8, 1, 1000));
  const int reply_tokens = int(args.get_int("reply-tokens", 32, 1, 100000));
  const LoadedModel loaded = load_model(args.positionals()[0], int32_t(args.get_int("threads", 0, 0, 4096)));
  mmb_model* model = loaded.model.get();

  mmb_chat* raw = nullptr;
  check(mmb_chat_create(model, nullptr, &raw), "starting a chat");
  const ChatPtr chat(raw);
  check(mmb_chat_add(chat.get(), "system", "You are Mara, the innkeeper of the Grey Goose. Answer travellers kindly and briefly."),
        "adding the system message");
  mmb_generate_options options;
  check(mmb_generate_options_init(&options, sizeof options), "generate options");
  options.max_tokens = reply_tokens;
  options.stop_at_eos = 0;  // every reply the same length, so both ways do the same work

  std::printf("chat of %d turns, replies of %d tokens, on %s\n\n", turns, reply_tokens, args.positionals()[0].c_str());
  std::printf("%4s %8s | %10s %10s %9s | %10s %9s | %7s\n", "turn", "prompt", "chat: new", "reused", "1st tok", "full: new",
              "1st tok", "speedup");
  uint64_t chat_total = 0, full_total = 0;
  double chat_ms = 0, full_ms = 0;
  for (int t = 0; t < turns; ++t) {
    check(mmb_chat_add(chat.get(), "user", kLines[size_t(t) % std::size(kLines)]), "adding a user turn");

    // The host without mmb_chat: render everything, feed it all to a fresh session.
    size_t count = 0;
    check(mmb_chat_get_message_count(chat.get(), &count), "counting messages");
    std::vector<std::string> roles(count), contents(count);
    std::vector<mmb_chat_message> history;
    for (size_t i = 0; i < count; ++i) contents[i] = message_text(chat.get(), i, roles[i]);
    for (size_t i = 0; i < count; ++i) history.push_back({roles[i].c_str(), contents[i].c_str()});
    size_t len = 0;
    mmb_chat_render(model, nullptr, history.data(), history.size(), 1, nullptr, 0, &len);
    std::string prompt(len, '\0');
    check(mmb_chat_render(model, nullptr, history.data(), history.size(), 1, prompt.data(), prompt.size(), &len), "rendering");
    const size_t prompt_tokens = tokenize(model, prompt, MMB_TOKENIZE_PARSE_SPECIAL).size();
    const SessionPtr fresh = create_session(model);
    options.tokenize_flags = MMB_TOKENIZE_PARSE_SPECIAL;
    FirstToken full;
    full.start = Clock::now();
    check(mmb_generate(fresh.get(), greedy_sampler().get(), prompt.data(), prompt.size(), &options, on_token, &full),
          "generating from the whole prompt");

    FirstToken kept;
    mmb_chat_stats stats{};
    stats.struct_size = sizeof stats;
    kept.start = Clock::now();
    check(mmb_chat_generate(chat.get(), greedy_sampler().get(), &options, on_token, &kept, &stats), "replying in the chat");

    const double kept_ms = ms(kept.start, kept.first), full_first_ms = ms(full.start, full.first);
    chat_total += stats.prefilled_tokens;
    full_total += prompt_tokens;
    chat_ms += kept_ms;
    full_ms += full_first_ms;
    std::printf("%4d %8llu | %10llu %10llu %7.1f ms | %10zu %7.1f ms | %6.1fx%s\n", t + 1,
                (unsigned long long)stats.prompt_tokens, (unsigned long long)stats.prefilled_tokens,
                (unsigned long long)stats.reused_tokens, kept_ms, prompt_tokens, full_first_ms,
                kept_ms > 0 ? full_first_ms / kept_ms : 0.0, stats.restarted ? "  (chat started over)" : "");
  }
  std::printf("\ntotal tokens computed before replies: chat %llu, full re-feed %llu (%.1fx fewer)\n",
              (unsigned long long)chat_total, (unsigned long long)full_total,
              chat_total ? double(full_total) / double(chat_total) : 0.0);
  std::printf("total time to first reply token: chat %.1f ms, full re-feed %.1f ms (%.1fx faster)\n", chat_ms, full_ms,
              chat_ms > 0 ? full_ms / chat_ms : 0.0);
  return 0;
}

}  // namespace

int run_bench_chat(const std::vector<std::string>& args) {
  return run_with_args("bench chat", args, kOptions, kUsage, kDescription, [](const Args& a) { return bench(a); });
}

}  // namespace mmb::cli
