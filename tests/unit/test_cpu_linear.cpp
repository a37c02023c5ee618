// The matrix kernel against a float64 loop, for every weight dtype; batches and
// thread counts must not change a single bit of any output; q8's and q4's SIMD paths agree with their portable
// kernels and take every code without saturating.
#include <catch2/catch.hpp>

#include "backend/cpu/linear.hpp"
#include "backend/cpu/linear_quantized.hpp"
#include "backend/cpu/linear_simd.hpp"
#include "backend/cpu/simd_dispatch.hpp"
#include "backend/cpu/weight_load.hpp"
#include "base/dtype.hpp"
#include "base/tensor_values.hpp"
#include "reference/reference_model.hpp"
#include "support/kernel_paths.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

namespace {

struct TestMatrix {
  std::vector<std::byte> bytes;
  std::vector<double> values;  // what the stored (rounded) elements are
  mmb::Matrix view;
};

TestMatrix make_matrix(mmb::DType dtype, uint64_t rows, uint64_t cols, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(rows * cols);
  for (float& x : v) x = normal(rng);
  const uint64_t shape[2] = {rows, cols};
  TestMatrix m;
  m.bytes = mmb::encode_values(v, dtype, shape);
  const std::vector<float> stored = mmb::decode_values(m.bytes, dtype, shape);
  m.values.assign(stored.begin(), stored.end());
  m.view = {m.bytes.data(), dtype, rows, cols};
  if (mmb::dtype_quantized(dtype)) m.view.scales = m.bytes.data() + *mmb::quantized_scales_offset(dtype, rows, cols);
  return m;
}

// n random vectors of `cols` and room for their outputs, with the pointer arrays
// linear() takes (a copy points at its own vectors).
struct Inputs {
  std::vector<std::vector<float>> x, y;
  std::vector<const float*> xs;
  std::vector<float*> ys;
  Inputs(size_t n, uint64_t cols, uint64_t rows, std::mt19937& rng) : x(n, std::vector<float>(cols)), y(n, std::vector<float>(rows)) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (auto& row : x)
      for (auto& v : row) v = normal(rng);
    bind();
  }
  Inputs(const Inputs& o) : x(o.x), y(o.y) { bind(); }
  void bind() {
    for (size_t b = 0; b < x.size(); ++b) {
      xs.push_back(x[b].data());
      ys.push_back(y[b].data());
    }
  }
};

using mmb::testing::KernelPathScope;
using mmb::testing::supported_kernel_paths;

}  // namespace

TEST_CASE("MMB_CPU_KERNELS selects a path by name, the portable one where the CPU lacks it", "[cpu]") {
  using mmb::cpu::KernelPath;
#if defined(__aarch64__)
  CHECK(mmb::cpu::kernel_path_supported(KernelPath::NEON));  // part of the base architecture
  const KernelPath best = KernelPath::NEON;
#else
  CHECK_FALSE(mmb::cpu::kernel_path_supported(KernelPath::NEON));
  const KernelPath best = mmb::cpu::kernel_path_supported(KernelPath::AVX512) ? KernelPath::AVX512
                          : mmb::cpu::kernel_path_supported(KernelPath::AVX2) ? KernelPath::AVX2
                                                                              : KernelPath::Portable;
#endif
  for (KernelPath p : mmb::cpu::kAllKernelPaths) {
    INFO(mmb::cpu::kernel_path_name(p));
    CHECK(mmb::cpu::choose_kernel_path(mmb::cpu::kernel_path_name(p)) ==
          (mmb::cpu::kernel_path_supported(p) ? p : KernelPath::Portable));
  }
  CHECK(mmb::cpu::choose_kernel_path(nullptr) == best);
  CHECK(mmb::cpu::choose_kernel_path("NEON") == best);  // names are lower case; others are ignored
  CHECK(mmb::cpu::choose_kernel_path("") == best);
}

