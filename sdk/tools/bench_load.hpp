// `mmb bench load`: how fast bundles open, verify and decode, and how well weights
// compress, on a ~500 MB model written to a temporary directory.
#pragma once

#include <string>
#include <vector>

namespace mmb::cli {

int run_bench_load(const std::vector<std::string>& args);

}  // namespace mmb::cli
