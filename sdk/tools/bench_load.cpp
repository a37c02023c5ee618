#include "bench_load.hpp"

#include "bundle_args.hpp"
#include "bundle_repack.hpp"
#include "human_units.hpp"
#include "pool_parallel.hpp"
#include "progress_display.hpp"
#include "synthetic_model.hpp"
#include "temp_folder.hpp"

#include "base/error.hpp"
#include "base/thread_pool.hpp"
#include "bundle/bundle_reader.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace mmb::cli {

namespace {

struct Options {
  std::string bundle;               // weights from this bundle, or
  std::string shape = "mamba-130m";  // a synthetic model of this shape
  uint64_t seed = 1;
  int threads = 2;
  int repeat = 20;
  int level = 3;
  std::string dir;  // where the temporary bundles go
  bool quiet = false;
};

void usage() {
  std::printf(
      "usage: mmb bench load [BUNDLE | --shape NAME] [--threads N] [--repeat N] [--level N] [--seed N] [--dir DIR]\n"
      "                      [--quiet]\n\n"
      "Writes the weights (of BUNDLE, or a synthetic model of shape NAME, default mamba-130m:\n"
      "about 500 MB in f32) as raw, zstd and shuffle-zstd bundles in a temporary directory, then\n"
      "times opening and verifying them from a warm page cache, and prints the compressed size of\n"
      "f32, f16, bf16, q8 and q4 copies. --threads (default 2) is used for checksums and decoding.\n"
      "The progress of loading BUNDLE and of making and writing the bundles goes to stderr (not\n"
      "of the timed loads, which run without a callback); --quiet prints none.\n");
}

Options parse(const std::vector<std::string>& args) {
  Options o;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--shape") o.shape = option_value(args, i);
    else if (a == "--threads") o.threads = int(parse_integer(a, option_value(args, i), 1, 1024));
    else if (a == "--repeat") o.repeat = int(parse_integer(a, option_value(args, i), 1, 100000));
    else if (a == "--level") o.level = int(parse_integer(a, option_value(args, i), -7, 22));
    else if (a == "--seed") o.seed = uint64_t(parse_integer(a, option_value(args, i), 0, INT64_MAX));
    else if (a == "--dir") o.dir = option_value(args, i);
    else if (a == "--quiet") o.quiet = true;
    else if (a.rfind("-", 0) != 0 && o.bundle.empty()) o.bundle = a;
    else fail(MMB_ERR_INVALID_ARGUMENT, "unexpected argument '", a, "' (see mmb bench load --help)");
  }
  return o;
}

