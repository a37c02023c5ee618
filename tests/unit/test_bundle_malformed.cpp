// Malformed bundles: each gives its status and a message naming the problem, and none
// crashes, hangs or reads outside the bytes (run under ASan in CI: loads copy the
// bytes into exactly sized memory).
#include <catch2/catch.hpp>

#include "support/bundle_fixtures.hpp"

#include "base/error.hpp"
#include "bundle/bundle_format.hpp"

#include <algorithm>
#include <cstring>
#include <functional>
#include <random>
#include <set>

using namespace mmb;
using test::CraftedBundle;
using test::LoadResult;

namespace {

std::vector<std::byte> tiny_bundle(DType dtype, Codec codec, bool compress_manifest) {
  WriterOptions wo;
  wo.codec = codec;
  wo.compress_manifest = compress_manifest;
  return write_bundle_to_memory(test::tiny_model(dtype).contents, wo);
}

// Three bundles that between them use every codec and both manifest encodings.
const std::vector<std::byte>& raw_bundle() {
  static const std::vector<std::byte> bytes = tiny_bundle(DType::F32, Codec::None, true);
  return bytes;
}
const std::vector<std::byte>& zstd_bundle() {
  static const std::vector<std::byte> bytes = tiny_bundle(DType::F16, Codec::ShuffleZstd, true);
  return bytes;
}
const std::vector<std::byte>& uncompressed_manifest_bundle() {
  static const std::vector<std::byte> bytes = tiny_bundle(DType::BF16, Codec::Zstd, false);
  return bytes;
}

void put(std::vector<std::byte>& bytes, uint64_t at, uint64_t value, int n) {
  for (int i = 0; i < n; ++i) bytes[at + i] = std::byte(value >> (8 * i));
}

uint64_t get(const std::vector<std::byte>& bytes, uint64_t at, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= uint64_t(bytes[at + i]) << (8 * i);
  return v;
}

// The tensors of a loaded bundle equal those of `reference`.
bool same_tensors(const LoadedBundle& a, const LoadedBundle& reference) {
  if (a.tensors().size() != reference.tensors().size()) return false;
  for (size_t i = 0; i < a.tensors().size(); ++i) {
    const TensorView &x = a.tensors()[i], &y = reference.tensors()[i];
    if (x.raw_size != y.raw_size || std::memcmp(x.data, y.data, x.raw_size) != 0) return false;
  }
  return true;
}

// Cut points: both sides of every section boundary, plus random ones.
std::set<uint64_t> cut_points(const std::vector<std::byte>& bytes, uint32_t seed) {
  auto r = test::try_load_memory(bytes);
  REQUIRE(r.status == MMB_OK);
  std::set<uint64_t> cuts;
  auto around = [&](uint64_t at, int spread) {
    for (int d = -spread; d <= spread; ++d)
      if (int64_t(at) + d >= 0 && uint64_t(int64_t(at) + d) < bytes.size()) cuts.insert(uint64_t(int64_t(at) + d));
  };
  for (uint64_t i = 0; i < kBundleHeaderSize; ++i) cuts.insert(i);
  for (const TensorView& t : r.bundle->tensors()) {
    around(t.offset, 2);
    around(t.offset + t.stored_size, 2);
  }
  const uint64_t manifest = get(bytes, BundleHeaderLayout::manifest_offset, 8);
  around(manifest, 3);
  around(manifest + r.bundle->manifest_stored_size() / 2, 1);
  around(bytes.size(), 3);
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 100; ++i) cuts.insert(kBundleHeaderSize + rng() % (bytes.size() - kBundleHeaderSize));
  return cuts;
}

void expect(const LoadResult& r, mmb_status status, const std::string& fragment) {
  INFO("message: " << r.message);
  CHECK(r.status == status);
  CHECK_THAT(r.message, Catch::Contains(fragment));
}

}  // namespace

