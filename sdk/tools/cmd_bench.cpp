// `mmb bench WHAT`: the benchmark programs, one per subcommand.
#include "bench_chat.hpp"
#include "bench_decode.hpp"
#include "bench_grammar.hpp"
#include "bench_jobs.hpp"
#include "bench_load.hpp"
#include "bench_matrix.hpp"
#include "bench_tokenizer.hpp"
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
    {"chat", "a conversation through mmb_chat vs re-feeding the whole prompt each turn", run_bench_chat},
    {"matrix", "the CPU matrix kernel in GFLOP/s on the 130M shape's projections, an optimized BLAS beside it",
     run_bench_matrix},
    {"jobs", "a game scene through frames and jobs: frame work vs budget, cancel latency, paging", run_bench_jobs},
    {"tokenizer", "tokenizer encoding speed (MB/s, one thread) on English and varied text, GPT-2 as baseline",
     run_bench_tokenizer},
    {"grammar", "structured output: grammar compile and per-token mask time (50k vocab), decode with a JSON Schema",
     run_bench_grammar},
};

int run(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::printf("usage: mmb bench WHAT [arguments]   (mmb bench WHAT --help for each)\n\n");
    for (const Bench& b : kBenches) std::printf("  %-10s %s\n", b.name, b.summary);
    return args.empty() ? 2 : 0;
  }
  for (const Bench& b : kBenches)
    if (args[0] == b.name) return b.run(std::vector<std::string>(args.begin() + 1, args.end()));
  fail(MMB_ERR_INVALID_ARGUMENT, "unknown benchmark '", args[0], "' (see mmb bench --help)");
}

const RegisterCommand reg("bench", "benchmarks: mmb bench load | decode | matrix | jobs | chat | tokenizer | grammar", run);

}  // namespace

}  // namespace mmb::cli
