// `mmb bench tokenizer`: single-thread encoding speed of bundles' tokenizers (or
// tokenizer.json files) on English and on varied text, with GPT-2's byte-level BPE as
// the baseline measured in the same run.
#pragma once

#include <string>
#include <vector>

namespace mmb::cli {

int run_bench_tokenizer(const std::vector<std::string>& args);

}  // namespace mmb::cli