TEST_CASE("truncation at every header byte and around every section boundary is a format error", "[bundle]") {
  for (const auto* bundle : {&raw_bundle(), &zstd_bundle(), &uncompressed_manifest_bundle()}) {
    const std::vector<std::byte>& bytes = *bundle;
    for (uint64_t cut : cut_points(bytes, 17)) {
      INFO("cut at " << cut << " of " << bytes.size());
      LoadResult r = test::try_load_memory(std::span(bytes).first(cut));
      CHECK(r.status == MMB_ERR_FORMAT);
      if (cut < kBundleHeaderSize) CHECK_THAT(r.message, Catch::Contains("shorter than the 64-byte header"));
    }
  }
  // The same through host I/O and a mapped file.
  const auto& bytes = raw_bundle();
  test::TempDir dir;
  for (uint64_t cut : {uint64_t(0), uint64_t(63), uint64_t(64), uint64_t(bytes.size() / 2), uint64_t(bytes.size() - 1)}) {
    test::MemoryIo io{std::span(bytes).first(cut)};
    mmb_io callbacks = io.io();
    CHECK(test::try_load(open_io_source(callbacks)).status == MMB_ERR_FORMAT);
    const std::string path = dir.path(cat("cut", cut, ".mmb"));
    test::write_file(path, std::span(bytes).first(cut));
    CHECK(test::try_load(open_file_source(path)).status == MMB_ERR_FORMAT);
  }
}

TEST_CASE("every bit flip in the header is caught, with or without checksums", "[bundle]") {
  for (const auto* bundle : {&raw_bundle(), &zstd_bundle(), &uncompressed_manifest_bundle()}) {
    std::vector<std::byte> bytes = *bundle;
    for (uint64_t bit = 0; bit < kBundleHeaderSize * 8; ++bit) {
      INFO("bit " << bit);
      bytes[bit / 8] ^= std::byte(1u << (bit % 8));
      for (bool verify : {true, false}) {
        LoadResult r = test::try_load_memory(bytes, verify);
        CHECK((r.status == MMB_ERR_FORMAT || r.status == MMB_ERR_UNSUPPORTED));
      }
      bytes[bit / 8] ^= std::byte(1u << (bit % 8));
    }
    CHECK(test::try_load_memory(bytes).status == MMB_OK);
  }
}

TEST_CASE("bit flips in the manifest are caught by its checksum or its decoder", "[bundle]") {
  for (const auto* bundle : {&raw_bundle(), &zstd_bundle(), &uncompressed_manifest_bundle()}) {
    std::vector<std::byte> bytes = *bundle;
    const bool compressed = get(bytes, BundleHeaderLayout::manifest_codec, 4) != 0;
    LoadResult clean = test::try_load_memory(bytes);
    REQUIRE(clean.status == MMB_OK);
    const uint64_t at = get(bytes, BundleHeaderLayout::manifest_offset, 8);
    const uint64_t size = get(bytes, BundleHeaderLayout::manifest_stored_size, 8);
    std::vector<uint64_t> bits;
    for (uint64_t b = 0; b < 8 * std::min<uint64_t>(size, 24); ++b) {
      bits.push_back(8 * at + b);
      bits.push_back(8 * (at + size) - 1 - b);
    }
    std::mt19937_64 rng(5);
    for (int i = 0; i < 200; ++i) bits.push_back(8 * at + rng() % (8 * size));
    for (uint64_t bit : bits) {
      INFO("bit " << bit - 8 * at << " of the " << (compressed ? "compressed" : "raw") << " manifest");
      bytes[bit / 8] ^= std::byte(1u << (bit % 8));
      LoadResult r = test::try_load_memory(bytes, false);
      if (compressed && r.status == MMB_OK) {
        // A few bits of a zstd frame do not change what it decodes to; the xxh64 of
        // the decoded manifest still guarantees nothing else got through.
        CHECK(r.bundle->tensors().size() == clean.bundle->tensors().size());
        CHECK(same_tensors(*r.bundle, *clean.bundle));
      } else {
        CHECK(r.status == MMB_ERR_FORMAT);
      }
      bytes[bit / 8] ^= std::byte(1u << (bit % 8));
    }
  }
}

