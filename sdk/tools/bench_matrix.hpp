// `mmb bench matrix`: the CPU matrix kernel alone, in GFLOP/s, on the projection shapes
// of the Mamba 130M shape, with an optimized BLAS's sgemm beside it where one is found.
#pragma once

#include <string>
#include <vector>

namespace mmb::cli {

int run_bench_matrix(const std::vector<std::string>& args);

}  // namespace mmb::cli
