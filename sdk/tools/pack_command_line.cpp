#include "pack_command_line.hpp"

#include "base/error.hpp"
#include "bundle_args.hpp"
#include "human_units.hpp"
#include "progress_display.hpp"

#include <algorithm>
#include <cstdio>
#include <thread>

namespace mmb::cli {

PackCommandLine parse_pack_command_line(const std::vector<std::string>& args, const char* command, const ExtraOptions& extra) {
  PackCommandLine c;
  c.options.writer.threads = int(std::max(1u, std::thread::hardware_concurrency()));
  using Handler = std::function<void(const std::string& option, const std::string& value)>;
  const Handler set_output = [&](const std::string&, const std::string& v) { c.output = v; };
  std::map<std::string, Handler> handlers = {
      {"-o", set_output},
      {"--output", set_output},
      {"--dtype", [&](const std::string&, const std::string& v) { c.options.dtype = parse_dtype(v); }},
      {"--codec", [&](const std::string&, const std::string& v) { c.options.writer.codec = parse_codec(v); }},
      {"--level", [&](const std::string& o, const std::string& v) { c.options.writer.level = int(parse_integer(o, v, 1, 22)); }},
      {"--threads", [&](const std::string& o, const std::string& v) { c.options.writer.threads = int(parse_integer(o, v, 1, 1024)); }},
      {"--tokenizer", [&](const std::string&, const std::string& v) { c.options.tokenizer_path = v; }},
      {"--chat-template",
       [&](const std::string&, const std::string& v) {
         // NAME=FILE, or FILE for the main template ("default").
         const size_t eq = v.find('=');
         if (eq == std::string::npos) c.options.chat_templates.emplace_back("default", v);
         else if (eq == 0 || eq + 1 == v.size()) fail(MMB_ERR_INVALID_ARGUMENT, "--chat-template expects FILE or NAME=FILE, got '", v, "'");
         else c.options.chat_templates.emplace_back(v.substr(0, eq), v.substr(eq + 1));
       }},
      {"--meta",
       [&](const std::string&, const std::string& v) {
         const size_t eq = v.find('=');
         if (eq == std::string::npos || eq == 0) fail(MMB_ERR_INVALID_ARGUMENT, "--meta expects key=value, got '", v, "'");
         c.options.metadata.emplace_back(v.substr(0, eq), v.substr(eq + 1));
       }},
  };
  for (const auto& [name, handle] : extra) handlers[name] = [handle](const std::string&, const std::string& v) { handle(v); };
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    if (arg == "-h" || arg == "--help") {
      c.help = true;
      return c;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      if (!c.input.empty()) fail(MMB_ERR_INVALID_ARGUMENT, "more than one INPUT: '", c.input, "' and '", arg, "'");
      c.input = arg;
      continue;
    }
    std::string value;
    const size_t eq = arg.find('=');
    const bool inline_value = arg.rfind("--", 0) == 0 && eq != std::string::npos;  // --option=value
    if (inline_value) {
      value = arg.substr(eq + 1);
      arg.resize(eq);
    }
    if (arg == "--quiet") {
      if (inline_value) fail(MMB_ERR_INVALID_ARGUMENT, "--quiet takes no value (see `mmb ", command, " --help`)");
      c.quiet = true;
      continue;
    }
    auto handler = handlers.find(arg);
    if (handler == handlers.end()) fail(MMB_ERR_INVALID_ARGUMENT, "unknown option '", arg, "' (see `mmb ", command, " --help`)");
    if (!inline_value) {
      if (i + 1 >= args.size()) fail(MMB_ERR_INVALID_ARGUMENT, arg, " needs a value (see `mmb ", command, " --help`)");
      value = args[++i];
    }
    handler->second(arg, value);
  }
  if (c.input.empty()) fail(MMB_ERR_INVALID_ARGUMENT, "no INPUT given (see `mmb ", command, " --help`)");
  if (c.output.empty()) fail(MMB_ERR_INVALID_ARGUMENT, "no output given: -o OUT.mmb");
  return c;
}

PackSummary pack_with_progress(const PackCommandLine& c, const std::string& input, const char* command) {
  ProgressDisplay progress(command, c.quiet);
  PackOptions options = c.options;
  options.read_progress = progress.step("read");
  options.convert_progress = progress.step("convert");
  options.writer.progress = progress.step("write");
  return pack_checkpoint(input, c.output, options);
}

std::string pack_summary_line(const std::string& output, const PackSummary& s) {
  char line[1024];
  std::snprintf(line, sizeof line, "packed %s (%s, %s, tokenizer %s%s): %zu tensors, %s params, %s -> %s (%.1f%%) in %.2f s\n",
                output.c_str(), s.dialect.c_str(), s.dtypes.c_str(), s.tokenizer.c_str(), s.tokenizer_found.c_str(), s.tensors,
                human_count(s.params).c_str(), human_bytes(s.bytes_in).c_str(), human_bytes(s.bytes_out).c_str(),
                s.bytes_in ? 100.0 * double(s.bytes_out) / double(s.bytes_in) : 0.0, s.seconds);
  return line;
}

}  // namespace mmb::cli