TEST_CASE("linear matches a float64 reference for every dtype and kernel path", "[cpu]") {
  std::mt19937 rng(42);
  mmb::ThreadPool pool(2);
  for (mmb::cpu::KernelPath path : supported_kernel_paths())
  for (mmb::DType dtype : {mmb::DType::F32, mmb::DType::F16, mmb::DType::BF16, mmb::DType::Q8, mmb::DType::Q4}) {
    KernelPathScope scope(path);
    for (auto [rows, cols] : {std::pair<uint64_t, uint64_t>{1, 1}, {37, 19}, {3, 48}, {300, 129}, {64, 1024}, {9, 8}, {11, 23}, {13, 16}, {7, 47}}) {
      INFO(mmb::cpu::kernel_path_name(path) << " " << mmb::dtype_name(dtype) << " [" << rows << ", " << cols << "]");
      TestMatrix W = make_matrix(dtype, rows, cols, rng);
      TestMatrix bias = make_matrix(mmb::dtype_quantized(dtype) ? mmb::DType::F32 : dtype, rows, 1, rng);  // 1-D: never quantized
      const size_t n = 7;  // a block of four vectors and one of three
      std::vector<std::vector<float>> x(n, std::vector<float>(cols)), y(n, std::vector<float>(rows));
      std::normal_distribution<float> normal(0.0f, 1.0f);
      const float* xs[n];
      float* ys[n];
      for (size_t b = 0; b < n; ++b) {
        for (auto& v : x[b]) v = normal(rng);
        xs[b] = x[b].data();
        ys[b] = y[b].data();
      }
      mmb::cpu::linear(pool, W.view, bias.view, xs, ys, n);
      for (size_t b = 0; b < n; ++b) {
        // q8 and q4 multiply the input as quantized per group (docs/bundle-format.md).
        std::vector<double> in(x[b].begin(), x[b].end());
        if (mmb::dtype_quantized(dtype)) in = mmb::reference::quantized_input(in);
        for (uint64_t r = 0; r < rows; ++r) {
          double want = bias.values[r], magnitude = std::abs(bias.values[r]);
          for (uint64_t c = 0; c < cols; ++c) {
            want += W.values[r * cols + c] * in[c];
            magnitude += std::abs(W.values[r * cols + c] * in[c]);
          }
          // f32 accumulation: error bounded by ~cols * 2^-24 * sum |terms|; 1e-6 * magnitude
          // is that bound for cols <= 1024 with a margin for the pairwise final reduction.
          CHECK(std::abs(double(y[b][r]) - want) <= 1e-6 * magnitude * std::sqrt(double(cols)) + 1e-7);
        }
      }
    }
  }
}

TEST_CASE("linear gives identical bits for any batch size and thread count", "[cpu][threads]") {
  for (mmb::cpu::KernelPath path : supported_kernel_paths())
  for (mmb::DType dtype : {mmb::DType::F32, mmb::DType::F16, mmb::DType::BF16, mmb::DType::Q8, mmb::DType::Q4}) {
    KernelPathScope scope(path);
    INFO(mmb::cpu::kernel_path_name(path) << " " << mmb::dtype_name(dtype));
    std::mt19937 rng(7);
    TestMatrix W = make_matrix(dtype, 257, 333, rng);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    const size_t n = 9;
    std::vector<std::vector<float>> x(n, std::vector<float>(333));
    for (auto& row : x)
      for (auto& v : row) v = normal(rng);
    auto run = [&](int threads, size_t batch) {
      mmb::ThreadPool pool(threads);
      std::vector<std::vector<float>> y(n, std::vector<float>(257));
      for (size_t start = 0; start < n; start += batch) {
        size_t m = std::min(batch, n - start);
        const float* xs[n];
        float* ys[n];
        for (size_t b = 0; b < m; ++b) {
          xs[b] = x[start + b].data();
          ys[b] = y[start + b].data();
        }
        mmb::cpu::linear(pool, W.view, mmb::Matrix{}, xs, ys, m);
      }
      return y;
    };
    auto reference = run(1, 1);
    CHECK(run(1, n) == reference);
    CHECK(run(3, 4) == reference);
    CHECK(run(2, n) == reference);
    CHECK(run(2, 3) == reference);
    CHECK(run(1, 2) == reference);
  }
}

