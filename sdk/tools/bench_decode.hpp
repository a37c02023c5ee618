// `mmb bench decode`: decode (batch 1 and batched) and prefill speed through the
// public C API, with % of the memory-bandwidth floor measured in the same run.
#pragma once

#include <string>
#include <vector>

namespace mmb::cli {

int run_bench_decode(const std::vector<std::string>& args);

}  // namespace mmb::cli
