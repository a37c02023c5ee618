// mmb pack: a safetensors checkpoint (native, Hugging Face Mamba or mamba_ssm) into a
// .mmb bundle. The work is in lib/pack.cpp; this file reads the command line.
#include "command.hpp"

#include "base/error.hpp"
#include "bundle_args.hpp"
#include "human_units.hpp"
#include "pack.hpp"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <thread>

namespace {

constexpr const char* kUsage =
    "usage: mmb pack INPUT -o OUT.mmb [--dtype f32|f16|bf16] [--codec none|zstd|shuffle-zstd]\n"
    "                [--level N] [--threads N] [--tokenizer tokenizer.json] [--meta key=value]...\n"
    "\n"
    "INPUT is a directory with config.json and model.safetensors (or a sharded\n"
    "model.safetensors.index.json), or one of those files with config.json beside it.\n"
    "config.json is the native format (\"format\": \"moemamba\"), Hugging Face's\n"
    "MambaForCausalLM (\"model_type\": \"mamba\") or mamba_ssm's.\n"
    "  -o, --output PATH   the bundle to write\n"
    "  --dtype T           dtype of the weights; default: the checkpoint's own if all tensors\n"
    "                      share f32, f16 or bf16, else f32. A_log, D and dt_proj.bias stay f32.\n"
    "  --codec C           tensor codec (default none: tensors are used in place from the map)\n"
    "  --level N           zstd level, 1 to 22 (default 3)\n"
    "  --threads N         compression threads (default: all cores; same bytes for any N)\n"
    "  --tokenizer PATH    tokenizer.json; default: one beside config.json, else bytes\n"
    "  --meta key=value    metadata stored in the bundle (repeatable)\n";

int run_pack(const std::vector<std::string>& args) {
  std::string input, output;
  mmb::PackOptions options;
  options.writer.threads = int(std::max(1u, std::thread::hardware_concurrency()));
  using Handler = std::function<void(const std::string& option, const std::string& value)>;
  const Handler set_output = [&](const std::string&, const std::string& v) { output = v; };
  const std::map<std::string, Handler> handlers = {
      {"-o", set_output},
      {"--output", set_output},
      {"--dtype", [&](const std::string&, const std::string& v) { options.dtype = mmb::cli::parse_dtype(v); }},
      {"--codec", [&](const std::string&, const std::string& v) { options.writer.codec = mmb::cli::parse_codec(v); }},
      {"--level", [&](const std::string& o, const std::string& v) { options.writer.level = int(mmb::cli::parse_integer(o, v, 1, 22)); }},
      {"--threads", [&](const std::string& o, const std::string& v) { options.writer.threads = int(mmb::cli::parse_integer(o, v, 1, 1024)); }},
      {"--tokenizer", [&](const std::string&, const std::string& v) { options.tokenizer_path = v; }},
      {"--meta",
       [&](const std::string&, const std::string& v) {
         const size_t eq = v.find('=');
         if (eq == std::string::npos || eq == 0) mmb::fail(MMB_ERR_INVALID_ARGUMENT, "--meta expects key=value, got '", v, "'");
         options.metadata.emplace_back(v.substr(0, eq), v.substr(eq + 1));
       }},
  };
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      if (!input.empty()) mmb::fail(MMB_ERR_INVALID_ARGUMENT, "more than one INPUT: '", input, "' and '", arg, "'");
      input = arg;
      continue;
    }
    std::string value;
    const size_t eq = arg.find('=');
    const bool inline_value = arg.rfind("--", 0) == 0 && eq != std::string::npos;  // --option=value
    if (inline_value) {
      value = arg.substr(eq + 1);
      arg.resize(eq);
    }
    auto handler = handlers.find(arg);
    if (handler == handlers.end()) mmb::fail(MMB_ERR_INVALID_ARGUMENT, "unknown option '", arg, "' (see `mmb pack --help`)");
    if (!inline_value) {
      if (i + 1 >= args.size()) mmb::fail(MMB_ERR_INVALID_ARGUMENT, arg, " needs a value (see `mmb pack --help`)");
      value = args[++i];
    }
    handler->second(arg, value);
  }
  if (input.empty()) mmb::fail(MMB_ERR_INVALID_ARGUMENT, "no INPUT given (see `mmb pack --help`)");
  if (output.empty()) mmb::fail(MMB_ERR_INVALID_ARGUMENT, "no output given: -o OUT.mmb");

  const mmb::PackSummary s = mmb::pack_checkpoint(input, output, options);
  std::printf("packed %s (%s, %s, tokenizer %s): %zu tensors, %s params, %s -> %s (%.1f%%) in %.2f s\n",
              output.c_str(), s.dialect.c_str(), s.dtypes.c_str(), s.tokenizer.c_str(), s.tensors,
              mmb::human_count(s.params).c_str(), mmb::human_bytes(s.bytes_in).c_str(), mmb::human_bytes(s.bytes_out).c_str(),
              s.bytes_in ? 100.0 * double(s.bytes_out) / double(s.bytes_in) : 0.0, s.seconds);
  return 0;
}

mmb::cli::RegisterCommand reg("pack", "pack a safetensors checkpoint (native, Hugging Face Mamba) into a bundle", run_pack);

}  // namespace