TEST_CASE("batches of 16 to 64 vectors (lane panels) give the bits of single vectors on every path", "[cpu]") {
  // From 16 vectors the AVX2 kernel packs 16 rows at a time by lane and sums them as
  // outer products (linear_blocked.inc): rows past the last whole panel, columns past the
  // last whole vector, vector counts that leave a short block, values that overflow and
  // NaN must all give the bits of one vector at a time.
  mmb::ThreadPool pool(2);
  struct Shape {
    size_t rows, cols, n;
  };
  const Shape shapes[] = {{16, 8, 16},   {17, 13, 33},  {40, 101, 37}, {35, 768, 64},
                          {50, 1031, 19}, {15, 64, 64}, {32, 20, 48},  {48, 300, 33}};
  for (mmb::cpu::KernelPath path : supported_kernel_paths())
    for (mmb::DType dtype : {mmb::DType::F32, mmb::DType::F16, mmb::DType::BF16})
      for (const Shape& sh : shapes) {
        KernelPathScope scope(path);
        INFO(mmb::cpu::kernel_path_name(path) << " " << mmb::dtype_name(dtype) << " " << sh.rows << " x " << sh.cols
                                              << ", " << sh.n << " vectors");
        std::mt19937 rng(uint32_t(sh.rows * 131 + sh.cols));
        TestMatrix W = make_matrix(dtype, sh.rows, sh.cols, rng);
        Inputs all(sh.n, sh.cols, sh.rows, rng);
        all.x[3][sh.cols / 2] = 3e38f;  // with its neighbours' products, an infinity in some rows
        all.x[5][0] = NAN;
        Inputs one = all;
        mmb::cpu::linear(pool, W.view, mmb::Matrix{}, all.xs.data(), all.ys.data(), sh.n);
        for (size_t b = 0; b < sh.n; ++b) mmb::cpu::linear(pool, W.view, mmb::Matrix{}, &one.xs[b], &one.ys[b], 1);
        for (size_t b = 0; b < sh.n; ++b)
          CHECK(std::memcmp(all.y[b].data(), one.y[b].data(), sh.rows * sizeof(float)) == 0);
      }
}

TEST_CASE("a matrix of no columns gives empty sums on every path and dtype", "[cpu]") {
  // Nothing to divide a chunk or a buffer by: every kernel must still write zeros.
  mmb::ThreadPool pool(2);
  for (mmb::cpu::KernelPath path : supported_kernel_paths())
    for (mmb::DType dtype : {mmb::DType::F32, mmb::DType::F16, mmb::DType::BF16, mmb::DType::Q8, mmb::DType::Q4})
      for (size_t n : {size_t(1), size_t(9), size_t(20)}) {
        KernelPathScope scope(path);
        INFO(mmb::cpu::kernel_path_name(path) << " " << mmb::dtype_name(dtype) << ", " << n << " vectors");
        std::mt19937 rng(3);
        TestMatrix W = make_matrix(dtype, 40, 0, rng);
        Inputs in(n, 0, 40, rng);
        for (auto& y : in.y) std::fill(y.begin(), y.end(), NAN);
        mmb::cpu::linear(pool, W.view, mmb::Matrix{}, in.xs.data(), in.ys.data(), n);
        for (const auto& y : in.y) CHECK(std::all_of(y.begin(), y.end(), [](float v) { return v == 0.0f; }));
      }
}

TEST_CASE("q8 and q4 batches too large to quantize once give the bits of single vectors", "[cpu][q8][q4]") {
  // 18 or 40 vectors of 1031 columns do not fit the caller's buffer
  // (kQuantizedInputStackBytes): the tasks then quantize them in groups of at most 17,
  // as many groups as a multiple of the threads (18 vectors on 8 threads: 8 groups of 3,
  // the last two empty).
  const size_t rows = 70, cols = 1031;
  for (int threads : {2, 3, 8})
    for (size_t n : {18, 40}) {
      REQUIRE(n * mmb::cpu::quantized_input_bytes(cols) > mmb::cpu::kQuantizedInputStackBytes);
      mmb::ThreadPool pool(threads);
      for (mmb::cpu::KernelPath path : supported_kernel_paths())
        for (mmb::DType dtype : {mmb::DType::Q8, mmb::DType::Q4}) {
          KernelPathScope scope(path);
          INFO(mmb::cpu::kernel_path_name(path) << " " << mmb::dtype_name(dtype) << " " << n << " vectors, " << threads
                                                << " threads");
          std::mt19937 rng(29);
          TestMatrix W = make_matrix(dtype, rows, cols, rng);
          Inputs all(n, cols, rows, rng), one = all;
          mmb::cpu::linear(pool, W.view, mmb::Matrix{}, all.xs.data(), all.ys.data(), n);
          for (size_t b = 0; b < n; ++b) mmb::cpu::linear(pool, W.view, mmb::Matrix{}, &one.xs[b], &one.ys[b], 1);
          CHECK(all.y == one.y);
        }
    }
}

