#include "sampler_args.hpp"

#include "api_handles.hpp"

#include <limits>

namespace mmb::cli {

std::vector<Option> with_sampler_options(std::vector<Option> own) {
  own.insert(own.end(), {
      {"temp", "T", "temperature; 0 = greedy (default 0.8)"},
      {"top-k", "K", "keep the K most likely tokens; 0 = off (default 40)"},
      {"top-p", "P", "keep the smallest set of tokens with mass >= P; 1 = off (default 0.95)"},
      {"min-p", "M", "drop tokens below M times the best probability; 0 = off (default 0.05)"},
      {"repeat-penalty", "R", "divide positive, multiply negative logits of recent tokens; 1 = off (default)"},
      {"presence-penalty", "A", "subtract A from the logit of each recent token; 0 = off (default)"},
      {"frequency-penalty", "F", "subtract F per occurrence among recent tokens; 0 = off (default)"},
      {"penalty-window", "N", "how many recent tokens the penalties see (default 64)"},
      {"seed", "S", "random seed: the same seed gives the same text (default 0)"},
  });
  return own;
}

mmb_sampler_params read_sampler_params(const Args& args) {
  constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
  constexpr double kAny = std::numeric_limits<double>::max();
  mmb_sampler_params p;
  check(mmb_sampler_params_init(&p, sizeof p), "filling the sampler parameters");
  p.temperature = float(args.get_double("temp", p.temperature, 0.0, kAny));
  p.top_k = int32_t(args.get_int("top-k", p.top_k, 0, kInt32Max));
  p.top_p = float(args.get_double("top-p", p.top_p, 0.0, 1.0));
  p.min_p = float(args.get_double("min-p", p.min_p, 0.0, 1.0));
  p.repetition_penalty = float(args.get_double("repeat-penalty", p.repetition_penalty, 0.0, kAny));
  p.presence_penalty = float(args.get_double("presence-penalty", p.presence_penalty, 0.0, kAny));
  p.frequency_penalty = float(args.get_double("frequency-penalty", p.frequency_penalty, 0.0, kAny));
  p.penalty_window = int32_t(args.get_int("penalty-window", p.penalty_window, 0, 65536));
  p.seed = args.get_uint64("seed", p.seed);
  return p;
}

}  // namespace mmb::cli
