#include "pack.hpp"

#include "base/error.hpp"
#include "bundle/byte_source.hpp"
#include "bundle_repack.hpp"
#include "chat/chat_template.hpp"
#include "checkpoint.hpp"
#include "json_fields.hpp"
#include "tokenizer_json.hpp"

#include <chrono>
#include <filesystem>
#include <set>

namespace mmb {

namespace {

// The converters name their input generically ("tokenizer.json: ..."); messages
// should name the real file.
template <typename Convert>
auto naming_file(const std::string& path, std::string_view generic, Convert convert) {
  try {
    return convert(read_text_file(path));
  } catch (const Error& e) {
    std::string message = e.what();
    if (message.rfind(generic, 0) == 0) message.erase(0, generic.size());
    fail(e.status(), path, message.rfind(": ", 0) == 0 ? "" : ": ", message);
  }
}

// A tokenizer.json, and the files beside it when there are: special_tokens_map.json
// and tokenizer_config.json (they name BOS, EOS and PAD, which tokenizer.json alone
// leaves to convention; the config also holds chat templates and add_bos/eos_token),
// then generation_config.json (the end-of-generation tokens). `found` gets the
// summary line's note: " + " each file applied, then what the tokenizer holds.
TokenizerData read_tokenizer(const std::string& path, std::string& found) {
  TokenizerData data = naming_file(path, "tokenizer.json", [](const std::string& text) { return tokenizer_from_hf_json(text); });
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  std::vector<std::string> files;
  auto beside = [&](const char* name, const char* generic, void (*apply)(TokenizerData&, const std::string&)) {
    const std::string file = (dir / name).string();
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec)) return;
    naming_file(file, generic, [&](const std::string& text) { apply(data, text); return 0; });
    files.push_back(name);
  };
  beside("special_tokens_map.json", "tokenizer_config.json", apply_hf_tokenizer_config);
  beside("tokenizer_config.json", "tokenizer_config.json", apply_hf_tokenizer_config);
  beside("generation_config.json", "generation_config.json", apply_hf_generation_config);
  found.clear();
  for (const std::string& f : files) found += " + " + f;
  found += cat(": ", data.kind == TokenizerKind::CharBPE ? "char BPE" : "byte-level BPE", ", ", data.pieces.size(), " tokens");
  if (!data.chat_templates.empty())
    found += cat(", ", data.chat_templates.size(), data.chat_templates.size() == 1 ? " chat template" : " chat templates");
  if (!data.stop_ids.empty()) found += cat(", ", data.stop_ids.size(), data.stop_ids.size() == 1 ? " stop id" : " stop ids");
  return data;
}

void set_metadata(std::vector<std::pair<std::string, std::string>>& pairs, const std::string& key, const std::string& value) {
  for (auto& [k, v] : pairs)
    if (k == key) {
      v = value;
      return;
    }
  pairs.emplace_back(key, value);
}

// A tokenizer given on the command line replaces the input's; it must fit the
// vocabulary. The summary's tokenizer gets what was found beside it.
void use_tokenizer(BundleContents& contents, const std::string& tokenizer_path, PackSummary& summary) {
  if (!tokenizer_path.empty()) {
    contents.tokenizer = read_tokenizer(tokenizer_path, summary.tokenizer_found);
  }
  if (contents.tokenizer.pieces.size() > contents.config.vocab_size)
    fail(MMB_ERR_FORMAT, "the ", tokenizer_path.empty() ? std::string("byte tokenizer") : tokenizer_path, " has ",
         contents.tokenizer.pieces.size(), " tokens, more than the model's vocab_size of ", contents.config.vocab_size,
         tokenizer_path.empty() ? " (give a tokenizer.json)" : "");
}

