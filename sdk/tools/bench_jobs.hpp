// `mmb bench jobs`: a game scene's figures for the job API. Many characters stream
// lines through mmb_runtime_frame() at a fixed frame rate (frame work p50/p99 against
// the budget, tokens/s); cancel-to-finished latency with the background worker; and
// session paging under a memory budget of 4 sessions (sessions/s in and out, bytes held).
#pragma once

#include <string>
#include <vector>

namespace mmb::cli {

int run_bench_jobs(const std::vector<std::string>& args);

}  // namespace mmb::cli