// A temporary directory, removed with its contents at the end.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& parent) {
    std::string pattern =
        ((parent.empty() ? std::filesystem::temp_directory_path() : std::filesystem::path(parent)) / "mmb-bench-XXXXXX")
            .string();
    if (!mmb::cli::make_temp_folder(pattern.data())) fail(MMB_ERR_IO, "cannot create a directory like '", pattern, "'");
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The bundle's weights converted to `dtype` (bundle_repack.hpp's rule).
SyntheticModel convert(const LoadedBundle& b, DType dtype, ProgressFn* progress) {
  RepackedBundle r = repack_bundle(b, dtype, progress);
  SyntheticModel m;
  m.contents = std::move(r.contents);
  m.storage = std::move(r.storage);  // moving keeps the buffers the tensors point into
  return m;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct Timing {
  double median = 0, best = 0;
};

// Opens `path` `repeat` times (each bundle released before the next open).
Timing time_load(const std::string& path, const ReadOptions& options, int repeat) {
  static const HostAllocator allocator;
  std::vector<double> runs;
  for (int r = 0; r < repeat; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    auto b = LoadedBundle::load(open_file_source(path), options, allocator);
    runs.push_back(seconds_since(t0));
  }
  std::sort(runs.begin(), runs.end());
  return {runs[runs.size() / 2], runs.front()};
}

struct Sizes {
  uint64_t stored = 0, raw = 0, file = 0;
  size_t tensors = 0;
};

Sizes sizes_of(const std::string& path) {
  static const HostAllocator allocator;
  ReadOptions structure;
  structure.load_tensor_data = false;
  auto b = LoadedBundle::load(open_file_source(path), structure, allocator);
  Sizes s;
  for (const TensorView& t : b->tensors()) {
    s.stored += t.stored_size;
    s.raw += t.raw_size;
  }
  s.file = b->file_size();
  s.tensors = b->tensors().size();
  return s;
}

// Reads every byte of a freshly mapped file on the pool's threads (a sum of u64 words):
// the memory-bandwidth ceiling that checksumming a mapped bundle can reach.
Timing time_read(const std::string& path, ThreadPool& pool, int repeat) {
  std::vector<double> runs;
  for (int r = 0; r < repeat; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    auto file = open_file_source(path);
    const std::byte* base = file->data();
    const size_t words = size_t(file->size() / 8), chunks = size_t(pool.size()) * 16;
    std::vector<uint64_t> sums(chunks, 0);
    pool.run(chunks, [&](size_t c, int) {
      uint64_t sum = 0;
      for (size_t w = words * c / chunks; w < words * (c + 1) / chunks; ++w) {
        uint64_t v;
        std::memcpy(&v, base + 8 * w, 8);
        sum += v;
      }
      sums[c] = sum;
    });
    runs.push_back(seconds_since(t0));
    if (std::find(sums.begin(), sums.end(), 1) != sums.end()) std::printf(" ");  // keeps the sums alive
  }
  std::sort(runs.begin(), runs.end());
  return {runs[runs.size() / 2], runs.front()};
}

void row(const std::string& what, const Timing& t, uint64_t bytes) {
  char throughput[32] = "-";
  if (bytes) std::snprintf(throughput, sizeof throughput, "%.2f GB/s", double(bytes) / 1e9 / t.median);
  std::printf("  %-52s %10.3f ms %10.3f ms  %s\n", what.c_str(), t.median * 1e3, t.best * 1e3, throughput);
}

}  // namespace