TEST_CASE("the vectorizable f16 conversion is exact for all 65536 values", "[cpu]") {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float want = mmb::f16_to_f32(uint16_t(h)), got = mmb::cpu::half_bits_to_float(uint16_t(h));
    if (std::isnan(want)) {
      CHECK(std::isnan(got));
    } else {
      uint32_t a, b;
      std::memcpy(&a, &want, 4);
      std::memcpy(&b, &got, 4);
      if (a != b) FAIL_CHECK("f16 0x" << std::hex << h << ": want " << want << ", got " << got);
    }
  }
}

TEST_CASE("every q8 and q4 SIMD path agrees with the portable kernel of its dtype on every shape", "[cpu]") {
  const std::vector<mmb::cpu::KernelPath> paths = supported_kernel_paths();
  if (paths.size() == 1) WARN("only the portable q8 and q4 kernels run on this CPU");
  std::mt19937 rng(11);
  mmb::ThreadPool pool(1);
  for (mmb::cpu::KernelPath path : paths) {
    if (path == mmb::cpu::KernelPath::Portable) continue;
    for (mmb::DType dtype : {mmb::DType::Q8, mmb::DType::Q4})
    for (uint64_t rows : {1, 3, 37}) {
      for (uint64_t cols : {1, 7, 8, 15, 16, 17, 31, 32, 33, 48, 100, 1024, 1031}) {
        for (size_t n : {1, 3, 9}) {  // 9: the rows widened to f32 first
          INFO(mmb::cpu::kernel_path_name(path) << " " << mmb::dtype_name(dtype) << " [" << rows << ", " << cols << "] x " << n);
          TestMatrix W = make_matrix(dtype, rows, cols, rng);
          Inputs portable(n, cols, rows, rng), simd = portable;
          {
            KernelPathScope scope(mmb::cpu::KernelPath::Portable);
            mmb::cpu::linear(pool, W.view, mmb::Matrix{}, portable.xs.data(), portable.ys.data(), n);
          }
          {
            KernelPathScope scope(path);
            mmb::cpu::linear(pool, W.view, mmb::Matrix{}, simd.xs.data(), simd.ys.data(), n);
          }
          for (size_t b = 0; b < n; ++b)
            for (uint64_t r = 0; r < rows; ++r) {
              double magnitude = 0;
              for (uint64_t c = 0; c < cols; ++c) magnitude += std::abs(W.values[r * cols + c] * double(portable.x[b][c]));
              // The same quantized input and exact integer group sums everywhere; only
              // the f32 sum over groups differs in order. Each is within ~cols * 2^-24 *
              // magnitude of the exact sum, so they are within twice the reference
              // test's bound.
              CHECK(std::abs(double(portable.y[b][r]) - double(simd.y[b][r])) <=
                    2e-6 * magnitude * std::sqrt(double(cols)) + 1e-7);
            }
        }
      }
    }
  }
}

TEST_CASE("the portable path's linear on q8 and q4 is q8_rows_portable and q4_rows_portable, and their rows load dequantized", "[cpu]") {
  for (mmb::DType dtype : {mmb::DType::Q8, mmb::DType::Q4}) {
    INFO(mmb::dtype_name(dtype));
    std::mt19937 rng(5);
    mmb::ThreadPool pool(2);
    TestMatrix W = make_matrix(dtype, 70, 48, rng);  // Mamba-130m's dt_proj width: 48 = 32 + 16
    Inputs direct(2, 48, 70, rng), through = direct;
    std::vector<std::byte> buffer(2 * mmb::cpu::quantized_input_bytes(48));
    const mmb::cpu::QuantizedInput x =
        mmb::cpu::quantize_inputs_portable(direct.xs.data(), 2, 48, mmb::cpu::input_zero(dtype), buffer.data());
    (dtype == mmb::DType::Q8 ? mmb::cpu::q8_rows_portable : mmb::cpu::q4_rows_portable)(W.view, 0, 70, x,
                                                                                        direct.ys.data());
    {
      KernelPathScope scope(mmb::cpu::KernelPath::Portable);
      mmb::cpu::linear(pool, W.view, mmb::Matrix{}, through.xs.data(), through.ys.data(), 2);
    }
    CHECK(direct.y == through.y);

    std::vector<float> row(48);
    for (uint64_t r : {0, 33, 69}) {
      mmb::cpu::load_row(W.view, r, row.data());
      for (uint64_t c = 0; c < 48; ++c) {
        CHECK(double(row[c]) == W.values[r * 48 + c]);
        CHECK(mmb::cpu::load(W.view, r * 48 + c) == row[c]);
      }
    }
  }
}