TEST_CASE("bit flips in tensor data are caught by checksums, and only structure is checked without", "[bundle]") {
  SECTION("raw tensors") {
    std::vector<std::byte> bytes = raw_bundle();
    LoadResult clean = test::try_load_memory(bytes);
    REQUIRE(clean.status == MMB_OK);
    std::mt19937_64 rng(9);
    for (const TensorView& t : clean.bundle->tensors()) {
      INFO("tensor " << t.name);
      const uint64_t bit = 8 * t.offset + rng() % (8 * t.stored_size);
      bytes[bit / 8] ^= std::byte(1u << (bit % 8));
      expect(test::try_load_memory(bytes), MMB_ERR_FORMAT, "tensor '" + t.name + "'");
      CHECK_THAT(test::try_load_memory(bytes).message, Catch::Contains("xxh64"));
      LoadResult skipped = test::try_load_memory(bytes, false);
      REQUIRE(skipped.status == MMB_OK);
      const TensorView& flipped = *skipped.bundle->find(t.name);
      CHECK(std::memcmp(flipped.data, t.data, t.raw_size) != 0);
      bytes[bit / 8] ^= std::byte(1u << (bit % 8));
    }
  }
  SECTION("compressed tensors") {
    std::vector<std::byte> bytes = zstd_bundle();
    LoadResult clean = test::try_load_memory(bytes);
    REQUIRE(clean.status == MMB_OK);
    std::mt19937_64 rng(10);
    for (const TensorView& t : clean.bundle->tensors()) {
      for (int i = 0; i < 4; ++i) {
        const uint64_t bit = 8 * t.offset + rng() % (8 * t.stored_size);
        INFO("tensor " << t.name << " bit " << bit);
        bytes[bit / 8] ^= std::byte(1u << (bit % 8));
        // With checksums: refused, unless the flip decodes to the very same bytes.
        LoadResult r = test::try_load_memory(bytes);
        CHECK((r.status == MMB_ERR_FORMAT || (r.status == MMB_OK && same_tensors(*r.bundle, *clean.bundle))));
        // Without: the decoder's own checks, never a crash.
        LoadResult skipped = test::try_load_memory(bytes, false);
        CHECK((skipped.status == MMB_OK || skipped.status == MMB_ERR_FORMAT));
        bytes[bit / 8] ^= std::byte(1u << (bit % 8));
      }
    }
  }
}

TEST_CASE("header fields out of range each give their status", "[bundle]") {
  using L = BundleHeaderLayout;
  const std::vector<std::byte> good = raw_bundle();
  const uint64_t manifest = get(good, L::manifest_offset, 8);
  struct Case {
    const char* what;
    uint64_t at;
    uint64_t value;
    int width;
    mmb_status status;
    const char* fragment;
  };
  const Case cases[] = {
      {"magic", L::magic, 0x414d414d454f4d4e, 8, MMB_ERR_FORMAT, "bad magic"},
      {"future version", L::format_version, 2, 4, MMB_ERR_UNSUPPORTED, "newer"},
      {"version 0", L::format_version, 0, 4, MMB_ERR_FORMAT, "format_version is 0"},
      {"flags", L::flags, 1, 4, MMB_ERR_UNSUPPORTED, "flags"},
      {"manifest codec", L::manifest_codec, 2, 4, MMB_ERR_UNSUPPORTED, "manifest_codec"},
      {"reserved", L::reserved, 1, 4, MMB_ERR_FORMAT, "reserved"},
      {"padding", L::padding + 7, 1, 1, MMB_ERR_FORMAT, "padding byte at offset 63"},
      {"manifest raw size", L::manifest_raw_size, kMaxManifestRawSize + 1, 8, MMB_ERR_FORMAT, "manifest_raw_size"},
      {"manifest stored size 0", L::manifest_stored_size, 0, 8, MMB_ERR_FORMAT, "manifest_stored_size is 0"},
      {"manifest in the header", L::manifest_offset, 32, 8, MMB_ERR_FORMAT, "inside the 64-byte header"},
      {"manifest past the end", L::manifest_offset, good.size() + 64, 8, MMB_ERR_FORMAT, "exceeds file size"},
      {"manifest size past the end", L::manifest_stored_size, UINT64_MAX - manifest + 2, 8, MMB_ERR_FORMAT,
       "exceeds file size"},
      {"manifest checksum", L::manifest_xxh64, 12345, 8, MMB_ERR_FORMAT, "xxh64"},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    std::vector<std::byte> bytes = good;
    put(bytes, c.at, c.value, c.width);
    expect(test::try_load_memory(bytes), c.status, c.fragment);
  }
  // An uncompressed manifest's stored and raw sizes must agree.
  std::vector<std::byte> bytes = uncompressed_manifest_bundle();
  put(bytes, L::manifest_stored_size, get(bytes, L::manifest_stored_size, 8) - 1, 8);
  expect(test::try_load_memory(bytes), MMB_ERR_FORMAT, "uncompressed manifest");
}

