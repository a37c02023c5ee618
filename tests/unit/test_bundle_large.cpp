// Bundles whose offsets pass 4 GiB, without 4 GiB of memory or disk: a virtual sparse
// host I/O source (zeros generated on the fly) and a sparse file.
#include <catch2/catch.hpp>

#include "support/bundle_fixtures.hpp"

#include "base/error.hpp"

#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace mmb;

namespace {

constexpr uint64_t kShift = 5ull << 30;  // the moved tensors and the manifest start past 5 GiB

// The bundle of `model`, with its second half of tensors and its manifest moved past
// kShift, as pieces of a virtual file (zeros in between).
test::SparseIo moved_past_4gib(const SyntheticModel& model, Codec codec) {
  WriterOptions wo;
  wo.codec = codec;
  const std::vector<std::byte> bytes = write_bundle_to_memory(model.contents, wo);
  test::CraftedBundle c = test::CraftedBundle::from(bytes);
  const size_t first_moved = c.tensors.size() / 2;
  test::SparseIo io;
  io.pieces.emplace_back(0, std::vector<std::byte>(c.data.begin(), c.data.begin() + std::ptrdiff_t(c.tensors[first_moved].offset)));
  uint64_t end = 0;
  for (size_t i = first_moved; i < c.tensors.size(); ++i) {
    test::CraftedTensor& t = c.tensors[i];
    const auto* from = c.data.data() + t.offset;
    t.offset += kShift;
    io.pieces.emplace_back(t.offset, std::vector<std::byte>(from, from + t.stored_size));
    end = t.offset + t.stored_size;
  }
  const std::vector<std::byte> manifest = c.manifest();
  const uint64_t manifest_at = (end + 63) / 64 * 64;
  io.pieces.emplace_back(manifest_at, manifest);
  const auto header = test::make_header(manifest_at, manifest.size(), manifest.size(), 0, test::xxh64_of(manifest));
  std::memcpy(io.pieces[0].second.data(), header.data(), header.size());
  io.size = manifest_at + manifest.size();
  return io;
}

void check_tensors(const LoadedBundle& b, const SyntheticModel& model) {
  REQUIRE(b.tensors().size() == model.contents.tensors.size());
  size_t beyond = 0;
  for (size_t i = 0; i < b.tensors().size(); ++i) {
    const TensorView& t = b.tensors()[i];
    INFO(t.name);
    REQUIRE(t.raw_size == model.contents.tensors[i].data.size());
    CHECK(std::memcmp(t.data, model.contents.tensors[i].data.data(), t.raw_size) == 0);
    beyond += t.offset > (4ull << 30);
  }
  CHECK(beyond == b.tensors().size() - b.tensors().size() / 2);
  CHECK(b.file_size() > kShift);
}

}  // namespace

TEST_CASE("a bundle with offsets past 4 GiB loads through a virtual sparse host I/O source", "[bundle]") {
  const SyntheticModel model = test::tiny_model(DType::F16);
  for (Codec codec : {Codec::None, Codec::ShuffleZstd}) {
    INFO(codec_name(codec));
    test::SparseIo io = moved_past_4gib(model, codec);
    mmb_io callbacks = io.io();
    test::LoadResult r = test::try_load(open_io_source(callbacks));
    REQUIRE(r.message == "");
    check_tensors(*r.bundle, model);
    // Only the header, manifest and tensors were read, never the gigabytes between.
    CHECK(io.bytes_read < (4u << 20));
  }
  // Offsets are u64 end to end: a tensor pushed 4 GiB further is past the end of the
  // file, not wrapped back into it.
  test::CraftedBundle c = test::CraftedBundle::from(write_bundle_to_memory(model.contents, {}));
  c.tensors.back().offset += 1ull << 32;
  CHECK(test::try_load_memory(c.build()).status == MMB_ERR_FORMAT);
}

TEST_CASE("a sparse bundle file over 4 GiB loads through the memory map", "[bundle]") {
  const SyntheticModel model = test::tiny_model(DType::BF16);
  test::SparseIo io = moved_past_4gib(model, Codec::Zstd);
  test::TempDir dir;
  const std::string path = dir.path("sparse.mmb");
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(::ftruncate(fd, off_t(io.size)) == 0);
  for (const auto& [at, bytes] : io.pieces) REQUIRE(::pwrite(fd, bytes.data(), bytes.size(), off_t(at)) == ssize_t(bytes.size()));
  struct stat st {};
  REQUIRE(::fstat(fd, &st) == 0);
  ::close(fd);
  if (uint64_t(st.st_blocks) * 512 > (64u << 20)) {
    WARN("the temporary directory's file system does not keep files sparse; skipped");
    return;
  }
  test::LoadResult r = test::try_load(open_file_source(path));
  REQUIRE(r.message == "");
  check_tensors(*r.bundle, model);
}
