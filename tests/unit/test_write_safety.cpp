// Files that are written must never be found half written: a bundle file cut anywhere
// is refused, `mmb pack` into a full disk (a file size limit, or a small tmpfs where it
// can be mounted) fails with a message and leaves neither a bundle nor a temporary
// file, and a conversation saved over an earlier save by `mmb chat` (/save) into a full
// disk keeps the earlier save.
#include "support/bundle_fixtures.hpp"
#include "support/model_harness.hpp"

#include "base/error.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace mmb;
using namespace mmb::testing;

namespace {

struct Run {
  int exit_code = -1;
  std::string out;
};

std::string slurp(const std::string& path) {
  if (!std::filesystem::exists(path)) return {};
  const std::vector<std::byte> b = test::read_file(path);
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

// Runs `mmb <args>` in `dir` with a file size limit of `blocks` 512-byte blocks (0: no
// limit) and SIGXFSZ ignored, so that a write past it fails with EFBIG. stdout and
// stderr go through a pipe (not limited) into one text.
Run mmb_limited(const std::string& dir, const std::string& args, unsigned blocks, const std::string& input = "/dev/null") {
  const std::string log = dir + "/../mmb-run-" + std::to_string(::getpid()) + ".log";
  const std::string code = dir + "/../mmb-run-" + std::to_string(::getpid()) + ".code";
  const std::string limit = blocks ? cat("trap '' XFSZ; ulimit -f ", blocks, "; ") : std::string();
  const std::string command = cat("cd '", dir, "' && { (", limit, MMB_CLI_LAUNCHER, "'", MMB_CLI_PATH, "' ", args, " <'",
                                  input, "'; echo $? >'", code, "') 2>&1 | cat >'", log, "'; }");
  const int status = std::system(command.c_str());
  REQUIRE(WIFEXITED(status));
  Run r;
  r.out = slurp(log);
  const std::string c = slurp(code);
  r.exit_code = c.empty() ? -1 : std::atoi(c.c_str());
  std::remove(log.c_str());
  std::remove(code.c_str());
  return r;
}

std::set<std::string> names_in(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

uint64_t le64(const std::vector<std::byte>& b, size_t at) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | uint64_t(b[at + size_t(i)]);
  return v;
}

}  // namespace

TEST_CASE("a bundle file cut at any length is refused", "[io_faults][write_safety]") {
  test::TempDir dir;
  RuntimePtr rt = make_runtime();
  size_t memory_points = 0, file_points = 0;
  for (Codec codec : {Codec::None, Codec::ShuffleZstd}) {
    SyntheticModel m = test::tiny_model(DType::F16, 21);
    WriterOptions w;
    w.codec = codec;
    const std::string whole = dir.path("whole.mmb");
    write_bundle_to_file(m.contents, w, whole);
    const std::vector<std::byte> bytes = test::read_file(whole);
    {
      mmb_model* ok = nullptr;
      REQUIRE(mmb_model_load_file(rt.get(), whole.c_str(), nullptr, &ok) == MMB_OK);
      mmb_model_destroy(ok);
    }
    // As files, densely around the end of each section: the header, each tensor, the
    // manifest (the whole file), and sparsely between.
    std::vector<uint64_t> ends = {64, le64(bytes, 16), bytes.size()};
    for (const test::CraftedTensor& t : test::CraftedBundle::from(bytes).tensors) {
      ends.push_back(t.offset);
      ends.push_back(t.offset + t.stored_size);
    }
    // From memory: every length within 64 bytes of a section's end, and every 61st.
    std::set<uint64_t> memory_cuts;
    for (uint64_t e : ends)
      for (int64_t d = -64; d <= 64; ++d)
        if (int64_t(e) + d >= 0 && uint64_t(int64_t(e) + d) < bytes.size()) memory_cuts.insert(uint64_t(int64_t(e) + d));
    for (uint64_t n = 0; n < bytes.size(); n += 61) memory_cuts.insert(n);
    for (uint64_t n : memory_cuts) {
      ++memory_points;
      mmb_model* out = nullptr;
      const mmb_status st = mmb_model_load_memory(rt.get(), bytes.data(), size_t(n), nullptr, &out);
      if (st != MMB_ERR_FORMAT || out) {
        FAIL_CHECK("memory cut to " << n << " of " << bytes.size() << ": " << mmb_status_string(st));
        mmb_model_destroy(out);
      }
    }
    // As files: within 2 bytes of each section's end, and every 4999th length.
    std::set<uint64_t> cuts;
    for (uint64_t e : ends)
      for (int64_t d = -2; d <= 2; ++d)
        if (int64_t(e) + d >= 0 && uint64_t(int64_t(e) + d) < bytes.size()) cuts.insert(uint64_t(int64_t(e) + d));
    for (uint64_t n = 0; n < bytes.size(); n += 4999) cuts.insert(n);
    const std::string cut = dir.path("cut.mmb");
    for (uint64_t n : cuts) {
      test::write_file(cut, std::span(bytes.data(), size_t(n)));
      mmb_model* out = nullptr;
      const mmb_status st = mmb_model_load_file(rt.get(), cut.c_str(), nullptr, &out);
      ++file_points;
      if ((st != MMB_ERR_FORMAT && st != MMB_ERR_IO) || out) {
        FAIL_CHECK("file cut to " << n << " of " << bytes.size() << ": " << mmb_status_string(st));
        mmb_model_destroy(out);
      }
    }
  }
  std::printf("[write_safety] bundle cuts: %zu from memory, %zu as files\n", memory_points, file_points);
  CHECK(memory_points > 0);
  CHECK(file_points > 0);
}

TEST_CASE("mmb pack into a full disk fails and leaves no file", "[io_faults][write_safety][cli]") {
  test::TempDir dir;
  SyntheticModel m = test::tiny_model(DType::F32, 23);
  write_bundle_to_file(m.contents, {}, dir.path("in.mmb"));
  const size_t in_size = test::read_file(dir.path("in.mmb")).size();
  REQUIRE(in_size > 16 * 512);
  const std::set<std::string> before = names_in(dir.dir());

  // A file size limit below the bundle: the write fails with EFBIG.
  for (unsigned blocks : {1u, 8u, unsigned(in_size / 512 / 2)}) {
    INFO("limit " << blocks << " blocks");
    const Run r = mmb_limited(dir.dir(), "pack in.mmb -o out.mmb", blocks);
    INFO(r.out);
    CHECK(r.exit_code != 0);
    CHECK_THAT(r.out, Catch::Contains("File too large"));
    CHECK(names_in(dir.dir()) == before);  // no out.mmb, no temporary file
  }
  // Over an existing bundle: the old one stays whole.
  std::filesystem::copy_file(dir.path("in.mmb"), dir.path("old.mmb"));
  const std::string old_bytes = slurp(dir.path("old.mmb"));
  const std::set<std::string> with_old = names_in(dir.dir());
  const Run r = mmb_limited(dir.dir(), "pack in.mmb --codec zstd -o old.mmb", unsigned(in_size / 512 / 4));
  INFO(r.out);
  CHECK(r.exit_code != 0);
  CHECK((slurp(dir.path("old.mmb")) == old_bytes));
  CHECK(names_in(dir.dir()) == with_old);
  // And without a limit it works.
  CHECK(mmb_limited(dir.dir(), "pack in.mmb -o out.mmb", 0).exit_code == 0);
  RuntimePtr rt = make_runtime();
  mmb_model* out = nullptr;
  CHECK(mmb_model_load_file(rt.get(), dir.path("out.mmb").c_str(), nullptr, &out) == MMB_OK);
  mmb_model_destroy(out);

  // A small tmpfs that fills up (ENOSPC), where this process may mount one.
  const std::string small = dir.path("small");
  std::filesystem::create_directory(small);
  if (::geteuid() == 0 && ::mount("tmpfs", small.c_str(), "tmpfs", 0, "size=64k") == 0) {
    const Run full = mmb_limited(small, "pack ../in.mmb -o out.mmb", 0);
    INFO(full.out);
    CHECK(full.exit_code != 0);
    CHECK_THAT(full.out, Catch::Contains("No space left on device"));
    CHECK(names_in(small).empty());
    ::umount(small.c_str());
  } else {
    WARN("no tmpfs could be mounted here (" << std::strerror(errno) << "): only the file size limit was tried");
  }
}

TEST_CASE("mmb chat /save into a full disk keeps the earlier save", "[io_faults][write_safety][cli][chat]") {
  test::TempDir dir;
  SyntheticModel m = test::tiny_model(DType::F32, 29);
  m.contents.tokenizer.chat_templates = {
      {"default", "{% for m in messages %}[{{ m['role'] }}]{{ m['content'] }}{% endfor %}"
                  "{% if add_generation_prompt %}[assistant]{% endif %}"}};
  write_bundle_to_file(m.contents, {}, dir.path("chat.mmb"));
  const std::string input = dir.path("input.txt");
  {
    const std::string text = "Hello there\n/save saved.chat\n/quit\n";
    test::write_file(input, std::as_bytes(std::span(text.data(), text.size())));
  }
  const Run first = mmb_limited(dir.dir(), "chat chat.mmb --temp 0 --max-tokens 4", 0, input);
  INFO(first.out);
  REQUIRE(first.exit_code == 0);
  const std::string saved = slurp(dir.path("saved.chat"));
  REQUIRE(saved.size() > 1024);
  const std::set<std::string> before = names_in(dir.dir());

  // A longer conversation saved over it, with a file size limit below its size.
  {
    const std::string text = "Hello there\nAnd a second, longer message\n/save saved.chat\n/quit\n";
    test::write_file(input, std::as_bytes(std::span(text.data(), text.size())));
  }
  const Run second = mmb_limited(dir.dir(), "chat chat.mmb --temp 0 --max-tokens 4", unsigned(saved.size() / 512 / 2), input);
  INFO(second.out);
  CHECK_THAT(second.out, Catch::Contains("cannot write"));
  const std::string after = slurp(dir.path("saved.chat"));
  INFO("the save file holds " << after.size() << " bytes; the earlier save had " << saved.size());
  CHECK(after.size() == saved.size());
  CHECK((after == saved));  // the earlier save is intact (written to a temporary file, renamed on success)
  CHECK(names_in(dir.dir()) == before);
}
