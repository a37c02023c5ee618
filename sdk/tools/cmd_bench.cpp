// `mmb bench WHAT`: the benchmark programs, one per subcommand.
#include "bench_decode.hpp"
#include "bench_jobs.hpp"
#include "bench_load.hpp"
#include "command.hpp"

#include "base/error.hpp"

#include <cstdio>
#include <string>
#include <vector>

namespace mmb::cli {

namespace {

struct Bench {
  const char* name;
  const char* summary;
  int (*run)(const std::vector<std::string>& args);
};

const Bench kBenches[] = {
    {"load", "bundle open, verify and decode speed; compression ratios", run_bench_load},
    {"decode", "decode (batch 1 and batched) and prefill speed, % of the bandwidth floor", run_bench_decode},
    {"jobs", "a game scene through frames and jobs: frame work vs budget, cancel latency, paging", run_bench_jobs},
};

int run(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::printf("usage: mmb bench WHAT [arguments]   (mmb bench WHAT --help for each)\n\n");
    for (const Bench& b : kBenches) std::printf("  %-8s %s\n", b.name, b.summary);
    return args.empty() ? 2 : 0;
  }
  for (const Bench& b : kBenches)
    if (args[0] == b.name) return b.run(std::vector<std::string>(args.begin() + 1, args.end()));
  fail(MMB_ERR_INVALID_ARGUMENT, "unknown benchmark '", args[0], "' (see mmb bench --help)");
}

const RegisterCommand reg("bench", "benchmarks: mmb bench load | decode | jobs", run);

}  // namespace

}  // namespace mmb::cli
