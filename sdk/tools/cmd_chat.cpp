// mmb chat: talk to an instruct model in its own prompt format (the chat template in
// its bundle). Interactive over stdin, each reply streamed as it is generated, only
// the new turn's tokens computed; or --render: print the prompt a conversation makes.
#include "api_handles.hpp"
#include "base/replacing_file.hpp"
#include "cli_args.hpp"
#include "command.hpp"
#include "sampler_args.hpp"

#include <moemamba/moemamba.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace mmb::cli {
namespace {

const char* const kName = "chat";
const char* const kUsage = "mmb chat BUNDLE [options]\n       mmb chat BUNDLE --render MESSAGES.json [--add-generation-prompt]";
const char* const kDescription =
    "Talks to the model in BUNDLE through its chat template: each line read from stdin is a\n"
    "user turn, and the reply streams to stdout. Only the tokens the session has not seen\n"
    "are computed for each turn. Lines starting with / are commands:\n"
    "  /reset       start a new conversation (the system prompt stays)\n"
    "  /save FILE   save the conversation and the session's state\n"
    "  /load FILE   continue a saved conversation\n"
    "  /quit        end (so does the end of input)\n"
    "With --render, prints exactly the prompt text the template makes of MESSAGES.json (an\n"
    "OpenAI-style [{\"role\": ..., \"content\": ...}] list) and nothing else; a template that\n"
    "refuses the conversation makes the command fail with the template's message.";

const std::vector<Option> kOptions = with_sampler_options({
    {"render", "FILE", "print the prompt the template makes of the messages in FILE, then exit"},
    {"add-generation-prompt", nullptr, "with --render: end with the opening of the assistant's turn"},
    {"template", "NAME", "a named chat template of the bundle (default: its main one)"},
    {"system", "TEXT", "a system message at the start of the conversation"},
    {"max-tokens", "N", "most tokens per reply (default 512)"},
    {"threads", "N", "compute threads; 0 = one per core (default)"},
    {"backend", "NAME", "auto (default), cpu or cuda"},
    {"stats", nullptr, "after each reply, print on stderr the tokens reused, prefilled and generated"},
});

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The messages of an OpenAI-style JSON list; the strings stay alive in `storage`.
std::vector<mmb_chat_message> read_messages(const std::string& path, std::vector<std::string>& storage) {
  nlohmann::json list;
  try {
    list = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(path + ": not valid JSON (" + e.what() + ")");
  }
  if (!list.is_array()) throw std::runtime_error(path + ": expected a list of messages");
  storage.reserve(2 * list.size());
  for (size_t i = 0; i < list.size(); ++i) {
    const nlohmann::json& m = list[i];
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content") || !m["content"].is_string())
      throw std::runtime_error(path + ": message " + std::to_string(i) + " needs a string \"role\" and a string \"content\"");
    storage.push_back(m["role"].get<std::string>());
    storage.push_back(m["content"].get<std::string>());
  }
  std::vector<mmb_chat_message> messages;
  for (size_t i = 0; i < storage.size(); i += 2) messages.push_back({storage[i].c_str(), storage[i + 1].c_str()});
  return messages;
}

int render(const Args& args, const LoadedModel& loaded) {
  std::vector<std::string> storage;
  const std::vector<mmb_chat_message> messages = read_messages(args.require("render"), storage);
  const std::string name = args.get_string("template", "");
  const char* template_name = name.empty() ? nullptr : name.c_str();
  const int32_t add = args.has("add-generation-prompt") ? 1 : 0;
  size_t len = 0;
  mmb_status s = mmb_chat_render(loaded.model.get(), template_name, messages.data(), messages.size(), add, nullptr, 0, &len);
  if (s != MMB_ERR_BUFFER_TOO_SMALL) check(s, "rendering the conversation");
  std::string text(len, '\0');
  check(mmb_chat_render(loaded.model.get(), template_name, messages.data(), messages.size(), add, text.data(), text.size(), &len),
        "rendering the conversation");
  std::fwrite(text.data(), 1, len, stdout);
  return 0;
}

// Ctrl-C during a reply stops it (the reply so far stays in the conversation).
volatile std::sig_atomic_t interrupted = 0;
void on_interrupt(int) { interrupted = 1; }

int32_t on_token(void*, int32_t, const char* text, size_t len) {
  if (len > 0) std::fwrite(text, 1, len, stdout);
  std::fflush(stdout);
  return interrupted ? 0 : 1;
}
int32_t on_progress(void*, uint64_t, uint64_t) { return interrupted ? 0 : 1; }

void save_chat(const mmb_chat* chat, const std::string& path) {
  size_t size = 0;
  check(mmb_chat_state_size(chat, &size), "sizing the chat state");
  std::string bytes(size, '\0');
  check(mmb_chat_state_save(chat, bytes.data(), bytes.size(), &size), "saving the chat");
  // A failed save (a full disk) leaves the previous one in place.
  ReplacingFile::write_whole(path, std::string_view(bytes.data(), size));
}

void load_chat(mmb_chat* chat, const std::string& path) {
  const std::string bytes = read_file(path);
  check(mmb_chat_state_load(chat, bytes.data(), bytes.size()), "loading the chat");
}

void start(mmb_chat* chat, const std::string& system) {
  check(mmb_chat_reset(chat), "resetting the chat");
  if (!system.empty()) check(mmb_chat_add(chat, "system", system.c_str()), "adding the system message");
}

// One command line; false when the chat should end.
bool run_command(mmb_chat* chat, const std::string& line, const std::string& system) {
  std::istringstream words(line);
  std::string command, path;
  words >> command >> path;
  if (command == "/quit" || command == "/exit") return false;
  try {
    if (command == "/reset") {
      start(chat, system);
      std::fprintf(stderr, "[new conversation]\n");
    } else if ((command == "/save" || command == "/load") && !path.empty()) {
      if (command == "/save") save_chat(chat, path);
      else load_chat(chat, path);
      size_t count = 0;
      check(mmb_chat_get_message_count(chat, &count), "counting the messages");
      std::fprintf(stderr, "[%s %s: %zu messages]\n", command == "/save" ? "saved" : "loaded", path.c_str(), count);
    } else {
      std::fprintf(stderr, "[commands: /reset, /save FILE, /load FILE, /quit]\n");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "[%s]\n", e.what());  // a failed command leaves the chat as it was
  }
  return true;
}

int converse(const Args& args, const LoadedModel& loaded) {
  const mmb_sampler_params params = read_sampler_params(args);
  mmb_sampler* raw_sampler = nullptr;
  check(mmb_sampler_create(&params, &raw_sampler), "creating the sampler");
  const SamplerPtr sampler(raw_sampler);
  const std::string name = args.get_string("template", "");
  mmb_chat_options options;
  check(mmb_chat_options_init(&options, sizeof options), "filling the chat options");
  options.template_name = name.empty() ? nullptr : name.c_str();
  mmb_chat* raw_chat = nullptr;
  check(mmb_chat_create(loaded.model.get(), &options, &raw_chat), "starting the chat");
  const ChatPtr chat(raw_chat);
  const std::string system = args.get_string("system", "");
  start(chat.get(), system);

  mmb_generate_options generate;
  check(mmb_generate_options_init(&generate, sizeof generate), "filling the generate options");
  generate.max_tokens = int32_t(args.get_int("max-tokens", 512, 0, std::numeric_limits<int32_t>::max()));
  generate.progress = on_progress;
  const bool stats = args.has("stats");

  std::fprintf(stderr, "[chat: type a message and press Enter; /quit or end of input ends it]\n");
  std::string line;
  while (std::fprintf(stderr, "> "), std::getline(std::cin, line)) {
    if (line.empty()) continue;
    if (line[0] == '/') {
      if (!run_command(chat.get(), line, system)) break;
      continue;
    }
    check(mmb_chat_add(chat.get(), "user", line.c_str()), "adding the message");
    mmb_chat_stats turn{};
    turn.struct_size = sizeof turn;
    interrupted = 0;
    const auto previous = std::signal(SIGINT, on_interrupt);
    const auto begin = std::chrono::steady_clock::now();
    const mmb_status s = mmb_chat_generate(chat.get(), sampler.get(), &generate, on_token, nullptr, &turn);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
    std::signal(SIGINT, previous);
    std::fputc('\n', stdout);
    std::fflush(stdout);
    if (s != MMB_ERR_CANCELLED) check(s, "replying");
    if (stats)
      std::fprintf(stderr, "[prompt %llu tokens: %llu reused, %llu prefilled%s; %llu generated; %.2f s]\n",
                   (unsigned long long)turn.prompt_tokens, (unsigned long long)turn.reused_tokens,
                   (unsigned long long)turn.prefilled_tokens, turn.restarted ? " (started over)" : "",
                   (unsigned long long)turn.generated_tokens, seconds);
  }
  return 0;
}

int chat(const Args& args) {
  args.expect_positionals(1, 1, "BUNDLE");
  int32_t backend = MMB_BACKEND_AUTO;
  try {
    backend = parse_backend(args.get_string("backend", "auto"));
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  const LoadedModel loaded =
      load_model(args.positionals()[0], int32_t(args.get_int("threads", 0, 0, 4096)), backend);
  return args.has("render") ? render(args, loaded) : converse(args, loaded);
}

int run(const std::vector<std::string>& argv) {
  return run_with_args(kName, argv, kOptions, kUsage, kDescription, [](const Args& args) { return chat(args); });
}

const RegisterCommand registration(kName, "talk to an instruct model through its chat template (--render: print the prompt)", run);

}  // namespace
}  // namespace mmb::cli
