#include "pack.hpp"

#include "base/error.hpp"
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

// A tokenizer.json, and the tokenizer_config.json beside it when there is one (it
// names BOS, EOS and PAD, which tokenizer.json alone leaves to convention).
TokenizerData read_tokenizer(const std::string& path) {
  TokenizerData data = naming_file(path, "tokenizer.json", [](const std::string& text) { return tokenizer_from_hf_json(text); });
  const std::string config = (std::filesystem::path(path).parent_path() / "tokenizer_config.json").string();
  std::error_code ec;
  if (std::filesystem::is_regular_file(config, ec))
    naming_file(config, "tokenizer_config.json", [&](const std::string& text) { apply_hf_tokenizer_config(data, text); return 0; });
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

}  // namespace

PackSummary pack_checkpoint(const std::string& input, const std::string& output, const PackOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const Checkpoint ck = load_checkpoint(input, CheckpointOptions{options.dtype});

  BundleContents contents;
  contents.config = ck.config;
  PackSummary summary;
  summary.dialect = ck.dialect;
  const std::string tokenizer_path = options.tokenizer_path.empty() ? ck.tokenizer_path : options.tokenizer_path;
  summary.tokenizer = tokenizer_path.empty() ? "bytes" : tokenizer_path;
  if (!tokenizer_path.empty()) contents.tokenizer = read_tokenizer(tokenizer_path);
  if (contents.tokenizer.pieces.size() > ck.config.vocab_size)
    fail(MMB_ERR_FORMAT, "the ", tokenizer_path.empty() ? std::string("byte tokenizer") : tokenizer_path, " has ",
         contents.tokenizer.pieces.size(), " tokens, more than the model's vocab_size of ", ck.config.vocab_size,
         tokenizer_path.empty() ? " (give a tokenizer.json)" : "");

  set_metadata(contents.metadata, "source_format", ck.dialect);
  for (const auto& [k, v] : ck.metadata) set_metadata(contents.metadata, k, v);
  for (const auto& [k, v] : options.metadata) set_metadata(contents.metadata, k, v);

  std::set<DType> dtypes;
  for (const CheckpointTensor& t : ck.tensors) {
    contents.tensors.push_back({t.name, t.dtype, t.shape, t.data});
    uint64_t n = 1;
    for (uint64_t d : t.shape) n *= d;
    summary.params += n;
    dtypes.insert(t.dtype);
  }
  for (DType t : dtypes) summary.dtypes += cat(summary.dtypes.empty() ? "" : "+", dtype_name(t));
  write_bundle_to_file(contents, options.writer, output);

  summary.tensors = ck.tensors.size();
  summary.bytes_in = ck.input_bytes;
  std::error_code ec;
  summary.bytes_out = std::filesystem::file_size(output, ec);
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace mmb
