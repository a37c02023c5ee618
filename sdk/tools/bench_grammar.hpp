// `mmb bench grammar`: what structured output costs (moemamba.h section 9). For a JSON
// object schema of 6 fields, a free JSON grammar and a 20-item choice, on a 50k-token
// vocabulary (GPT-2's, or a bundle's): compile time, then the time of each token's mask
// along many random valid paths (median, p99, max), without a cache, cold and warm,
// with the cache's hit rate, the time of apply() and accept(); and decode tokens/s of a
// model with and without the schema.
#pragma once

#include <string>
#include <vector>

namespace mmb::cli {

int run_bench_grammar(const std::vector<std::string>& args);

}  // namespace mmb::cli