TEST_CASE("crafted tensor tables: every broken rule is named", "[bundle]") {
  const CraftedBundle base = CraftedBundle::from(raw_bundle());
  {
    // The crafting itself is faithful: unmodified, it loads, compressed manifest or not.
    CHECK(test::try_load_memory(base.build()).message == "");
    CraftedBundle c = base;
    c.compress_manifest = true;
    CHECK(test::try_load_memory(c.build()).message == "");
  }
  const std::string in_proj = "layers.0.mamba.in_proj.weight", norm = "layers.2.norm.weight";
  const uint64_t manifest_at = base.data.size();
  struct Case {
    const char* what;
    std::function<void(CraftedBundle&)> edit;
    mmb_status status;
    std::string fragment;
  };
  const std::vector<Case> cases = {
      {"offset past the end", [&](CraftedBundle& c) { c.tensor(in_proj).offset = manifest_at + (1 << 20); },
       MMB_ERR_FORMAT, "tensor '" + in_proj + "': offset " + std::to_string(manifest_at + (1 << 20))},
      {"offset + size wraps 64 bits", [&](CraftedBundle& c) { c.tensor(in_proj).offset = UINT64_MAX - 63; },
       MMB_ERR_FORMAT, "exceeds file size"},
      {"overlapping tensors", [&](CraftedBundle& c) { c.tensor(norm).offset = c.tensor(in_proj).offset + 64; },
       MMB_ERR_FORMAT, "overlaps tensor '" + in_proj + "'"},
      {"overlapping the header", [&](CraftedBundle& c) { c.tensor(in_proj).offset = 0; }, MMB_ERR_FORMAT,
       "overlaps the header"},
      {"overlapping the manifest", [&](CraftedBundle& c) { c.tensor(norm).offset = manifest_at; }, MMB_ERR_FORMAT,
       "the manifest"},
      {"misaligned", [&](CraftedBundle& c) { c.tensor(in_proj).offset += 4; }, MMB_ERR_FORMAT, "not a multiple of 64"},
      {"shape against the config", [&](CraftedBundle& c) { c.tensor(in_proj).shape = {128, 128}; }, MMB_ERR_FORMAT,
       "shape [128, 128] disagrees with the config, which implies [256, 64]"},
      {"shape against raw_size", [&](CraftedBundle& c) { c.tensor(in_proj).shape = {256, 32}; }, MMB_ERR_FORMAT,
       "raw_size 65536 disagrees with shape [256, 32]"},
      {"element count overflow", [&](CraftedBundle& c) { c.tensor(in_proj).shape = {1ull << 32, 1ull << 32, 4}; },
       MMB_ERR_FORMAT, "more elements than 64 bits"},
      {"byte count overflow", [&](CraftedBundle& c) { c.tensor(in_proj).shape = {1ull << 62, 2}; }, MMB_ERR_FORMAT,
       "more bytes than 64 bits"},
      {"rank 5", [&](CraftedBundle& c) { c.tensor(in_proj).shape = {1, 1, 1, 256, 64}; }, MMB_ERR_FORMAT, "rank 5"},
      {"unknown dtype", [&](CraftedBundle& c) { c.tensor(in_proj).dtype = 7; }, MMB_ERR_UNSUPPORTED, "unknown dtype 7"},
      {"unknown codec", [&](CraftedBundle& c) { c.tensor(in_proj).codec = 9; }, MMB_ERR_UNSUPPORTED, "unknown codec 9"},
      {"duplicate", [&](CraftedBundle& c) { c.tensors.push_back(c.tensor(norm)); }, MMB_ERR_FORMAT,
       "'" + norm + "' appears twice"},
      {"missing", [&](CraftedBundle& c) { c.tensors.erase(c.tensors.begin() + 4); }, MMB_ERR_FORMAT,
       "'" + base.tensors[4].name + "' is missing"},
      {"unexpected", [&](CraftedBundle& c) { c.tensor(norm).name = "layers.2.norm.bias"; }, MMB_ERR_FORMAT,
       "'layers.2.norm.bias' is not part of this model's config"},
      {"stored size of a raw tensor", [&](CraftedBundle& c) { c.tensor(norm).stored_size += 64; }, MMB_ERR_FORMAT,
       "stored uncompressed"},
      {"checksum", [&](CraftedBundle& c) { c.tensor(norm).xxh64 ^= 1; }, MMB_ERR_FORMAT, "'" + norm + "'"},
  };
  for (const Case& k : cases) {
    INFO(k.what);
    CraftedBundle c = base;
    k.edit(c);
    expect(test::try_load_memory(c.build()), k.status, k.fragment);
    // Structure is verified the same way when checksums are skipped.
    if (std::string(k.what) != "checksum") CHECK(test::try_load_memory(c.build(), false).status == k.status);
    else CHECK(test::try_load_memory(c.build(), false).status == MMB_OK);
  }
}

