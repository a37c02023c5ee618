// mmb pack: a safetensors checkpoint (native, Hugging Face Mamba or mamba_ssm) into a
// .mmb bundle. The work is in lib/pack.cpp; this file reads the command line.
#include "command.hpp"

#include "base/error.hpp"
#include "pack.hpp"

#include <algorithm>
#include <charconv>
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

int parse_int(const std::string& option, const std::string& text, int lo, int hi) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < lo || value > hi)
    mmb::fail(MMB_ERR_INVALID_ARGUMENT, option, " expects an integer in [", lo, ", ", hi, "], got '", text, "'");
  return value;
}

mmb::DType parse_dtype(const std::string& text) {
  if (text == "f32") return mmb::DType::F32;
  if (text == "f16") return mmb::DType::F16;
  if (text == "bf16") return mmb::DType::BF16;
  mmb::fail(MMB_ERR_INVALID_ARGUMENT, "--dtype expects f32, f16 or bf16, got '", text, "'");
}

mmb::Codec parse_codec(const std::string& text) {
  if (text == "none") return mmb::Codec::None;
  if (text == "zstd") return mmb::Codec::Zstd;
  if (text == "shuffle-zstd") return mmb::Codec::ShuffleZstd;
  mmb::fail(MMB_ERR_INVALID_ARGUMENT, "--codec expects none, zstd or shuffle-zstd, got '", text, "'");
}

// "512 B", "41.3 KB", "516.6 MB", "2.1 GB".
std::string human_bytes(uint64_t n) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  double x = double(n);
  int u = 0;
  while (x >= 1000.0 && u < 4) {
    x /= 1000.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", x, units[u]);
  return buf;
}

int run_pack(const std::vector<std::string>& args) {
  std::string input, output;
  mmb::PackOptions options;
  options.writer.threads = int(std::max(1u, std::thread::hardware_concurrency()));
  using Handler = std::function<void(const std::string& option, const std::string& value)>;
  const Handler set_output = [&](const std::string&, const std::string& v) { output = v; };
  const std::map<std::string, Handler> handlers = {
      {"-o", set_output},
      {"--output", set_output},
      {"--dtype", [&](const std::string&, const std::string& v) { options.dtype = parse_dtype(v); }},
      {"--codec", [&](const std::string&, const std::string& v) { options.writer.codec = parse_codec(v); }},
      {"--level", [&](const std::string& o, const std::string& v) { options.writer.level = parse_int(o, v, 1, 22); }},
      {"--threads", [&](const std::string& o, const std::string& v) { options.writer.threads = parse_int(o, v, 1, 1024); }},
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
  std::printf("packed %s (%s, %s, tokenizer %s): %zu tensors, %.3fM params, %s -> %s (%.1f%%) in %.2f s\n",
              output.c_str(), s.dialect.c_str(), s.dtypes.c_str(), s.tokenizer.c_str(), s.tensors, double(s.params) / 1e6,
              human_bytes(s.bytes_in).c_str(), human_bytes(s.bytes_out).c_str(),
              s.bytes_in ? 100.0 * double(s.bytes_out) / double(s.bytes_in) : 0.0, s.seconds);
  return 0;
}

mmb::cli::RegisterCommand reg("pack", "pack a safetensors checkpoint (native, Hugging Face Mamba) into a bundle", run_pack);

}  // namespace
