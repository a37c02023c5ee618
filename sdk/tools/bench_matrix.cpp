#include "bench_matrix.hpp"

#include "blas_baseline.hpp"
#include "bundle_args.hpp"
#include "cpu_description.hpp"

#include "backend/cpu/linear.hpp"
#include "base/dtype.hpp"
#include "base/error.hpp"
#include "base/tensor_values.hpp"
#include "base/thread_pool.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

namespace mmb::cli {

namespace {

struct Options {
  std::vector<int> threads;
  std::vector<DType> dtypes;
  std::vector<size_t> vectors;
  std::string blas;  // empty: libopenblas.so.0; "none": no baseline
  double seconds = 0.05;
};

void usage() {
  std::printf(
      "usage: mmb bench matrix [--threads N]... [--dtype f32|f16|bf16|q8|q4]... [--vectors N]...\n"
      "                        [--blas PATH|none] [--seconds S]\n\n"
      "Times the CPU matrix kernel (y = W x for N vectors at once, as decode batches and prefill\n"
      "chunks run it) on the projections of the Mamba 130M shape: in_proj 3072x768, x_proj\n"
      "80x1536, dt_proj 1536x48, out_proj 768x1536. Prints GFLOP/s (2 x rows x cols x N per\n"
      "call, best of five rounds of at least S/5 seconds each, default S 0.05) and the weights'\n"
      "bytes read per second. The weights stay in cache between calls: this is the kernel's\n"
      "arithmetic, not the memory's (mmb bench decode measures that).\n"
      "Beside each row: an optimized BLAS's cblas_sgemm on the same f32 matrix and vectors\n"
      "(--blas PATH, default libopenblas.so.0, loaded at run time; none to skip), its GFLOP/s\n"
      "with the same threads, the kernel's speed as a share of it, and the largest difference\n"
      "between their f32 outputs relative to the output's largest magnitude. OpenBLAS runs the\n"
      "kernels of the CPU kind whose instructions the matrix kernel uses (OPENBLAS_CORETYPE\n"
      "SkylakeX on the avx512 path, Haswell on avx2) unless the environment names one: it\n"
      "falls back to SSE3 kernels on CPU models newer than itself.\n"
      "Defaults: --threads 1 --threads 2, every dtype, --vectors 1 --vectors 16 --vectors 64.\n");
}

Options parse(const std::vector<std::string>& args) {
  Options o;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--threads") {
      o.threads.push_back(int(parse_integer(a, option_value(args, i), 1, 256)));
    } else if (a == "--dtype") {
      o.dtypes.push_back(parse_dtype(option_value(args, i)));
    } else if (a == "--vectors") {
      o.vectors.push_back(size_t(parse_integer(a, option_value(args, i), 1, int64_t(cpu::kMaxLinearBatch))));
    } else if (a == "--blas") {
      o.blas = option_value(args, i);
    } else if (a == "--seconds") {
      const std::string& v = option_value(args, i);
      char* end = nullptr;
      o.seconds = std::strtod(v.c_str(), &end);
      if (end == v.c_str() || *end || !(o.seconds > 0.0 && o.seconds <= 60.0))
        fail(MMB_ERR_INVALID_ARGUMENT, "--seconds takes a number in (0, 60], not '", v, "'");
    } else {
      fail(MMB_ERR_INVALID_ARGUMENT, "unexpected argument '", a, "' (see mmb bench matrix --help)");
    }
  }
  if (o.threads.empty()) o.threads = {1, 2};
  if (o.dtypes.empty()) o.dtypes = {DType::F32, DType::F16, DType::BF16, DType::Q8, DType::Q4};
  if (o.vectors.empty()) o.vectors = {1, 16, 64};
  return o;
}

struct Shape {
  const char* name;
  size_t rows, cols;
};
constexpr Shape kShapes[] = {{"in_proj", 3072, 768}, {"x_proj", 80, 1536}, {"dt_proj", 1536, 48}, {"out_proj", 768, 1536}};

// A matrix's values stored as `dtype`, as bundles store them.
struct Weights {
  std::vector<std::byte> stored;
  Matrix m;
};

Weights store_as(const std::vector<float>& values, const Shape& s, DType dtype) {
  const uint64_t shape[2] = {s.rows, s.cols};
  Weights w{encode_values(values, dtype, shape), {}};
  w.m = Matrix{w.stored.data(), dtype, s.rows, s.cols};
  if (dtype_quantized(dtype)) w.m.scales = w.stored.data() + *quantized_scales_offset(dtype, s.rows, s.cols);
  return w;
}

