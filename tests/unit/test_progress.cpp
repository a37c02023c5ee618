// Progress of the tooling's long steps: the bundle writer's, the synthetic model's and
// the repacker's callbacks (bytes, 0 first, the total last, cancel), and the CLI's
// display of them (progress_display.hpp) in each style, on a fake clock.
#include <catch2/catch.hpp>

#include "support/bundle_fixtures.hpp"

#include "base/error.hpp"
#include "bundle_repack.hpp"
#include "progress_display.hpp"
#include "synthetic_model.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace mmb;

namespace {

const HostAllocator kAllocator;

// Records every report; cancels at report number `cancel_at` (0: never).
struct Recorder {
  std::vector<std::pair<uint64_t, uint64_t>> calls;
  size_t cancel_at = 0;
  bool other_thread = false;
  std::thread::id caller = std::this_thread::get_id();
  bool operator()(uint64_t done, uint64_t total) {
    other_thread |= std::this_thread::get_id() != caller;
    calls.emplace_back(done, total);
    return calls.size() != cancel_at;
  }
};

// 0 first, then climbing, done == total exactly once: last.
void check_reports(const Recorder& r, uint64_t total) {
  REQUIRE(r.calls.size() >= 2);
  CHECK_FALSE(r.other_thread);
  CHECK(r.calls.front() == std::make_pair(uint64_t(0), total));
  CHECK(r.calls.back() == std::make_pair(total, total));
  for (size_t i = 1; i < r.calls.size(); ++i) {
    CHECK(r.calls[i].first >= r.calls[i - 1].first);
    CHECK(r.calls[i].second == total);
    if (i + 1 < r.calls.size()) CHECK(r.calls[i].first < total);
  }
}

uint64_t tensor_bytes_of(const BundleContents& c) {
  uint64_t n = 0;
  for (const WriterTensor& t : c.tensors) n += t.data.size();
  return n;
}

// What a display wrote to its stream.
struct Captured {
  std::FILE* file = std::tmpfile();
  ~Captured() { std::fclose(file); }
  std::string text() const {
    std::fflush(file);
    std::string s(size_t(std::ftell(file)), '\0');
    std::rewind(file);
    s.resize(std::fread(s.data(), 1, s.size(), file));
    return s;
  }
};

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("the writer reports bytes written on its own thread, the total last, and can cancel", "[bundle]") {
  SyntheticModel model = test::tiny_model(DType::F32);
  const uint64_t total = tensor_bytes_of(model.contents);
  for (Codec codec : {Codec::None, Codec::ShuffleZstd}) {
    INFO(codec_name(codec));
    Recorder recorder;
    ProgressFn progress(recorder);
    WriterOptions wo;
    wo.codec = codec;
    wo.threads = 2;
    wo.progress = &progress;
    const std::vector<std::byte> bytes = write_bundle_to_memory(model.contents, wo);
    check_reports(recorder, total);
    CHECK(recorder.calls.size() == model.contents.tensors.size() + 1);  // 0, then each tensor, the last one at the end
    wo.progress = nullptr;
    CHECK(bytes == write_bundle_to_memory(model.contents, wo));  // the same bytes with or without
  }

  test::TempDir dir;
  for (size_t cancel_at : {size_t(1), size_t(3), model.contents.tensors.size() + 1}) {
    INFO("cancelled at report " << cancel_at);
    Recorder recorder;
    recorder.cancel_at = cancel_at;
    ProgressFn progress(recorder);
    WriterOptions wo;
    wo.progress = &progress;
    try {
      write_bundle_to_file(model.contents, wo, dir.path("model.mmb"));
      FAIL("expected MMB_ERR_CANCELLED");
    } catch (const Error& e) {
      CHECK(e.status() == MMB_ERR_CANCELLED);
      CHECK_THAT(e.what(), Catch::Contains("writing cancelled"));
    }
    CHECK(recorder.calls.size() == cancel_at);  // no report after the one that cancelled
    CHECK(std::filesystem::is_empty(dir.dir()));  // neither the bundle nor its temporary file
  }
}

TEST_CASE("the synthetic model and the repacker report bytes per tensor, the total last", "[bundle]") {
  Recorder made;
  ProgressFn made_progress(made);
  SyntheticOptions so;
  so.dtype = DType::Q8;
  so.progress = &made_progress;
  SyntheticModel model = make_synthetic_model(named_shape("tiny"), so);
  check_reports(made, tensor_bytes_of(model.contents));
  CHECK(made.calls.size() == model.contents.tensors.size() + 1);

  const std::vector<std::byte> bytes = write_bundle_to_memory(model.contents, {});
  auto bundle = LoadedBundle::load(open_memory_source(bytes.data(), bytes.size(), false, kAllocator), {}, kAllocator);
  Recorder repacked;
  ProgressFn repack_progress(repacked);
  RepackedBundle r = repack_bundle(*bundle, DType::BF16, &repack_progress);
  uint64_t raw = 0;
  for (const TensorView& t : bundle->tensors()) raw += t.raw_size;
  check_reports(repacked, raw);

  Recorder cancelling;
  cancelling.cancel_at = 2;
  ProgressFn cancel(cancelling);
  so.progress = &cancel;
  try {
    make_synthetic_model(named_shape("tiny"), so);
    FAIL("expected MMB_ERR_CANCELLED");
  } catch (const Error& e) {
    CHECK(e.status() == MMB_ERR_CANCELLED);
  }
  CHECK(cancelling.calls.size() == 2);
}

TEST_CASE("progress on a terminal: one bar per step, redrawn with \\r, ended with a newline", "[cli]") {
  Captured out;
  double now = 0;
  {
    cli::ProgressDisplay display("synth", cli::ProgressStyle::Bar, out.file, [&] { return now; });
    ProgressFn* generate = display.step("generate");
    ProgressFn* write = display.step("write");
    REQUIRE(generate);
    CHECK((*generate)(0, 1000));
    now = 0.05;
    CHECK((*generate)(100, 1000));  // within 0.1 s of the last draw: not drawn
    now = 0.5;
    CHECK((*generate)(500, 1000));
    now = 1.0;
    CHECK((*generate)(1000, 1000));
    CHECK((*generate)(1000, 1000));  // a repeated last report draws nothing more
    CHECK((*write)(0, 4 << 20));
    now = 2.0;
    CHECK((*write)(1 << 20, 4 << 20));
    // The command fails here: the destructor ends the open bar.
  }
  const std::string s = out.text();
  const std::string first = s.substr(0, s.find('\n'));
  CHECK(count(first, "\r") == 3);
  CHECK_THAT(first, Catch::StartsWith("\rsynth: generate ["));
  CHECK_THAT(first, Catch::Contains("]   0%  "));
  CHECK_THAT(first, Catch::Contains("]  50%   500 / 1000 B      1000 B/s  ETA 1 s"));
  CHECK_THAT(first, Catch::Contains("] 100%  1000 / 1000 B      1000 B/s  in 1.0 s"));
  CHECK_THAT(first, !Catch::Contains("  10%"));
  const std::string second = s.substr(first.size() + 1);
  CHECK_THAT(second, Catch::StartsWith("\rsynth: write ["));
  CHECK_THAT(second, Catch::Contains("0.0 / 4.0 MiB"));
  CHECK_THAT(second, Catch::Contains("1.0 / 4.0 MiB"));
  CHECK_THAT(second, Catch::EndsWith("\n"));
  CHECK(count(s, "\n") == 2);
  for (const std::string& line : {first, second.substr(0, second.size() - 1)})
    for (size_t at = line.find('\r'); at != std::string::npos; at = line.find('\r', at + 1))
      CHECK(std::min(line.find('\r', at + 1), line.size()) - at - 1 < 80);  // every frame fits 80 columns
}

TEST_CASE("progress on a pipe: nothing for quick steps, else lines at 10% steps and a last line", "[cli]") {
  Captured out;
  double now = 0;
  {
    cli::ProgressDisplay display("pack", cli::ProgressStyle::Lines, out.file, [&] { return now; });
    ProgressFn* quick = display.step("read");
    ProgressFn* slow = display.step("write");
    (*quick)(0, 100);
    now = 0.9;
    (*quick)(100, 100);  // done within a second: no line at all
    now = 1.0;
    (*slow)(0, 1000);
    now = 1.5;
    (*slow)(150, 1000);  // within the first second
    now = 2.2;
    (*slow)(250, 1000);  // line (20%)
    now = 3.0;
    (*slow)(450, 1000);  // a further 10% but within 2 s of the last line
    now = 4.3;
    (*slow)(460, 1000);  // line (40%)
    now = 40.0;
    (*slow)(470, 1000);  // no further 10%, but 30 s without a line
    now = 41.0;
    (*slow)(1000, 1000);  // the last line
  }
  CHECK(out.text() ==
        "pack: write  25%   250 / 1000 B       208 B/s  ETA 4 s\n"
        "pack: write  46%   460 / 1000 B       139 B/s  ETA 4 s\n"
        "pack: write  47%   470 / 1000 B        12 B/s  ETA 44 s\n"
        "pack: write 100%  1000 / 1000 B        25 B/s  in 40.0 s\n");
}

TEST_CASE("progress with --quiet: no callback at all", "[cli]") {
  Captured out;
  cli::ProgressDisplay display("verify", cli::ProgressStyle::Off, out.file);
  CHECK(display.step("check") == nullptr);
  CHECK(out.text().empty());
}
