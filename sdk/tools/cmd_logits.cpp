// mmb logits: step a session one token at a time and save every step's logits as a
// float32 [n_tokens, vocab] .npy file, to compare with other implementations.
#include "api_handles.hpp"
#include "cli_args.hpp"
#include "command.hpp"
#include "npy_writer.hpp"

#include <moemamba/moemamba.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace mmb::cli {
namespace {

const char* const kName = "logits";
const char* const kUsage = "mmb logits BUNDLE (--tokens IDS | --text TEXT) --out FILE.npy [options]";
const char* const kDescription =
    "Steps a fresh session through the tokens one at a time (mmb_session_step) and writes the\n"
    "logits after each as row i of a float32 [n_tokens, vocab] NumPy array (numpy.load reads it).";

const std::vector<Option> kOptions = {
    {"tokens", "IDS", "comma-separated token ids, e.g. 1,2,3"},
    {"text", "TEXT", "text to tokenize instead of --tokens"},
    {"no-bos", nullptr, "with --text: do not prepend the BOS token"},
    {"out", "FILE", "the .npy file to write (required)"},
    {"threads", "N", "compute threads; 0 = one per core (default)"},
    {"backend", "NAME", "auto (default), cpu or cuda"},
    {"kv", "TYPE", "f16 (default) or f32: the KV cache of a model with attention layers"},
};

struct Settings {
  std::string bundle;
  std::vector<int64_t> tokens;  // from --tokens; empty with --text
  std::string text;
  bool from_text = false;
  bool bos = true;
  std::string out;
  int32_t threads = 0;
  int32_t backend = MMB_BACKEND_AUTO;
  int32_t kv_type = MMB_KV_F16;
};

Settings read_settings(const Args& args) {
  args.expect_positionals(1, 1, "BUNDLE");
  Settings s;
  s.bundle = args.positionals()[0];
  s.from_text = args.has("text");
  if (s.from_text == args.has("tokens")) throw UsageError("give either --tokens or --text");
  if (s.from_text)
    s.text = args.require("text");
  else
    s.tokens = parse_int_list(args.require("tokens"), "--tokens");
  if (args.has("no-bos") && !s.from_text) throw UsageError("--no-bos applies to --text only");
  s.bos = !args.has("no-bos");
  s.out = args.require("out");
  s.threads = int32_t(args.get_int("threads", 0, 0, 4096));
  try {
    s.backend = parse_backend(args.get_string("backend", "auto"));
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  const std::string kv = args.get_string("kv", "f16");
  if (kv != "f16" && kv != "f32") throw UsageError("--kv is f16 or f32, not " + kv);
  s.kv_type = kv == "f32" ? MMB_KV_F32 : MMB_KV_F16;
  return s;
}

int write_logits(const Settings& settings) {
  const LoadedModel loaded = load_model(settings.bundle, settings.threads, settings.backend);
  const int32_t vocab = loaded.info.vocab_size;
  std::vector<int32_t> tokens;
  if (settings.from_text) {
    tokens = tokenize(loaded.model.get(), settings.text, settings.bos ? uint32_t(MMB_TOKENIZE_ADD_BOS) : 0u);
    if (tokens.empty()) throw UsageError("--text gives no tokens");
  } else {
    for (size_t i = 0; i < settings.tokens.size(); ++i) {
      const int64_t t = settings.tokens[i];
      if (t < 0 || t >= vocab)
        throw UsageError("item " + std::to_string(i + 1) + " of --tokens is " + std::to_string(t) +
                         ", outside the vocabulary [0, " + std::to_string(vocab) + ")");
      tokens.push_back(int32_t(t));
    }
  }

  mmb_session_options options;
  check(mmb_session_options_init(&options, sizeof options), "session options");
  options.kv_type = settings.kv_type;
  // Room for every token even past the model's default context.
  if (loaded.info.n_attention_layers && tokens.size() > loaded.info.context_length) options.max_context = tokens.size();
  const SessionPtr session = create_session(loaded.model.get(), &options);
  std::vector<float> row(static_cast<size_t>(vocab));
  const auto start = std::chrono::steady_clock::now();
  {
    NpyWriter npy(settings.out, {tokens.size(), uint64_t(vocab)});
    try {
      for (size_t i = 0; i < tokens.size(); ++i) {
        check(mmb_session_step(session.get(), tokens[i], row.data(), row.size()),
              "stepping token " + std::to_string(i + 1) + " (id " + std::to_string(tokens[i]) + ")");
        npy.write(row.data(), row.size());
      }
      npy.finish();
    } catch (...) {
      std::remove(settings.out.c_str());  // a short .npy would only mislead
      throw;
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr, "[wrote logits [%zu, %d] to %s; %zu steps in %.2f s]\n", tokens.size(), vocab,
               settings.out.c_str(), tokens.size(), seconds);
  return 0;
}

int run(const std::vector<std::string>& argv) {
  return run_with_args(kName, argv, kOptions, kUsage, kDescription,
                       [](const Args& args) { return write_logits(read_settings(args)); });
}

const RegisterCommand registration(kName, "step tokens one at a time and save the logits as .npy", run);

}  // namespace
}  // namespace mmb::cli