// GFLOP/s of `call` doing `flops` a call: the best of five rounds.
template <typename Call>
double gflops(double flops, double seconds, Call call) {
  using Clock = std::chrono::steady_clock;
  call();  // warm: caches, the pool's threads, a BLAS's buffers
  double best = 0.0;
  for (int round = 0; round < 5; ++round) {
    const auto t0 = Clock::now();
    size_t calls = 0;
    double elapsed = 0.0;
    do {
      call();
      ++calls;
      elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
    } while (elapsed < seconds / 5);
    best = std::max(best, flops * double(calls) / elapsed * 1e-9);
  }
  return best;
}

}  // namespace

int run_bench_matrix(const std::vector<std::string>& args) {
  if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
    usage();
    return 0;
  }
  const Options o = parse(args);
  // OpenBLAS picks its kernels by CPU model and falls back to its SSE3 ones on a model it
  // does not know (Debian 12's 0.3.21 on Emerald Rapids): name the kind whose
  // instructions the matrix kernels use, so both sides use the same ones.
  const std::string path = cpu_kernel_path_name();
  const char* core_type = path == "avx512" ? "SkylakeX" : path == "avx2" ? "Haswell" : nullptr;
  const BlasBaseline blas(o.blas, core_type);
  const bool with_blas = o.blas != "none" && blas.loaded();
  std::printf("%s\n", cpu_description_line().c_str());
  if (o.blas == "none") std::printf("baseline: none (--blas none)\n");
  else if (with_blas)
    std::printf("baseline: cblas_sgemm from %s (f32 weights; threads as the row's; OPENBLAS_CORETYPE=%s)\n",
                blas.name().c_str(), std::getenv("OPENBLAS_CORETYPE") ? std::getenv("OPENBLAS_CORETYPE") : "unset");
  else if (!o.blas.empty()) fail(MMB_ERR_IO, "--blas ", o.blas, ": ", blas.error());
  else std::printf("baseline: none (%s: %s; --blas PATH names another)\n", blas.name().c_str(), blas.error().c_str());
  std::printf("\n%-9s %10s %-5s %7s %7s %9s %9s %9s %9s %9s\n", "matrix", "rows x cols", "dtype", "vectors", "threads",
              "GFLOP/s", "GB/s", with_blas ? "BLAS" : "", with_blas ? "share" : "", with_blas ? "max diff" : "");

  std::mt19937 rng(7);
  for (const Shape& s : kShapes) {
    size_t most = *std::max_element(o.vectors.begin(), o.vectors.end());
    std::vector<float> x(most * s.cols), y(most * s.rows), reference(most * s.rows);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (float& v : x) v = normal(rng);
    std::vector<const float*> xs(most);
    std::vector<float*> ys(most);
    for (size_t v = 0; v < most; ++v) {
      xs[v] = x.data() + v * s.cols;
      ys[v] = y.data() + v * s.rows;
    }
    std::vector<float> values(s.rows * s.cols);
    std::normal_distribution<float> weight(0.0f, 1.0f / std::sqrt(float(s.cols)));
    for (float& v : values) v = weight(rng);
    for (DType dtype : o.dtypes) {
      const Weights used = store_as(values, s, dtype);
      for (size_t n : o.vectors)
        for (int threads : o.threads) {
          ThreadPool pool(threads);
          const double flops = 2.0 * double(s.rows) * double(s.cols) * double(n);
          const double ours = gflops(flops, o.seconds, [&] {
            cpu::linear(pool, used.m, Matrix{}, xs.data(), ys.data(), n);
          });
          const double bytes_per_second = ours / flops * double(used.m.bytes());  // GB/s, as GFLOP/s is 1e9
          std::printf("%-9s %4zu x %-4zu %-5s %7zu %7d %9.1f %9.1f", s.name, s.rows, s.cols,
                      std::string(dtype_name(dtype)).c_str(), n, threads, ours, bytes_per_second);
          if (with_blas) {
            blas.set_threads(threads);
            const double theirs = gflops(flops, o.seconds, [&] {
              blas.multiply(values.data(), s.rows, s.cols, x.data(), n, reference.data());
            });
            // Against the f32 weights: for the other dtypes the difference is their rounding
            // (and for q8 and q4 the input's).
            double diff = 0.0, top = 0.0;
            for (size_t i = 0; i < n * s.rows; ++i) {
              diff = std::max(diff, double(std::fabs(y[i] - reference[i])));
              top = std::max(top, double(std::fabs(reference[i])));
            }
            std::printf(" %9.1f %8.0f%% %9.1e", theirs, 100.0 * ours / theirs, top > 0 ? diff / top : diff);
          }
          std::printf("\n");
        }
    }
  }
  return 0;
}

}  // namespace mmb::cli
