// mmb tokenize: a bundle's tokenizer from the command line, through the public C API
// (what a host gets): text to ids, or ids back to text.
#include "api_handles.hpp"
#include "cli_args.hpp"
#include "command.hpp"
#include "json_fields.hpp"

#include <moemamba/moemamba.h>

#include <climits>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace mmb::cli {
namespace {

const char* const kName = "tokenize";
const char* const kUsage = "mmb tokenize BUNDLE (--text TEXT | --file FILE | --decode IDS) [options]";
const char* const kDescription =
    "Prints the token ids of the text on one line, comma-separated. By default as Hugging Face's\n"
    "encode(text): special-token text in the input (e.g. \"<|endoftext|>\") becomes its id and the\n"
    "tokens the model's template puts around a text (BOS...) are added. --no-special adds none\n"
    "(add_special_tokens=False) but still turns special-token text into its id, as Hugging Face's\n"
    "tokenizers and tokenizers.js do; --no-parse-special also encodes that text as ordinary text.\n"
    "--decode prints the text of comma-separated ids on stdout, with no newline, as a host's\n"
    "streaming detokenizer gives it: whole UTF-8 characters (U+FFFD for bytes that form none),\n"
    "special tokens as their text, and the leading space that SentencePiece-style decoders drop\n"
    "dropped only after BOS. With --raw: each token's bytes (mmb_token_to_bytes) exactly.";

const std::vector<Option> kOptions = {
    {"text", "TEXT", "the text to tokenize"},
    {"file", "FILE", "tokenize the bytes of FILE (exactly: no newline is dropped)"},
    {"decode", "IDS", "comma-separated token ids to turn back into text"},
    {"no-special", nullptr, "add no BOS/EOS or other template tokens"},
    {"no-parse-special", nullptr, "encode special-token text as ordinary text (implies --no-special)"},
    {"raw", nullptr, "with --decode: the tokens' bytes, not whole UTF-8 characters"},
};

void write_out(const std::string& bytes) {
  if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), stdout) != bytes.size())
    throw std::runtime_error("cannot write to stdout");
}

int encode(const LoadedModel& loaded, const std::string& text, uint32_t flags) {
  const std::vector<int32_t> ids = tokenize(loaded.model.get(), text, flags);
  std::string line;
  line.reserve(ids.size() * 6 + 1);
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) line += ',';
    line += std::to_string(ids[i]);
  }
  line += '\n';
  write_out(line);
  return 0;
}

int decode(const LoadedModel& loaded, const std::vector<int64_t>& ids, bool raw) {
  std::string text, buf;
  if (raw) {
    for (int64_t id : ids) {
      size_t n = 0;
      const mmb_status sized = mmb_token_to_bytes(loaded.model.get(), int32_t(id), nullptr, 0, &n);
      if (sized != MMB_ERR_BUFFER_TOO_SMALL) check(sized, "token " + std::to_string(id));
      buf.resize(n);
      check(mmb_token_to_bytes(loaded.model.get(), int32_t(id), buf.data(), buf.size(), &n), "token " + std::to_string(id));
      text.append(buf, 0, n);
    }
    write_out(text);
    return 0;
  }
  mmb_detokenizer* raw_detok = nullptr;
  check(mmb_detokenizer_create(loaded.model.get(), &raw_detok), "creating a detokenizer");
  std::unique_ptr<mmb_detokenizer, Destroyer<mmb_detokenizer_destroy>> detok(raw_detok);
  auto take = [&](auto&& call, const std::string& what) {
    size_t n = 0;
    mmb_status s = call(nullptr, size_t(0), &n);
    if (s == MMB_ERR_BUFFER_TOO_SMALL) {
      buf.resize(n);
      s = call(buf.data(), buf.size(), &n);
    }
    check(s, what);
    text.append(buf.data(), n);
  };
  for (int64_t id : ids)
    take([&](char* b, size_t cap, size_t* n) { return mmb_detokenizer_push(detok.get(), int32_t(id), b, cap, n); },
         "token " + std::to_string(id));
  take([&](char* b, size_t cap, size_t* n) { return mmb_detokenizer_flush(detok.get(), b, cap, n); }, "flushing");
  write_out(text);
  return 0;
}

int run_tokenize(const Args& args) {
  args.expect_positionals(1, 1, "BUNDLE");
  const int given = int(args.has("text")) + int(args.has("file")) + int(args.has("decode"));
  if (given != 1) throw UsageError("give one of --text, --file or --decode");
  if (args.has("raw") && !args.has("decode")) throw UsageError("--raw applies to --decode only");
  std::vector<int64_t> ids;
  if (args.has("decode")) {
    const std::string list = args.require("decode");
    if (list.find_first_not_of(" ") != std::string::npos) ids = parse_int_list(list, "--decode");
    for (int64_t id : ids)
      if (id < INT32_MIN || id > INT32_MAX) throw UsageError("--decode: token id " + std::to_string(id) + " is out of range");
  }
  const std::string text = args.has("file") ? read_text_file(args.require("file")) : args.get_string("text", "");
  const LoadedModel loaded = load_model(args.positionals()[0], 1, MMB_BACKEND_CPU);
  if (args.has("decode")) return decode(loaded, ids, args.has("raw"));
  uint32_t flags = MMB_TOKENIZE_ADD_BOS | MMB_TOKENIZE_PARSE_SPECIAL;
  if (args.has("no-special")) flags &= ~uint32_t(MMB_TOKENIZE_ADD_BOS);
  if (args.has("no-parse-special")) flags = 0;
  return encode(loaded, text, flags);
}

int run(const std::vector<std::string>& argv) {
  return run_with_args(kName, argv, kOptions, kUsage, kDescription, [](const Args& args) { return run_tokenize(args); });
}

const RegisterCommand reg(kName, "text to token ids and back with a bundle's tokenizer", run);

}  // namespace
}  // namespace mmb::cli
