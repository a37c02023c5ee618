// The command line `mmb pack` and `mmb convert` share: INPUT, -o OUT.mmb and the pack
// options (dtype, codec, level, threads, tokenizer, meta, quiet), read into PackOptions,
// and the packing both then do, with its progress on stderr.
#pragma once

#include "pack.hpp"

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace mmb::cli {

struct PackCommandLine {
  std::string input;
  std::string output;
  PackOptions options;
  bool help = false;   // -h / --help given: print the usage and do nothing else
  bool quiet = false;  // --quiet: no progress on stderr
};

// Options a command adds to the shared ones: "--name" -> handler of its value.
using ExtraOptions = std::map<std::string, std::function<void(const std::string& value)>>;

// Throws mmb::Error(MMB_ERR_INVALID_ARGUMENT) naming the option for an unknown option,
// a missing or malformed value, two INPUTs, or no INPUT / output; the message points to
// `mmb <command> --help`.
PackCommandLine parse_pack_command_line(const std::vector<std::string>& args, const char* command,
                                        const ExtraOptions& extra = {});

// pack_checkpoint(input, c.output, c.options) with its steps' progress on stderr
// (progress_display.hpp: "mmb <command>: read|load|convert|write ..."), none with --quiet.
PackSummary pack_with_progress(const PackCommandLine& c, const std::string& input, const char* command);

// The one line both commands print on success.
std::string pack_summary_line(const std::string& output, const PackSummary& summary);

}  // namespace mmb::cli