// Templates from files replace those of the same name; then every template must
// compile, so that a bundle never carries one the library would refuse at load.
void use_chat_templates(TokenizerData& tokenizer, const PackOptions& options, PackSummary& summary) {
  for (const auto& [name, path] : options.chat_templates) {
    std::string text = read_text_file(path);
    std::erase_if(tokenizer.chat_templates, [&name = name](const ChatTemplateText& t) { return t.name == name; });
    tokenizer.chat_templates.push_back({name, std::move(text)});
    summary.tokenizer_found += cat(" + chat template \"", name, "\" from ", path);
  }
  for (const ChatTemplateText& t : tokenizer.chat_templates) {
    try {
      ChatTemplate check(t.text);
    } catch (const Error& e) {
      fail(MMB_ERR_UNSUPPORTED, "chat template \"", t.name, "\": ", e.what());
    }
  }
}

// Writes the bundle and completes the summary (dialect and tokenizer are the caller's).
void write_and_summarize(const BundleContents& contents, const std::string& output, const PackOptions& options,
                         uint64_t bytes_in, std::chrono::steady_clock::time_point start, PackSummary& summary) {
  std::set<DType> dtypes;
  for (const WriterTensor& t : contents.tensors) {
    uint64_t n = 1;
    for (uint64_t d : t.shape) n *= d;
    summary.params += n;
    dtypes.insert(t.dtype);
  }
  for (DType t : dtypes) summary.dtypes += cat(summary.dtypes.empty() ? "" : "+", dtype_name(t));
  write_bundle_to_file(contents, options.writer, output);

  summary.tensors = contents.tensors.size();
  summary.bytes_in = bytes_in;
  std::error_code ec;
  summary.bytes_out = std::filesystem::file_size(output, ec);
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

PackSummary pack_from_bundle(const std::string& input, const std::string& output, const PackOptions& options,
                             std::chrono::steady_clock::time_point start) {
  static const HostAllocator allocator;
  ReadOptions read;
  read.progress = options.read_progress;
  const std::unique_ptr<LoadedBundle> bundle = LoadedBundle::load(open_file_source(input), read, allocator);
  RepackedBundle repacked = repack_bundle(*bundle, options.dtype, options.convert_progress);
  BundleContents& contents = repacked.contents;
  PackSummary summary;
  summary.dialect = "mmb";
  summary.tokenizer = options.tokenizer_path.empty() ? "the bundle's" : options.tokenizer_path;
  use_tokenizer(contents, options.tokenizer_path, summary);
  use_chat_templates(contents.tokenizer, options, summary);
  for (const auto& [k, v] : options.metadata) set_metadata(contents.metadata, k, v);
  write_and_summarize(contents, output, options, bundle->file_size(), start, summary);
  return summary;
}

bool is_bundle_path(const std::string& path) {
  return path.size() >= 4 && path.compare(path.size() - 4, 4, ".mmb") == 0;
}

}  // namespace

PackSummary pack_checkpoint(const std::string& input, const std::string& output, const PackOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  if (is_bundle_path(input)) return pack_from_bundle(input, output, options, start);
  const Checkpoint ck = load_checkpoint(input, CheckpointOptions{options.dtype, options.read_progress});

  BundleContents contents;
  contents.config = ck.config;
  PackSummary summary;
  summary.dialect = ck.dialect;
  const std::string tokenizer_path = options.tokenizer_path.empty() ? ck.tokenizer_path : options.tokenizer_path;
  summary.tokenizer = tokenizer_path.empty() ? "bytes" : tokenizer_path;
  use_tokenizer(contents, tokenizer_path, summary);
  use_chat_templates(contents.tokenizer, options, summary);

  set_metadata(contents.metadata, "source_format", ck.dialect);
  for (const auto& [k, v] : ck.metadata) set_metadata(contents.metadata, k, v);
  for (const auto& [k, v] : options.metadata) set_metadata(contents.metadata, k, v);

  for (const CheckpointTensor& t : ck.tensors) contents.tensors.push_back({t.name, t.dtype, t.shape, t.data});
  write_and_summarize(contents, output, options, ck.input_bytes, start, summary);
  return summary;
}

}  // namespace mmb
