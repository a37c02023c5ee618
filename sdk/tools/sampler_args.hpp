// The sampling options that `mmb generate` and `mmb chat` share.
#pragma once

#include "cli_args.hpp"

#include <moemamba/moemamba.h>

#include <vector>

namespace mmb::cli {

// A command's own options followed by --temp, --top-k, --top-p, --min-p, the
// penalties and --seed.
std::vector<Option> with_sampler_options(std::vector<Option> own);
// The sampler parameters those options give (the library's defaults for the others).
mmb_sampler_params read_sampler_params(const Args& args);

}  // namespace mmb::cli