TEST_CASE("crafted zstd tensors: frames that lie or carry extra bytes are refused", "[bundle]") {
  const CraftedBundle base = CraftedBundle::from(raw_bundle());
  const std::string name = "layers.0.mamba.out_proj.weight";
  const test::CraftedTensor& t = base.tensors[std::find_if(base.tensors.begin(), base.tensors.end(),
                                                           [&](const auto& x) { return x.name == name; }) -
                                              base.tensors.begin()];
  const std::vector<std::byte> raw(base.data.begin() + std::ptrdiff_t(t.offset),
                                   base.data.begin() + std::ptrdiff_t(t.offset + t.raw_size));
  // Puts `stored` after the data as the tensor's zstd frame.
  auto with_frame = [&](const std::vector<std::byte>& stored) {
    CraftedBundle c = base;
    c.data.resize((c.data.size() + 63) / 64 * 64);
    c.tensor(name).offset = c.data.size();
    c.tensor(name).stored_size = stored.size();
    c.tensor(name).codec = uint8_t(Codec::Zstd);
    c.data.insert(c.data.end(), stored.begin(), stored.end());
    return c.build();
  };
  const auto frame = test::zstd_frame(raw);
  LoadResult honest = test::try_load_memory(with_frame(frame));
  REQUIRE(honest.message == "");
  CHECK(std::memcmp(honest.bundle->find(name)->data, raw.data(), raw.size()) == 0);

  std::vector<std::byte> longer = raw;
  longer.resize(raw.size() + 64);
  expect(test::try_load_memory(with_frame(test::zstd_frame(longer))), MMB_ERR_FORMAT,
         "tensor '" + name + "' (zstd, offset ");
  CHECK_THAT(test::try_load_memory(with_frame(test::zstd_frame(longer))).message,
             Catch::Contains("declares " + std::to_string(raw.size() + 64)));

  auto trailing = frame;
  trailing.push_back(std::byte{0});
  expect(test::try_load_memory(with_frame(trailing)), MMB_ERR_FORMAT, "follow the zstd frame");
  auto twice = frame;
  twice.insert(twice.end(), frame.begin(), frame.end());
  expect(test::try_load_memory(with_frame(twice)), MMB_ERR_FORMAT, "follow the zstd frame");
  expect(test::try_load_memory(with_frame(raw)), MMB_ERR_FORMAT, "do not start with a zstd frame");
  // Declares raw_size but holds less: found while decoding, with checksums on or off.
  auto short_frame = test::zstd_frame(std::span(raw).first(raw.size() - 256));
  const auto descriptor = uint8_t(short_frame[4]);
  REQUIRE(descriptor >> 6 == 1);  // 2-byte content size field, stored minus 256, at offset 5 (single segment)
  REQUIRE((descriptor >> 5 & 1) == 1);
  const uint64_t declared = raw.size() - 256;
  REQUIRE(get(short_frame, 5, 2) + 256 == declared);
  put(short_frame, 5, raw.size() - 256, 2);
  for (bool verify : {true, false}) {
    LoadResult r = test::try_load_memory(with_frame(short_frame), verify);
    expect(r, MMB_ERR_FORMAT, "tensor '" + name + "'");
  }
}

