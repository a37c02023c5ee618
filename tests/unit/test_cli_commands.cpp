// `mmb generate` and `mmb logits` run as a user runs them (the built binary, on a real
// bundle of the synthetic "tiny" model), checked against the same work done through
// the C API: usage errors, streamed text, seeds, and the .npy of every step's logits.
#include <catch2/catch.hpp>

#include "synthetic_model.hpp"

#include <moemamba/moemamba.h>

#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

#include <unistd.h>
#include <vector>

namespace {

struct Run {
  int exit_code;
  std::string out, err;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Runs `mmb <arguments>` (shell syntax) with stdin from /dev/null.
Run run_mmb(const std::string& arguments) {
  const std::string base = std::string(MMB_BINARY_DIR) + "/test_cli_commands." + std::to_string(::getpid());
  const std::string command = std::string(MMB_CLI_LAUNCHER) + "'" + MMB_CLI_PATH + "' " + arguments +
                              " < /dev/null > '" + base + ".out' 2> '" + base + ".err'";
  const int status = std::system(command.c_str());
  Run run{WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_file(base + ".out"), read_file(base + ".err")};
  std::remove((base + ".out").c_str());
  std::remove((base + ".err").c_str());
  REQUIRE(WIFEXITED(status));
  return run;
}

// A file of this process's, removed when the process ends.
struct ProcessFile {
  std::string path;
  ~ProcessFile() { std::remove(path.c_str()); }
};

const std::string& tiny_bundle() {
  static const ProcessFile file = [] {
    // One file per process: ctest runs test cases as parallel processes.
    const std::string p = std::string(MMB_BINARY_DIR) + "/test_cli_commands_tiny." + std::to_string(::getpid()) + ".mmb";
    const mmb::SyntheticModel model = mmb::make_synthetic_model(mmb::named_shape("tiny"), {});
    mmb::write_bundle_to_file(model.contents, {}, p);
    return ProcessFile{p};
  }();
  return file.path;
}

void check_ok(mmb_status s) {
  INFO(mmb_last_error());
  REQUIRE(s == MMB_OK);
}

struct Loaded {
  mmb_runtime* runtime = nullptr;
  mmb_model* model = nullptr;
  mmb_session* session = nullptr;
  explicit Loaded(const std::string& path) {
    mmb_runtime_options o;
    check_ok(mmb_runtime_options_init(&o, sizeof o));
    o.n_threads = 1;
    check_ok(mmb_runtime_create(&o, &runtime));
    check_ok(mmb_model_load_file(runtime, path.c_str(), nullptr, &model));
    check_ok(mmb_session_create(model, nullptr, &session));
  }
  ~Loaded() {
    mmb_session_destroy(session);
    mmb_model_destroy(model);
    mmb_runtime_destroy(runtime);
  }
};

int32_t collect_text(void* user, int32_t, const char* text, size_t len) {
  static_cast<std::string*>(user)->append(text, len);
  return 1;
}

}  // namespace

TEST_CASE("mmb generate / logits: --help, and each usage error is one line with exit code 2", "[cli]") {
  for (const char* command : {"generate", "logits"}) {
    const Run help = run_mmb(std::string(command) + " --help");
    CHECK(help.exit_code == 0);
    CHECK(help.out.rfind(std::string("usage: mmb ") + command, 0) == 0);
  }
  const std::string bundle = "'" + tiny_bundle() + "'";
  for (const std::string& arguments : {
           std::string("generate"),
           "generate " + bundle,
           "generate " + bundle + " --prompt",
           "generate " + bundle + " --prompt hi --temp warm",
           "generate " + bundle + " --prompt hi --top-p 1.5",
           "generate " + bundle + " --prompt hi --max-tokens -1",
           "generate " + bundle + " --prompt hi --unknown",
           "generate " + bundle + " extra --prompt hi",
           std::string("logits"),
           "logits " + bundle + " --out x.npy",
           "logits " + bundle + " --tokens 1,2 --text hi --out x.npy",
           "logits " + bundle + " --tokens 1,,2 --out x.npy",
           "logits " + bundle + " --tokens 1,256 --out x.npy",
           "logits " + bundle + " --tokens 1",
       }) {
    INFO("mmb " << arguments);
    const Run r = run_mmb(arguments);
    CHECK(r.exit_code == 2);
    CHECK(r.out.empty());
    CHECK(r.err.rfind("mmb ", 0) == 0);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  }
  const Run missing = run_mmb("generate '" + std::string(MMB_BINARY_DIR) + "/no-such-bundle.mmb' --prompt hi");
  CHECK(missing.exit_code == 1);
  CHECK(missing.err.find("MMB_ERR_IO") != std::string::npos);
  CHECK(std::count(missing.err.begin(), missing.err.end(), '\n') == 1);
}

TEST_CASE("mmb generate prints what mmb_generate produces, the same for the same seed", "[cli]") {
  const std::string common = "generate '" + tiny_bundle() + "' --prompt 'Once upon a time' --max-tokens 24 --threads 1 "
                             "--temp 1.1 --top-k 50 --top-p 0.9 --min-p 0.02 --repeat-penalty 1.2";
  const Run first = run_mmb(common + " --seed 5");
  REQUIRE(first.exit_code == 0);
  CHECK(first.err.find("[generated 24 tokens in ") != std::string::npos);
  CHECK(first.err.find("prompt 16 tokens") != std::string::npos);  // 16 bytes, no BOS in a byte tokenizer
  CHECK(run_mmb(common + " --seed 5").out == first.out);
  CHECK(run_mmb(common + " --seed 6").out != first.out);

  Loaded loaded(tiny_bundle());
  mmb_sampler_params p;
  check_ok(mmb_sampler_params_init(&p, sizeof p));
  p.temperature = 1.1f;
  p.top_k = 50;
  p.top_p = 0.9f;
  p.min_p = 0.02f;
  p.repetition_penalty = 1.2f;
  p.seed = 5;
  mmb_sampler* sampler = nullptr;
  check_ok(mmb_sampler_create(&p, &sampler));
  mmb_generate_options o;
  check_ok(mmb_generate_options_init(&o, sizeof o));
  o.max_tokens = 24;
  std::string text;
  const std::string prompt = "Once upon a time";
  check_ok(mmb_generate(loaded.session, sampler, prompt.data(), prompt.size(), &o, collect_text, &text));
  mmb_sampler_destroy(sampler);
  CHECK(first.out == text);
}

TEST_CASE("mmb logits writes each step's logits as a float32 (n, vocab) .npy", "[cli]") {
  const std::string out = std::string(MMB_BINARY_DIR) + "/test_cli_commands_logits.npy";
  const std::vector<int32_t> tokens = {72, 105, 33, 0, 255};
  const Run r = run_mmb("logits '" + tiny_bundle() + "' --tokens 72,105,33,0,255 --threads 1 --out '" + out + "'");
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.find("[wrote logits [5, 256]") != std::string::npos);

  const std::string bytes = read_file(out);
  REQUIRE(bytes.size() > 10);
  const size_t header_len = size_t(uint8_t(bytes[8])) | size_t(uint8_t(bytes[9])) << 8;
  CHECK(bytes.find("'shape': (5, 256)") < 10 + header_len);
  REQUIRE(bytes.size() == 10 + header_len + tokens.size() * 256 * sizeof(float));

  Loaded loaded(tiny_bundle());
  std::vector<float> expected(256);
  for (size_t i = 0; i < tokens.size(); ++i) {
    check_ok(mmb_session_step(loaded.session, tokens[i], expected.data(), expected.size()));
    for (size_t v = 0; v < 256; ++v) {
      float got;
      std::memcpy(&got, bytes.data() + 10 + header_len + (i * 256 + v) * sizeof(float), sizeof got);  // a little-endian host
      INFO("step " << i << ", logit " << v);
      REQUIRE(got == expected[v]);  // same library, same thread count: the same bits
    }
  }
}
