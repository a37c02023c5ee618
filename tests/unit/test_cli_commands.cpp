// `mmb generate` and `mmb logits` run as a user runs them (the built binary, on a real
// bundle of the synthetic "tiny" model), checked against the same work done through
// the C API: usage errors, streamed text, seeds, and the .npy of every step's logits.
#include <catch2/catch.hpp>

#include "synthetic_model.hpp"

#include <moemamba/moemamba.h>

#include <sys/wait.h>

#include <algorithm>
#include <chrono>
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

// Runs `mmb <arguments>` (shell syntax) with stdin from `input` (default /dev/null).
Run run_mmb(const std::string& arguments, const std::string& input = "/dev/null") {
  const std::string base = std::string(MMB_BINARY_DIR) + "/test_cli_commands." + std::to_string(::getpid());
  const std::string command = std::string(MMB_CLI_LAUNCHER) + "'" + MMB_CLI_PATH + "' " + arguments +
                              " < '" + input + "' > '" + base + ".out' 2> '" + base + ".err'";
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

TEST_CASE("mmb bench jobs prints the frame figures of a scene whose host thread sleeps or spins between frames", "[cli][jobs]") {
  const std::string scene = "bench jobs --shape tiny --characters 2 --frames 24 --cancels 2 --threads 2 --hz 240 --budget-us 2000";
  for (const bool busy : {false, true}) {
    INFO((busy ? "--host-busy" : "sleeping"));
    const auto t0 = std::chrono::steady_clock::now();
    const Run r = run_mmb(scene + (busy ? " --host-busy" : ""));
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    REQUIRE(r.exit_code == 0);
    const size_t line = r.out.find("scene: 2 characters at 240 Hz, 24 frames, budget 2000 us");
    REQUIRE(line != std::string::npos);
    const std::string text = r.out.substr(line, r.out.find('\n', line) - line);
    CHECK((text.find(", host thread busy between frames: frame work p50") != std::string::npos) == busy);
    const size_t rate = text.rfind("; ");
    REQUIRE(rate != std::string::npos);
    CHECK(std::atof(text.c_str() + rate + 2) > 0.0);  // "N tokens/s overall"
    CHECK(text.find("tokens/s overall") != std::string::npos);
    CHECK(seconds >= 24.0 / 240.0);  // the frames are paced, by sleeping or by spinning
    CHECK(r.out.find("cancel: 2 cancels") != std::string::npos);
  }
  const Run bad = run_mmb(scene + " --hz 0");
  CHECK(bad.exit_code != 0);
  CHECK(bad.err.find("--hz must be positive") != std::string::npos);
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

namespace {

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// The tiny model with a ChatML template (whose markers the byte tokenizer reads as
// plain text) and a second template that refuses conversations not opened by a user.
const std::string& chat_bundle() {
  static const ProcessFile file = [] {
    const std::string p = std::string(MMB_BINARY_DIR) + "/test_cli_chat." + std::to_string(::getpid()) + ".mmb";
    mmb::SyntheticModel model = mmb::make_synthetic_model(mmb::named_shape("tiny"), {});
    model.contents.tokenizer.chat_templates = {
        {"default",
         "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] | trim }}<|im_end|>\n{% endfor %}"
         "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"},
        {"strict",
         "{% if messages[0]['role'] != 'user' %}{{ raise_exception('Conversations must start with the user') }}{% endif %}"
         "{% for m in messages %}{{ m.content }};{% endfor %}"}};
    mmb::write_bundle_to_file(model.contents, {}, p);
    return ProcessFile{p};
  }();
  return file.path;
}

}  // namespace

TEST_CASE("mmb chat --render prints exactly the template's text, or fails with its message", "[cli][chat]") {
  const std::string bundle = "'" + chat_bundle() + "'";
  const ProcessFile messages{std::string(MMB_BINARY_DIR) + "/test_cli_chat_messages." + std::to_string(::getpid()) + ".json"};
  write_text(messages.path, R"([{"role": "system", "content": "  Be \"brief\".  "}, {"role": "user", "content": "h\u00e9llo\nthere"}])");

  const Run plain = run_mmb("chat " + bundle + " --render '" + messages.path + "'");
  REQUIRE(plain.exit_code == 0);
  CHECK(plain.out == "<|im_start|>system\nBe \"brief\".<|im_end|>\n<|im_start|>user\nh\xC3\xA9llo\nthere<|im_end|>\n");
  const Run open = run_mmb("chat " + bundle + " --render '" + messages.path + "' --add-generation-prompt");
  REQUIRE(open.exit_code == 0);
  CHECK(open.out == plain.out + "<|im_start|>assistant\n");

  const Run refused = run_mmb("chat " + bundle + " --template strict --render '" + messages.path + "'");
  CHECK(refused.exit_code == 1);
  CHECK(refused.out.empty());
  CHECK(refused.err.find("MMB_ERR_TEMPLATE") != std::string::npos);
  CHECK(refused.err.find("Conversations must start with the user") != std::string::npos);

  write_text(messages.path, R"([{"role": "user"}])");
  const Run malformed = run_mmb("chat " + bundle + " --render '" + messages.path + "'");
  CHECK(malformed.exit_code == 1);
  CHECK(malformed.err.find("message 0 needs a string") != std::string::npos);
  CHECK(run_mmb("chat " + bundle + " --template nope --render '" + messages.path + "'").exit_code == 1);
}

TEST_CASE("mmb chat talks over stdin: replies, reuse, /save and /load, /reset", "[cli][chat]") {
  const std::string bundle = "'" + chat_bundle() + "'";
  const std::string base = std::string(MMB_BINARY_DIR) + "/test_cli_chat_session." + std::to_string(::getpid());
  const ProcessFile input{base + ".txt"}, saved{base + ".chat"};
  write_text(input.path, "Hello there\n/save " + saved.path + "\nAnd again\n/load " + saved.path +
                             "\nAnd again\n/reset\nFresh start\n/bogus\n/quit\nnever read\n");
  const Run run = run_mmb("chat " + bundle + " --temp 0 --max-tokens 6 --stats", input.path);
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  // Four replies, one line each (the tiny model's text is arbitrary bytes: count lines).
  CHECK(std::count(run.out.begin(), run.out.end(), '\n') >= 4);
  CHECK(run.err.find("[saved " + saved.path + ": 2 messages]") != std::string::npos);
  CHECK(run.err.find("[loaded " + saved.path + ": 2 messages]") != std::string::npos);
  CHECK(run.err.find("[new conversation]") != std::string::npos);
  CHECK(run.err.find("[commands: /reset, /save FILE, /load FILE, /quit]") != std::string::npos);
  // The second turn reuses the first; after /load the same turn reuses just as much.
  std::vector<std::string> stats;
  for (size_t at = run.err.find("[prompt "); at != std::string::npos; at = run.err.find("[prompt ", at + 1))
    stats.push_back(run.err.substr(at, run.err.find(']', at) - at));
  REQUIRE(stats.size() == 4);
  CHECK(stats[0].find(" 0 reused") != std::string::npos);
  CHECK(stats[1].find(" 0 reused") == std::string::npos);
  CHECK(stats[1].substr(0, stats[1].find(';')) == stats[2].substr(0, stats[2].find(';')));
  CHECK(stats[3].find(" 0 reused") != std::string::npos);
}