TEST_CASE("crafted manifests: tables, tokenizer and metadata that break the rules", "[bundle]") {
  const CraftedBundle base = CraftedBundle::from(raw_bundle());
  struct Case {
    const char* what;
    std::function<void(CraftedBundle&)> edit;
    mmb_status status;
    const char* fragment;
  };
  const std::vector<Case> cases = {
      {"no tokenizer", [](CraftedBundle& c) { c.tokenizer.present = false; }, MMB_ERR_FORMAT, "no tokenizer"},
      {"piece offsets going back", [](CraftedBundle& c) { c.tokenizer.piece_offsets[10] = 3; }, MMB_ERR_FORMAT,
       "piece_offsets[10] = 3 is below piece_offsets[9] = 9"},
      {"piece offsets past the bytes", [](CraftedBundle& c) { c.tokenizer.piece_offsets.back() += 1; }, MMB_ERR_FORMAT,
       "piece_offsets end at 257"},
      {"first piece offset", [](CraftedBundle& c) { c.tokenizer.piece_offsets[0] = 1; }, MMB_ERR_FORMAT,
       "piece_offsets[0] = 1"},
      {"no pieces", [](CraftedBundle& c) { c.tokenizer.piece_offsets.clear(), c.tokenizer.piece_bytes.clear(); },
       MMB_ERR_FORMAT, "no pieces"},
      {"odd merges", [](CraftedBundle& c) { c.tokenizer.merges = {1, 2, 3}; }, MMB_ERR_FORMAT, "odd count 3"},
      {"merge of an unknown piece", [](CraftedBundle& c) { c.tokenizer.merges = {1, 256}; }, MMB_ERR_FORMAT,
       "merge 0 joins ids 1 and 256"},
      {"special token id", [](CraftedBundle& c) { c.tokenizer.specials = {{256, "<s>"}}; }, MMB_ERR_FORMAT,
       "special token '<s>' has id 256"},
      {"added token id", [](CraftedBundle& c) { c.tokenizer.added = {{-2, "  "}}; }, MMB_ERR_FORMAT,
       "added token '  ' has id -2"},
      {"eos id", [](CraftedBundle& c) { c.tokenizer.eos_id = 300; }, MMB_ERR_FORMAT, "eos_id = 300"},
      {"tokenizer kind", [](CraftedBundle& c) { c.tokenizer.kind = 9; }, MMB_ERR_UNSUPPORTED, "unknown kind 9"},
      {"normalizer", [](CraftedBundle& c) { c.tokenizer.normalizer = 5; }, MMB_ERR_UNSUPPORTED, "unknown normalizer 5"},
      {"mamba layer without its table", [](CraftedBundle& c) { c.layers_without_table = {0}; }, MMB_ERR_FORMAT,
       "layers[0] of kind Mamba has no mamba table"},
      {"moe layer without its table", [](CraftedBundle& c) { c.layers_without_table = {1}; }, MMB_ERR_FORMAT,
       "layers[1] of kind MoE has no moe table"},
      {"mlp layer without its table", [](CraftedBundle& c) { c.layers_without_table = {5}; }, MMB_ERR_FORMAT,
       "layers[5] of kind MLP has no mlp table"},
      {"parallel layer without its moe table",
       [](CraftedBundle& c) {
         c.config.layers[0].kind = LayerKind::Parallel;
         c.config.layers[0].moe = c.config.layers[1].moe;
         c.layers_without_moe_table = {0};
       },
       MMB_ERR_FORMAT, "layers[0] of kind Parallel has no moe table"},
      {"parallel layer with an empty mamba part",
       [](CraftedBundle& c) { c.config.layers[1].kind = LayerKind::Parallel; }, MMB_ERR_FORMAT,
       "config layers[1].mamba.d_inner = 0 is outside"},
      {"projection experts with top_k above n_experts",
       [](CraftedBundle& c) { c.config.layers[0].mamba.out_proj_experts = ProjectionExperts{3, 4}; }, MMB_ERR_FORMAT,
       "config layers[0].out_proj_experts.top_k = 4 is outside [1, 3]"},
      {"projection experts with no experts",
       [](CraftedBundle& c) { c.config.layers[0].mamba.x_proj_experts = ProjectionExperts{0, 1}; }, MMB_ERR_FORMAT,
       "config layers[0].x_proj_experts.n_experts = 0 is outside"},
      {"a whole in_proj beside a routed z half",
       [](CraftedBundle& c) { c.config.layers[0].mamba.z_proj_experts = ProjectionExperts{2, 1}; }, MMB_ERR_FORMAT,
       "tensor 'layers.0.mamba.in_proj.weight' is not part of this model's config"},
      {"config out of range", [](CraftedBundle& c) { c.config.d_model = 0; }, MMB_ERR_FORMAT, "d_model"},
      {"unknown layer kind", [](CraftedBundle& c) { c.config.layers[2].kind = LayerKind(7); }, MMB_ERR_FORMAT,
       "layers[2].kind"},
      {"no layers", [](CraftedBundle& c) { c.config.layers.clear(); }, MMB_ERR_FORMAT, "layers (count)"},
      {"a config that asks for millions of tensors",
       [](CraftedBundle& c) {
         c.config.layers.resize(4000, c.config.layers[1]);  // 3996 MoE layers of 4000 experts: 1 + 3 * 8 + 2 + 3996 * 8001
         for (auto& l : c.config.layers) l.moe.n_experts = 4000;
       },
       MMB_ERR_FORMAT, "requires at least 31972023 tensors, but there are 59"},
      {"vocab below the pieces", [](CraftedBundle& c) { c.config.vocab_size = 100; }, MMB_ERR_FORMAT,
       "256 pieces exceed the config's vocab_size 100"},
      {"duplicate metadata", [](CraftedBundle& c) { c.metadata.push_back(c.metadata[0]); }, MMB_ERR_FORMAT,
       "metadata key 'name' appears twice"},
      {"empty metadata key", [](CraftedBundle& c) { c.metadata.push_back({"", "x"}); }, MMB_ERR_FORMAT, "empty key"},
  };
  for (const Case& k : cases) {
    INFO(k.what);
    CraftedBundle c = base;
    k.edit(c);
    expect(test::try_load_memory(c.build()), k.status, k.fragment);
  }

  // Bytes that are no FlatBuffer, with a correct identifier and checksum.
  std::vector<std::byte> junk(512);
  std::mt19937 rng(3);
  for (auto& b : junk) b = std::byte(rng());
  std::memcpy(junk.data() + 4, "MMB1", 4);
  expect(test::try_load_memory(test::assemble_bundle(base.data, junk, false)), MMB_ERR_FORMAT, "verification failed");
  std::vector<std::byte> manifest = base.manifest();
  std::memcpy(manifest.data() + 4, "MMB2", 4);
  expect(test::try_load_memory(test::assemble_bundle(base.data, manifest, true)), MMB_ERR_FORMAT, "file identifier");
}