TEST_CASE("the AVX2 q8 and q4 kernels give the same bits with AVX-VNNI as without", "[cpu][q4][q8]") {
#if defined(__x86_64__)
  if (!mmb::cpu::kernel_path_supported(mmb::cpu::KernelPath::AVX2) || !mmb::cpu::cpu_has_avx_vnni()) {
    WARN("this CPU has no AVX-VNNI (or MMB_CPU_VNNI=0): the AVX2 kernels run without it, as tested elsewhere");
    return;
  }
  std::mt19937 rng(23);
  for (mmb::DType dtype : {mmb::DType::Q8, mmb::DType::Q4})
    for (uint64_t cols : {16, 32, 33, 48, 95, 100, 1031})
      for (size_t n : {1, 3, 9}) {
        INFO(mmb::dtype_name(dtype) << " [37, " << cols << "] x " << n);
        TestMatrix W = make_matrix(dtype, 37, cols, rng);
        Inputs with(n, cols, 37, rng), without = with;
        std::vector<std::byte> buffer(n * mmb::cpu::quantized_input_bytes(cols));
        const mmb::cpu::QuantizedInput x =
            mmb::cpu::quantize_inputs_x86(with.xs.data(), n, cols, mmb::cpu::input_zero(dtype), buffer.data());
        (dtype == mmb::DType::Q8 ? mmb::cpu::q8_rows_avx2 : mmb::cpu::q4_rows_avx2)(W.view, 0, 37, x, with.ys.data());
        mmb::cpu::quantized_rows_avx2_without_vnni(W.view, 0, 37, x, without.ys.data());
        CHECK(with.y == without.y);
      }
#else
  WARN("not an x86-64 build");
#endif
}

TEST_CASE("the q8 kernels take every byte, -128 included, without saturating", "[cpu][q8]") {
  // Codes at the extremes against inputs that quantize to +-127: a 16-bit pair sum of
  // 2 x 128 x 127 = 32512 is the most the AVX2 kernel's VPMADDUBSW may see, and a
  // kernel that offset the codes without widening would saturate. Every group's sum is
  // exact, so every path gives the float64 value to within the f32 sum over groups.
  mmb::ThreadPool pool(1);
  for (uint64_t cols : {32, 48, 64, 1024}) {
    const uint64_t rows = 4;
    const uint64_t shape[2] = {rows, cols};
    std::vector<std::byte> bytes(*mmb::tensor_bytes(mmb::DType::Q8, shape));
    const int8_t pattern[rows][2] = {{-128, -128}, {127, 127}, {-128, 127}, {127, -128}};
    for (uint64_t r = 0; r < rows; ++r)
      for (uint64_t c = 0; c < cols; ++c) bytes[r * cols + c] = std::byte(uint8_t(pattern[r][c % 2]));
    std::byte* scales = bytes.data() + *mmb::q8_scales_offset(rows, cols);
    for (uint64_t g = 0; g < rows * mmb::q8_groups(cols); ++g) {
      const uint16_t one = 0x3c00;  // 1.0 in f16
      std::memcpy(scales + 2 * g, &one, 2);
    }
    mmb::Matrix m{bytes.data(), mmb::DType::Q8, rows, cols};
    m.scales = scales;
    std::vector<float> x(cols);
    for (uint64_t c = 0; c < cols; ++c) x[c] = (c % 8 == 7 ? -127.0f : 127.0f);  // d = 1, q = x
    for (mmb::cpu::KernelPath path : supported_kernel_paths()) {
      KernelPathScope scope(path);
      std::vector<float> y(rows);
      const float* xs[1] = {x.data()};
      float* ys[1] = {y.data()};
      mmb::cpu::linear(pool, m, mmb::Matrix{}, xs, ys, 1);
      for (uint64_t r = 0; r < rows; ++r) {
        double want = 0;
        for (uint64_t c = 0; c < cols; ++c) want += double(pattern[r][c % 2]) * x[c];
        INFO(mmb::cpu::kernel_path_name(path) << " cols " << cols << " row " << r);
        CHECK(double(y[r]) == want);
      }
    }
  }
}