int run_bench_load(const std::vector<std::string>& args) {
  for (const auto& a : args)
    if (a == "--help" || a == "-h") {
      usage();
      return 0;
    }
  const Options o = parse(args);
  static const HostAllocator allocator;
  ScratchDir dir(o.dir);
  ThreadPool pool(o.threads);
  PoolParallel parallel(pool);
  ProgressDisplay progress("bench load", o.quiet);

  std::unique_ptr<LoadedBundle> source;
  DType source_dtype = DType::F32;
  if (!o.bundle.empty()) {
    ReadOptions all;
    all.parallel = parallel.get();
    all.progress = progress.step("load");
    source = LoadedBundle::load(open_file_source(o.bundle), all, allocator);
    source_dtype = source->tensors().front().dtype;
  }
  auto weights = [&](DType dtype) {
    const std::string step = cat(source ? "convert to " : "generate ", dtype_name(dtype));
    return source ? convert(*source, dtype, progress.step(step))
                  : make_synthetic_model(named_shape(o.shape), {o.seed, dtype, progress.step(step)});
  };
  auto write = [&](const SyntheticModel& m, Codec codec, const std::string& name) {
    WriterOptions w;
    w.codec = codec;
    w.level = o.level;
    w.threads = o.threads;
    w.progress = progress.step(cat("write ", name));
    const auto t0 = std::chrono::steady_clock::now();
    write_bundle_to_file(m.contents, w, dir.file(name));
    return seconds_since(t0);
  };

  if (source)
    std::printf("mmb bench load: weights of %s (%s)\n", o.bundle.c_str(), std::string(dtype_name(source_dtype)).c_str());
  else
    std::printf("mmb bench load: %s with synthetic weights (make_synthetic_model, seed %llu: Gaussian, which\n"
                "compresses far less than trained weights do)\n",
                o.shape.c_str(), static_cast<unsigned long long>(o.seed));
  std::printf("bundles in %s (warm page cache), %d thread%s for checksums and decoding, zstd level %d\n\n",
              dir.path().c_str(), o.threads, o.threads == 1 ? "" : "s", o.level);

  // Timings on the source dtype.
  const std::string raw_path = dir.file("raw.mmb"), zstd_path = dir.file("zstd.mmb"), shuffle_path = dir.file("shuffle.mmb");
  Sizes raw_sizes;
  double write_raw = 0, write_zstd = 0, write_shuffle = 0;
  {
    SyntheticModel m = weights(source_dtype);
    write_raw = write(m, Codec::None, "raw.mmb");
    write_zstd = write(m, Codec::Zstd, "zstd.mmb");
    write_shuffle = write(m, Codec::ShuffleZstd, "shuffle.mmb");
  }
  raw_sizes = sizes_of(raw_path);
  std::printf("raw bundle: %s, %zu tensors, %s of %s weights (written in %.2f s; zstd %.2f s, shuffle-zstd %.2f s)\n\n",
              human_bytes(raw_sizes.file).c_str(), raw_sizes.tensors, human_bytes(raw_sizes.raw).c_str(),
              std::string(dtype_name(source_dtype)).c_str(), write_raw, write_zstd, write_shuffle);

  std::printf("  %-52s %13s %13s  %s\n", "open + verify", "median", "best", "throughput (raw bytes)");
  row(cat("reference: read every byte of the mapped file, ", o.threads, " threads"),
      time_read(raw_path, pool, std::max(1, std::min(o.repeat, 5))), raw_sizes.file);
  ReadOptions no_checksums;
  no_checksums.verify_checksums = false;
  row("raw, no checksums (mmap, zero copy)", time_load(raw_path, no_checksums, o.repeat), 0);
  ThreadPool one(1);
  PoolParallel serial(one);
  ReadOptions checksums_serial;
  checksums_serial.parallel = serial.get();
  const int heavy = std::max(1, std::min(o.repeat, 5));
  row("raw, xxh64 checksums, 1 thread", time_load(raw_path, checksums_serial, heavy), raw_sizes.raw);
  ReadOptions checksums;
  checksums.parallel = parallel.get();
  row(cat("raw, xxh64 checksums, ", o.threads, " threads"), time_load(raw_path, checksums, heavy), raw_sizes.raw);
  ReadOptions decode = no_checksums;
  decode.parallel = parallel.get();
  row(cat("zstd, decode, no checksums, ", o.threads, " threads"), time_load(zstd_path, decode, heavy), raw_sizes.raw);
  row(cat("shuffle-zstd, decode, no checksums, ", o.threads, " threads"), time_load(shuffle_path, decode, heavy),
      raw_sizes.raw);
  row(cat("shuffle-zstd, decode + checksums, ", o.threads, " threads"), time_load(shuffle_path, checksums, heavy),
      raw_sizes.raw);

  // Compressed sizes for every dtype.
  std::printf("\n  %-6s %12s %24s %24s\n", "dtype", "raw", "zstd: stored (ratio)", "shuffle-zstd: stored (ratio)");
  for (DType dtype : {DType::F32, DType::F16, DType::BF16, DType::Q8, DType::Q4}) {
    Sizes z, s;
    if (dtype == source_dtype) {
      z = sizes_of(zstd_path);
      s = sizes_of(shuffle_path);
    } else {
      SyntheticModel m = weights(dtype);
      write(m, Codec::Zstd, "ratio.mmb");
      z = sizes_of(dir.file("ratio.mmb"));
      write(m, Codec::ShuffleZstd, "ratio.mmb");
      s = sizes_of(dir.file("ratio.mmb"));
    }
    auto cell = [](const Sizes& x) {
      char buf[48];
      std::snprintf(buf, sizeof buf, "%s (%.3fx)", human_bytes(x.stored).c_str(), double(x.raw) / double(x.stored));
      return std::string(buf);
    };
    std::printf("  %-6s %12s %24s %24s\n", std::string(dtype_name(dtype)).c_str(), human_bytes(z.raw).c_str(),
                cell(z).c_str(), cell(s).c_str());
  }
  std::printf("\nratio = raw tensor bytes / stored tensor bytes (tensors that do not shrink are stored raw)\n");
  return 0;
}

}  // namespace mmb::cli