TEST_CASE("host I/O failures and unreadable files are I/O errors", "[bundle]") {
  const auto& bytes = raw_bundle();
  auto load = [](test::MemoryIo& io) {
    mmb_io callbacks = io.io();
    LoadResult r;
    try {
      return test::try_load(open_io_source(callbacks));
    } catch (const Error& e) {
      r.status = e.status();
      r.message = e.what();
    }
    return r;
  };
  for (uint64_t n : {0, 1, 2, 5}) {
    test::MemoryIo io{bytes};
    io.fail_at_read = n;
    expect(load(io), MMB_ERR_IO, "host I/O: read of");
  }
  for (uint64_t n : {0, 1, 3}) {
    test::MemoryIo io{bytes};
    io.fail_at_seek = n;
    expect(load(io), MMB_ERR_IO, "seek to offset");
  }
  {
    test::MemoryIo io{bytes};
    io.fail_size = true;
    expect(load(io), MMB_ERR_IO, "size callback failed");
  }
  {
    test::MemoryIo io{std::span(bytes).first(bytes.size() - 100)};
    io.claimed_size = bytes.size();  // the host says more than it can deliver
    expect(load(io), MMB_ERR_IO, "read ended after");
  }
  mmb_io incomplete{};
  incomplete.struct_size = sizeof incomplete;
  CHECK_THROWS_AS(open_io_source(incomplete), Error);

  test::TempDir dir;
  auto file_status = [](const std::string& path) {
    try {
      open_file_source(path);
    } catch (const Error& e) {
      return e.status();
    }
    return mmb_status(MMB_OK);
  };
  CHECK(file_status(dir.path("absent.mmb")) == MMB_ERR_IO);
  CHECK(file_status(dir.dir()) == MMB_ERR_IO);
  test::write_file(dir.path("empty.mmb"), {});
  expect(test::try_load(open_file_source(dir.path("empty.mmb"))), MMB_ERR_FORMAT, "size 0 is shorter");
}
