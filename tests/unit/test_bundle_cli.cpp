// The bundle commands of the mmb CLI, run as a user runs them: exit codes, output,
// and one-line errors.
#include <catch2/catch.hpp>

#include "support/bundle_fixtures.hpp"

#include "base/error.hpp"
#include "bundle/bundle_format.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/wait.h>

using namespace mmb;

namespace {

struct Run {
  int exit_code = -1;
  std::string out, err;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

Run mmb_cli(const test::TempDir& dir, const std::string& args) {
  const std::string out = dir.path("stdout.txt"), err = dir.path("stderr.txt");
  const std::string command =
      cat("cd '", dir.dir(), "' && ", MMB_CLI_LAUNCHER, "'", MMB_CLI_PATH, "' ", args, " >'", out, "' 2>'", err, "'");
  const int status = std::system(command.c_str());
  Run r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

size_t lines(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

}  // namespace

TEST_CASE("mmb synth, inspect and verify on a good bundle", "[bundle][cli]") {
  test::TempDir dir;
  Run synth = mmb_cli(dir, "synth --shape tiny --dtype f16 --codec shuffle-zstd --seed 5 -o tiny.mmb");
  REQUIRE(synth.exit_code == 0);
  CHECK(synth.err.empty());

  auto loaded = test::try_load(open_file_source(dir.path("tiny.mmb")));
  REQUIRE(loaded.status == MMB_OK);
  const size_t n_tensors = tensor_specs(named_shape("tiny")).size();
  CHECK(loaded.bundle->tensors().size() == n_tensors);
  CHECK(loaded.bundle->find("embed.weight")->dtype == DType::F16);
  CHECK(loaded.bundle->find("embed.weight")->codec == Codec::ShuffleZstd);
  // The same seed writes the same file.
  REQUIRE(mmb_cli(dir, "synth --shape tiny --dtype f16 --codec shuffle-zstd --seed 5 -o again.mmb").exit_code == 0);
  CHECK(test::read_file(dir.path("again.mmb")) == test::read_file(dir.path("tiny.mmb")));

  Run inspect = mmb_cli(dir, "inspect tiny.mmb");
  REQUIRE(inspect.exit_code == 0);
  CHECK_THAT(inspect.out, Catch::Contains("d_model 64, vocab 256"));
  CHECK_THAT(inspect.out, Catch::Contains("moe    4 experts (swiglu d_ff 96), top 2"));
  CHECK_THAT(inspect.out, Catch::Contains("256 pieces"));
  CHECK_THAT(inspect.out, Catch::Contains("source = make_synthetic_model seed 5"));
  CHECK_THAT(inspect.out, Catch::Contains(cat("tensors    ", n_tensors)));
  CHECK_THAT(inspect.out, Catch::Contains("layers.3.moe.experts.2.w3.weight"));
  CHECK_THAT(inspect.out, Catch::Contains("[96, 64]"));
  CHECK_THAT(inspect.out, Catch::Contains("shuffle-zstd"));
  CHECK_THAT(inspect.out, Catch::Contains("active per token"));

  Run verify = mmb_cli(dir, "verify tiny.mmb");
  CHECK(verify.exit_code == 0);
  CHECK(verify.out.rfind("ok: tiny.mmb: ", 0) == 0);
}

TEST_CASE("mmb synth --dtype q8, inspect it, and pack it into bf16 and back", "[bundle][cli][q8]") {
  test::TempDir dir;
  REQUIRE(mmb_cli(dir, "synth --shape tiny --dtype q8 --seed 5 -o q8.mmb").exit_code == 0);
  CHECK(mmb_cli(dir, "verify q8.mmb").exit_code == 0);
  Run inspect = mmb_cli(dir, "inspect q8.mmb");
  REQUIRE(inspect.exit_code == 0);
  // One line each: std::regex recurses per character, too deep for the whole output
  // under AddressSanitizer's larger stack frames.
  auto line_of = [&](const std::string& name) {
    const size_t at = inspect.out.find(name);
    if (at == std::string::npos) return std::string();
    const size_t begin = inspect.out.rfind('\n', at) + 1;  // npos + 1 == 0
    return inspect.out.substr(begin, inspect.out.find('\n', at) - begin);
  };
  CHECK_THAT(line_of("layers.0.mamba.in_proj.weight"), Catch::Matches(" *layers.0.mamba.in_proj.weight +q8 +\\[256, 64\\].*"));
  CHECK_THAT(line_of("layers.0.mamba.A_log"), Catch::Matches(" *layers.0.mamba.A_log +f32 .*"));

  Run wide = mmb_cli(dir, "pack q8.mmb -o wide.mmb --dtype bf16 --codec zstd");
  CHECK(wide.exit_code == 0);
  CHECK_THAT(wide.out, Catch::StartsWith("packed wide.mmb (mmb, f32+bf16, tokenizer the bundle's): 59 tensors"));
  Run back = mmb_cli(dir, "pack wide.mmb -o back.mmb --dtype q8");
  CHECK(back.exit_code == 0);
  CHECK_THAT(back.out, Catch::StartsWith("packed back.mmb (mmb, f32+q8, tokenizer the bundle's)"));
  CHECK(mmb_cli(dir, "verify back.mmb").exit_code == 0);

  Run bad = mmb_cli(dir, "synth --shape tiny --dtype int4 -o x.mmb");
  CHECK(bad.exit_code != 0);
  CHECK_THAT(bad.err, Catch::Contains("--dtype takes f32, f16, bf16, q8 or q4, not 'int4'"));
}

TEST_CASE("mmb verify and inspect report a bad bundle in one line and exit 1", "[bundle][cli]") {
  test::TempDir dir;
  REQUIRE(mmb_cli(dir, "synth --shape tiny --codec none -o good.mmb").exit_code == 0);
  std::vector<std::byte> bytes = test::read_file(dir.path("good.mmb"));
  auto good = test::try_load_memory(bytes);
  REQUIRE(good.status == MMB_OK);
  const TensorView& victim = *good.bundle->find("layers.4.mamba.x_proj.weight");
  bytes[victim.offset + victim.raw_size / 2] ^= std::byte{0x10};
  test::write_file(dir.path("flipped.mmb"), bytes);
  test::write_file(dir.path("cut.mmb"), std::span(bytes).first(bytes.size() - 10));

  Run flipped = mmb_cli(dir, "verify flipped.mmb");
  CHECK(flipped.exit_code == 1);
  CHECK(flipped.out.empty());
  CHECK(lines(flipped.err) == 1);
  CHECK_THAT(flipped.err, Catch::Contains("mmb verify: MMB_ERR_FORMAT") &&
                              Catch::Contains("tensor 'layers.4.mamba.x_proj.weight'") && Catch::Contains("xxh64"));
  // inspect reads no tensor data, so the flip does not stop it; the truncation does.
  CHECK(mmb_cli(dir, "inspect flipped.mmb").exit_code == 0);
  Run cut = mmb_cli(dir, "inspect cut.mmb");
  CHECK(cut.exit_code == 1);
  CHECK(lines(cut.err) == 1);
  CHECK_THAT(cut.err, Catch::Contains("MMB_ERR_FORMAT") && Catch::Contains("manifest"));

  Run missing = mmb_cli(dir, "verify absent.mmb");
  CHECK(missing.exit_code == 1);
  CHECK(lines(missing.err) == 1);
  CHECK_THAT(missing.err, Catch::Contains("MMB_ERR_IO") && Catch::Contains("absent.mmb"));

  for (const char* bad : {"synth --shape tiny --dtype f8 -o x.mmb", "synth --shape nope -o x.mmb", "synth --shape tiny",
                          "verify", "verify a.mmb b.mmb", "bench load --threads 0", "bench nothing"}) {
    INFO(bad);
    Run r = mmb_cli(dir, bad);
    CHECK(r.exit_code != 0);
    CHECK(lines(r.err) == 1);
  }
}

TEST_CASE("mmb bench load prints its table", "[bundle][cli]") {
  test::TempDir dir;
  Run bench = mmb_cli(dir, cat("bench load --shape tiny --repeat 1 --dir '", dir.dir(), "'"));
  REQUIRE(bench.exit_code == 0);
  CHECK_THAT(bench.out, Catch::Contains("synthetic weights"));
  CHECK_THAT(bench.out, Catch::Contains("raw, no checksums (mmap, zero copy)"));
  CHECK_THAT(bench.out, Catch::Contains("shuffle-zstd, decode"));
  CHECK_THAT(bench.out, Catch::Contains("GB/s"));
  CHECK_THAT(bench.out, Catch::Contains("bf16"));
  // Its temporary bundles are gone.
  size_t left = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.dir())) left += e.path().extension() != ".txt";
  CHECK(left == 0);
}

TEST_CASE("mmb bench matrix prints GFLOP/s per matrix, and a BLAS's sgemm computing the same product", "[cli]") {
  test::TempDir dir;
  Run bench = mmb_cli(dir, "bench matrix --threads 1 --dtype f32 --dtype q4 --vectors 1 --vectors 17 --seconds 0.005");
  REQUIRE(bench.exit_code == 0);
  INFO(bench.out);
  CHECK_THAT(bench.out, Catch::Contains("cpu: ") && Catch::Contains("kernels "));
  const bool blas = bench.out.find("baseline: cblas_sgemm from") != std::string::npos;
  if (!blas) CHECK_THAT(bench.out, Catch::Contains("baseline: none ("));
  size_t rows = 0;
  std::istringstream lines_in(bench.out);
  for (std::string line; std::getline(lines_in, line);) {
    std::istringstream in(line);
    std::string name, by, dtype;
    size_t r = 0, c = 0, vectors = 0;
    int threads = 0;
    double gflops = 0, gbs = 0;
    if (!(in >> name >> r >> by >> c >> dtype >> vectors >> threads >> gflops >> gbs) || by != "x") continue;
    ++rows;
    CHECK(gflops > 0.0);
    CHECK(threads == 1);
    if (!blas) continue;
    double theirs = 0, diff = 0;
    std::string share;
    REQUIRE(in >> theirs >> share >> diff);
    CHECK(theirs > 0.0);
    // The same f32 product up to summation order; q4 differs by its rounding (a wrong
    // row or column would be off by the outputs' own size).
    CHECK(diff < (dtype == "f32" ? 1e-5 : 0.3));
  }
  CHECK(rows == 4 * 2 * 2);  // matrices x dtypes x vector counts

  Run none = mmb_cli(dir, "bench matrix --threads 1 --dtype f32 --vectors 2 --seconds 0.005 --blas none");
  REQUIRE(none.exit_code == 0);
  CHECK_THAT(none.out, Catch::Contains("baseline: none (--blas none)"));
  for (const char* bad : {"bench matrix --blas /nonexistent/libblas-nothing.so", "bench matrix --vectors 0",
                          "bench matrix --vectors 65", "bench matrix --seconds 0", "bench matrix --dtype f8",
                          "bench matrix --frames 3"}) {
    INFO(bad);
    Run r = mmb_cli(dir, bad);
    CHECK(r.exit_code != 0);
    CHECK(lines(r.err) == 1);
  }
}

TEST_CASE("mmb bench decode prints a row per batch size, and changes a shape's experts", "[cli]") {
  test::TempDir dir;
  Run bench = mmb_cli(dir, "bench decode --shape tiny --threads 1 --batch 2 --batch 5 --tokens 2 --repetitions 1 "
                           "--prefill 8 --backend cpu --experts 3");
  REQUIRE(bench.exit_code == 0);
  CHECK_THAT(bench.out, Catch::Contains("model: tiny, 3 experts"));
  CHECK_THAT(bench.out, Catch::Contains("threads 1: read bandwidth"));
  for (const char* row : {"decode b=1 ", "decode b=2 ", "decode b=5 ", "prefill 8 "}) {
    INFO(row);
    CHECK_THAT(bench.out, Catch::Contains(row));
  }
  // tiny's MoE layers have 4 experts: 3 makes the model smaller, with as many active.
  Run four = mmb_cli(dir, "bench decode --shape tiny --threads 1 --batch 1 --tokens 1 --repetitions 1 --prefill 0 "
                          "--backend cpu --json");
  REQUIRE(four.exit_code == 0);
  CHECK_THAT(four.out, Catch::Contains("\"what\": \"decode b=1\""));
  CHECK_THAT(four.out, !Catch::Contains("decode b=4"));  // --batch 1 asks for no batched row

  for (const char* bad : {"bench decode --shape tiny --backend gpu", "bench decode x.mmb --experts 2",
                          "bench decode --shape tiny --experts 0"}) {
    INFO(bad);
    Run r = mmb_cli(dir, bad);
    CHECK(r.exit_code != 0);
    CHECK(lines(r.err) == 1);
  }
  Run cuda = mmb_cli(dir, "bench decode --shape tiny --backend cuda --tokens 1 --repetitions 1 --prefill 0");
  if (cuda.exit_code != 0) {
    CHECK(lines(cuda.err) == 1);
    CHECK_THAT(cuda.err, Catch::Contains("MMB_ERR_BACKEND"));
  } else {
    CHECK_THAT(cuda.out, Catch::Contains("CUDA device 0"));
  }
}
