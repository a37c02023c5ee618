// `mmb bench chat`: what keeping a chat's session saves. A scripted conversation runs
// twice in one process: through mmb_chat (each turn prefills only what the session
// has not seen) and the way a host without it would (a fresh session fed the whole
// rendered conversation every turn). Prints per-turn prompt tokens, tokens computed
// and time to the first reply token for both.
#pragma once

#include <string>
#include <vector>

namespace mmb::cli {

int run_bench_chat(const std::vector<std::string>& args);

}  // namespace mmb::cli
