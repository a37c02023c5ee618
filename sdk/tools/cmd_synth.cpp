// `mmb synth`: writes a bundle of a named shape with random weights (synthetic_model.hpp),
// for tests, benchmarks and demos.
#include "bundle_args.hpp"
#include "command.hpp"
#include "human_units.hpp"
#include "progress_display.hpp"
#include "synthetic_model.hpp"

#include "base/error.hpp"

#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace mmb::cli {

namespace {

void usage() {
  std::string shapes;
  for (const auto& n : named_shapes()) shapes += (shapes.empty() ? "" : "|") + n;
  std::printf("usage: mmb synth --shape %s [--dtype f32|f16|bf16|q8|q4]\n"
              "                 [--codec none|zstd|shuffle-zstd] [--level N] [--seed N] [--threads N] [--quiet] -o OUT.mmb\n\n"
              "Writes a bundle whose weights are random with the usual initial statistics\n"
              "(Gaussian linear weights, Mamba's A and dt initializations). Same seed, same bytes.\n"
              "Progress goes to stderr (a bar on a terminal, else a line every 10%% of a long step);\n"
              "--quiet prints none.\n",
              shapes.c_str());
}

int run(const std::vector<std::string>& args) {
  std::string shape, out;
  bool quiet = false;
  SyntheticOptions synthetic;
  WriterOptions writer;
  writer.threads = int(std::max(1u, std::thread::hardware_concurrency()));
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      usage();
      return 0;
    }
    if (a == "--shape") shape = option_value(args, i);
    else if (a == "--dtype") synthetic.dtype = parse_dtype(option_value(args, i));
    else if (a == "--codec") writer.codec = parse_codec(option_value(args, i));
    else if (a == "--level") writer.level = int(parse_integer(a, option_value(args, i), -7, 22));
    else if (a == "--seed") synthetic.seed = uint64_t(parse_integer(a, option_value(args, i), 0, INT64_MAX));
    else if (a == "--threads") writer.threads = int(parse_integer(a, option_value(args, i), 1, 1024));
    else if (a == "-o" || a == "--output") out = option_value(args, i);
    else if (a == "--quiet") quiet = true;
    else fail(MMB_ERR_INVALID_ARGUMENT, "unexpected argument '", a, "' (see mmb synth --help)");
  }
  if (shape.empty()) fail(MMB_ERR_INVALID_ARGUMENT, "--shape is required (see mmb synth --help)");
  if (out.empty()) fail(MMB_ERR_INVALID_ARGUMENT, "-o OUT.mmb is required");
  ProgressDisplay progress("synth", quiet);
  synthetic.progress = progress.step("generate");
  writer.progress = progress.step("write");
  SyntheticModel model = make_synthetic_model(named_shape(shape), synthetic);
  write_bundle_to_file(model.contents, writer, out);
  std::printf("wrote %s: %s, %s, %s, %zu tensors, %s\n", out.c_str(), shape.c_str(),
              std::string(dtype_name(synthetic.dtype)).c_str(), std::string(codec_name(writer.codec)).c_str(),
              model.contents.tensors.size(), human_bytes(std::filesystem::file_size(out)).c_str());
  return 0;
}

const RegisterCommand reg("synth", "write a bundle of a named shape with random weights", run);

}  // namespace

}  // namespace mmb::cli
