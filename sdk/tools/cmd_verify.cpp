// `mmb verify BUNDLE`: every check the loader makes, every checksum included.
#include "bundle_args.hpp"
#include "command.hpp"
#include "human_units.hpp"
#include "pool_parallel.hpp"
#include "progress_display.hpp"

#include "base/error.hpp"
#include "base/thread_pool.hpp"
#include "bundle/bundle_reader.hpp"

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

namespace mmb::cli {

namespace {

int run(const std::vector<std::string>& args) {
  std::string path;
  bool quiet = false;
  int threads = int(std::max(1u, std::thread::hardware_concurrency()));
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--help" || args[i] == "-h") {
      std::printf("usage: mmb verify BUNDLE [--threads N] [--quiet]\n\nVerifies everything in a bundle, including every "
                  "tensor's checksum and every\ncompressed frame. Prints \"ok\" and exits 0, or prints the problem and "
                  "exits 1.\nProgress (the bytes a host's mmb_load_options.progress sees) goes to stderr: a bar on a\n"
                  "terminal, else a line every 10%% of a long check; --quiet prints none.\n");
      return 0;
    }
    if (args[i] == "--threads") {
      threads = int(parse_integer("--threads", option_value(args, i), 1, 1024));
    } else if (args[i] == "--quiet") {
      quiet = true;
    } else if (path.empty() && args[i].rfind("-", 0) != 0) {
      path = args[i];
    } else {
      fail(MMB_ERR_INVALID_ARGUMENT, "unexpected argument '", args[i], "' (usage: mmb verify BUNDLE [--threads N] [--quiet])");
    }
  }
  if (path.empty()) fail(MMB_ERR_INVALID_ARGUMENT, "no bundle given (usage: mmb verify BUNDLE [--threads N] [--quiet])");

  static const HostAllocator allocator;
  ThreadPool pool(threads);
  PoolParallel parallel(pool);
  ReadOptions options;
  options.verify_checksums = true;
  options.parallel = parallel.get();
  ProgressDisplay progress("verify", quiet);
  options.progress = progress.step("check");
  const auto t0 = std::chrono::steady_clock::now();
  auto b = LoadedBundle::load(open_file_source(path), options, allocator);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  uint64_t raw = 0;
  for (const TensorView& t : b->tensors()) raw += t.raw_size;
  std::printf("ok: %s: %zu tensors, %s of weights, every checksum verified (%.3f s)\n", path.c_str(),
              b->tensors().size(), human_bytes(raw).c_str(), seconds);
  return 0;
}

const RegisterCommand reg("verify", "check a bundle completely, checksums included (exit 0 or 1)", run);

}  // namespace

}  // namespace mmb::cli
