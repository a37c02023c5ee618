// mmb generate: continue a prompt, streaming the text to stdout as each token is
// chosen, then report the speed on stderr. --chat keeps the session going over lines
// read from stdin. --json-schema, --grammar and --choice constrain the output
// (structured output, moemamba.h section 9): stdout then carries exactly the text the
// grammar accepts, so that it can be piped into a parser.
#include "api_handles.hpp"
#include "cli_args.hpp"
#include "command.hpp"
#include "sampler_args.hpp"

#include "base/error.hpp"

#include <moemamba/moemamba.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <limits>
#include <string>

namespace mmb::cli {
namespace {

const char* const kName = "generate";
const char* const kUsage = "mmb generate BUNDLE --prompt TEXT [options]";
const char* const kDescription =
    "Continues TEXT with the model in BUNDLE. The text goes to stdout as each token is chosen;\n"
    "the speed goes to stderr. Ctrl-C stops the generation cleanly. With --chat, lines read\n"
    "from stdin continue the same session until an empty line or the end of input.\n"
    "\n"
    "Structured output: with --json-schema FILE, --grammar FILE (GBNF) or --choice A,B,C every\n"
    "token is chosen among those the grammar allows, and generation ends where the grammar is\n"
    "complete. stdout then holds only the generated text (e.g. a JSON document to pipe into a\n"
    "parser); everything else goes to stderr. A grammar that does not compile is reported with\n"
    "its line and column (a schema with the path of the mistake), exit status 1. Output that\n"
    "reaches --max-tokens (or Ctrl-C) before the grammar may end is an error too: the partial\n"
    "text is on stdout, the message on stderr, exit status 3.";

const std::vector<Option> kOptions = with_grammar_options(with_sampler_options({
    {"prompt", "TEXT", "the text to continue (required unless --chat)"},
    {"max-tokens", "N", "most tokens to generate per prompt (default 128)"},
    {"threads", "N", "compute threads; 0 = one per core (default)"},
    {"backend", "NAME", "auto (default), cpu or cuda"},
    {"no-bos", nullptr, "do not prepend the BOS token"},
    {"chat", nullptr, "after the prompt, read lines from stdin and continue the session"},
}));

// Exit status of a generation that stopped before its grammar could end.
constexpr int kExitGrammarUnfinished = 3;

struct Settings {
  std::string bundle;
  std::string prompt;
  bool chat = false;
  bool bos = true;
  int32_t max_tokens = 128;
  int32_t threads = 0;
  int32_t backend = MMB_BACKEND_AUTO;
  mmb_sampler_params sampler;
  GrammarArgs grammar;
};

Settings read_settings(const Args& args) {
  args.expect_positionals(1, 1, "BUNDLE");
  Settings s;
  s.bundle = args.positionals()[0];
  s.chat = args.has("chat");
  s.prompt = s.chat ? args.get_string("prompt", "") : args.require("prompt");
  s.bos = !args.has("no-bos");
  constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
  s.max_tokens = int32_t(args.get_int("max-tokens", 128, 0, kInt32Max));
  s.threads = int32_t(args.get_int("threads", 0, 0, 4096));
  try {
    s.backend = parse_backend(args.get_string("backend", "auto"));
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  s.sampler = read_sampler_params(args);
  s.grammar = read_grammar_args(args);
  return s;
}

// Ctrl-C during a generation asks the callbacks to stop; elsewhere it ends the program.
volatile std::sig_atomic_t interrupted = 0;
extern "C" void on_interrupt(int) { interrupted = 1; }

using Clock = std::chrono::steady_clock;

// What the callbacks of one mmb_generate() call see and record.
struct Turn {
  Clock::time_point start;
  Clock::time_point prompt_done;  // the prompt's prefill finished (or the first token came)
  bool prompt_seen = false;
  int64_t generated = 0;

  void mark_prompt_done() {
    if (prompt_seen) return;
    prompt_done = Clock::now();
    prompt_seen = true;
  }
};

int32_t on_progress(void* user, uint64_t done, uint64_t total) {
  if (done >= total) static_cast<Turn*>(user)->mark_prompt_done();
  return interrupted ? 0 : 1;
}

int32_t on_token(void* user, int32_t token, const char* text, size_t len) {
  auto* turn = static_cast<Turn*>(user);
  if (token >= 0) {
    turn->mark_prompt_done();
    ++turn->generated;
  }
  if (len > 0) std::fwrite(text, 1, len, stdout);
  std::fflush(stdout);
  return interrupted ? 0 : 1;
}

double per_second(double count, double seconds) { return seconds > 0.0 ? count / seconds : 0.0; }

// Continues the session with `text` and prints the speed line on stderr. With a
// grammar (its state at the start), returns false when the output stopped before the
// grammar could end.
bool run_turn(const Settings& settings, const LoadedModel& loaded, mmb_session* session, mmb_sampler* sampler,
              mmb_grammar_state* grammar, const std::string& text) {
  uint64_t position = 0;
  check(mmb_session_get_position(session, &position), "reading the session position");
  const uint32_t flags = settings.bos && position == 0 ? uint32_t(MMB_TOKENIZE_ADD_BOS) : 0u;
  const size_t prompt_tokens = tokenize(loaded.model.get(), text, flags).size();

  mmb_generate_options options;
  check(mmb_generate_options_init(&options, sizeof options), "filling the generate options");
  options.max_tokens = settings.max_tokens;
  options.tokenize_flags = flags;
  Turn turn;
  options.progress = on_progress;
  options.progress_user_data = &turn;
  options.grammar = grammar;

  interrupted = 0;
  const auto previous = std::signal(SIGINT, on_interrupt);
  turn.start = Clock::now();
  const mmb_status status = mmb_generate(session, sampler, text.data(), text.size(), &options, on_token, &turn);
  const Clock::time_point end = Clock::now();
  std::signal(SIGINT, previous);
  if (status != MMB_ERR_CANCELLED) check(status, "generating");
  if (!turn.prompt_seen) turn.prompt_done = end;

  const double prompt_s = std::chrono::duration<double>(turn.prompt_done - turn.start).count();
  const double generate_s = std::chrono::duration<double>(end - turn.prompt_done).count();
  std::fprintf(stderr, "\n[generated %lld tokens in %.2f s: %.1f tok/s; prompt %zu tokens in %.2f s: %.1f tok/s%s]\n",
               static_cast<long long>(turn.generated), generate_s, per_second(double(turn.generated), generate_s),
               prompt_tokens, prompt_s, per_second(double(prompt_tokens), prompt_s),
               interrupted ? "; interrupted" : "");
  if (!grammar) return true;
  int32_t can_end = 0;
  check(mmb_grammar_state_can_end(grammar, &can_end, nullptr), "reading the grammar state");
  if (can_end) return true;
  report_error(kName, cat("the output stopped before ", settings.grammar.describe(), " could end (",
                          interrupted ? "interrupted" : cat("--max-tokens ", settings.max_tokens, " reached"),
                          "): it is incomplete"));
  return false;
}

int generate(const Settings& settings) {
  const LoadedModel loaded = load_model(settings.bundle, settings.threads, settings.backend);
  const SessionPtr session = create_session(loaded.model.get());
  mmb_sampler* raw_sampler = nullptr;
  check(mmb_sampler_create(&settings.sampler, &raw_sampler), "creating the sampler");
  const SamplerPtr sampler(raw_sampler);
  const GrammarPtr grammar = compile_grammar(loaded.model.get(), settings.grammar);
  GrammarStatePtr state;
  if (grammar) {
    mmb_grammar_state* raw_state = nullptr;
    check(mmb_grammar_state_create(grammar.get(), &raw_state), "creating the grammar state");
    state.reset(raw_state);
  }
  // Each prompt's output follows the grammar from its start.
  auto turn = [&](const std::string& text) {
    if (state) check(mmb_grammar_state_reset(state.get()), "resetting the grammar state");
    return run_turn(settings, loaded, session.get(), sampler.get(), state.get(), text);
  };

  bool complete = true;
  if (!settings.prompt.empty()) complete = turn(settings.prompt) && complete;
  if (!settings.chat) return complete ? 0 : kExitGrammarUnfinished;

  std::fprintf(stderr, "[chat: type a line and press Enter; an empty line or end of input ends the chat]\n");
  std::string line;
  while (true) {
    std::fprintf(stderr, "> ");
    if (!std::getline(std::cin, line) || line.empty()) break;
    complete = turn(line + "\n") && complete;
  }
  return complete ? 0 : kExitGrammarUnfinished;
}

int run(const std::vector<std::string>& argv) {
  return run_with_args(kName, argv, kOptions, kUsage, kDescription,
                       [](const Args& args) { return generate(read_settings(args)); });
}

const RegisterCommand registration(kName, "continue a prompt, streaming text to stdout (--chat: interactive)", run);

}  // namespace
}  // namespace mmb::cli
