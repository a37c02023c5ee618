// Writing then loading bundles: every tensor byte comes back, through every source;
// the writer is deterministic and refuses bad contents; progress and cancel.
#include <catch2/catch.hpp>

#include "support/config_checks.hpp"

#include "support/bundle_fixtures.hpp"

#include "base/error.hpp"
#include "base/thread_pool.hpp"
#include "bundle/bundle_format.hpp"
#include "pool_parallel.hpp"

#include <cstring>
#include <filesystem>
#include <thread>

using namespace mmb;
using test::LoadResult;

namespace {

const HostAllocator kAllocator;

bool is_aligned(const void* p, size_t a) { return reinterpret_cast<uintptr_t>(p) % a == 0; }

// Everything the writer was given comes back: config, tokenizer, metadata, every tensor byte.
void check_same(const BundleContents& in, const LoadedBundle& out) {
  CHECK(out.format_version() == 1);
  CHECK(out.config().d_model == in.config.d_model);
  CHECK(out.config().vocab_size == in.config.vocab_size);
  REQUIRE(out.config().layers.size() == in.config.layers.size());
  for (size_t i = 0; i < in.config.layers.size(); ++i) CHECK(out.config().layers[i].kind == in.config.layers[i].kind);
  CHECK(out.tokenizer().pieces == in.tokenizer.pieces);
  CHECK(out.metadata() == in.metadata);
  REQUIRE(out.tensors().size() == in.tensors.size());
  for (size_t i = 0; i < in.tensors.size(); ++i) {
    const WriterTensor& w = in.tensors[i];
    const TensorView& t = out.tensors()[i];
    INFO("tensor " << w.name);
    CHECK(t.name == w.name);
    CHECK(t.dtype == w.dtype);
    CHECK(t.shape == w.shape);
    REQUIRE(t.raw_size == w.data.size());
    REQUIRE(t.data != nullptr);
    CHECK(is_aligned(t.data, 64));
    CHECK(std::memcmp(t.data, w.data.data(), w.data.size()) == 0);
    CHECK(out.find(w.name) == &t);
  }
  CHECK(out.find("no.such.tensor") == nullptr);
}

bool points_into(const TensorView& t, const std::byte* base, uint64_t size) {
  return t.data >= base && t.data + t.raw_size <= base + size;
}


}  // namespace

TEST_CASE("bundles round trip for every dtype and codec through file, memory and host I/O", "[bundle]") {
  test::TempDir dir;
  ThreadPool pool(3);
  PoolParallel parallel(pool);
  for (DType dtype : {DType::F32, DType::F16, DType::BF16}) {
    for (Codec codec : {Codec::None, Codec::Zstd, Codec::ShuffleZstd}) {
      INFO(dtype_name(dtype) << " " << codec_name(codec));
      SyntheticModel model = test::tiny_model(dtype);
      WriterOptions wo;
      wo.codec = codec;
      const std::vector<std::byte> bytes = write_bundle_to_memory(model.contents, wo);
      const std::string path = dir.path(cat(dtype_name(dtype), "-", codec_name(codec), ".mmb"));
      write_bundle_to_file(model.contents, wo, path);
      CHECK(test::read_file(path) == bytes);

      // The codec was applied where it pays, and raw page-sized tensors sit on pages.
      auto probe = test::try_load_memory(bytes);
      REQUIRE(probe.status == MMB_OK);
      size_t with_codec = 0;
      for (const TensorView& t : probe.bundle->tensors()) {
        CHECK((t.codec == codec || t.codec == Codec::None));
        with_codec += t.codec == codec;
        if (t.codec == Codec::None && t.raw_size >= 4096) CHECK(t.offset % 4096 == 0);
        CHECK(t.offset % 64 == 0);
      }
      CHECK(with_codec >= probe.bundle->tensors().size() / 2);

      ReadOptions serial, threaded;
      threaded.parallel = parallel.get();
      for (const ReadOptions& options : {serial, threaded}) {
        // A mapped file: raw tensors are used in place.
        LoadResult file = test::try_load(open_file_source(path), options);
        REQUIRE(file.message == "");
        check_same(model.contents, *file.bundle);
        const std::byte* map = file.bundle->source().data();
        for (const TensorView& t : file.bundle->tensors())
          CHECK(points_into(t, map, bytes.size()) == (t.codec == Codec::None));

        // Borrowed memory, aligned: in place too. Misaligned: copied, still 64-byte aligned.
        test::ShiftedBuffer aligned(bytes, 0), shifted(bytes, 1);
        LoadResult borrowed = test::try_load(open_memory_source(aligned.data(), aligned.size(), false, kAllocator), options);
        REQUIRE(borrowed.message == "");
        check_same(model.contents, *borrowed.bundle);
        for (const TensorView& t : borrowed.bundle->tensors())
          CHECK(points_into(t, aligned.data(), aligned.size()) == (t.codec == Codec::None));
        LoadResult misaligned = test::try_load(open_memory_source(shifted.data(), shifted.size(), false, kAllocator), options);
        REQUIRE(misaligned.message == "");
        check_same(model.contents, *misaligned.bundle);
        for (const TensorView& t : misaligned.bundle->tensors()) CHECK_FALSE(points_into(t, shifted.data(), shifted.size()));

        // Copied memory: the caller's buffer is not used after load.
        std::vector<std::byte> scratch = bytes;
        LoadResult copied = test::try_load(open_memory_source(scratch.data(), scratch.size(), true, kAllocator), options);
        std::fill(scratch.begin(), scratch.end(), std::byte{0xee});
        REQUIRE(copied.message == "");
        check_same(model.contents, *copied.bundle);

        // Host I/O with short reads.
        test::MemoryIo io{bytes};
        io.max_chunk = 1000;
        mmb_io callbacks = io.io();
        LoadResult hosted = test::try_load(open_io_source(callbacks), options);
        REQUIRE(hosted.message == "");
        check_same(model.contents, *hosted.bundle);
      }
    }
  }
}

TEST_CASE("every config, tokenizer and metadata field survives the round trip", "[bundle]") {
  ModelConfig c;
  c.d_model = 32;
  c.vocab_size = 300;
  c.norm = NormKind::Layer;
  c.final_norm = NormKind::None;
  c.norm_eps = 1e-6f;
  c.tie_embeddings = false;
  LayerConfig mamba;
  mamba.kind = LayerKind::Mamba;
  mamba.mamba = {64, 8, 3, 5, true, false, true};
  LayerConfig moe;
  moe.kind = LayerKind::MoE;
  moe.moe.n_experts = 3;
  moe.moe.top_k = 2;
  moe.moe.expert = {48, ExpertAct::GeGLU, true};
  moe.moe.router = RouterAct::Sigmoid;
  moe.moe.router_bias = true;
  moe.moe.sel_bias = true;
  moe.moe.renorm = true;
  moe.moe.routed_scale = 2.5f;
  moe.moe.n_shared = 2;
  moe.moe.shared = {40, ExpertAct::SwiGLU, false};
  moe.moe.normalize_expert_output = true;
  LayerConfig mlp;
  mlp.kind = LayerKind::MLP;
  mlp.mlp = {24, ExpertAct::GELUTanh, true};
  LayerConfig parallel;
  parallel.kind = LayerKind::Parallel;
  parallel.shared_norm = true;
  parallel.mamba = {32, 4, 2, 3, false, true, false};
  parallel.mamba.x_proj_experts = ProjectionExperts{4, 2, RouterAct::ReLU, true, true, true, 0.75f, true};
  parallel.moe = moe.moe;
  LayerConfig routed = mamba;
  routed.mamba.out_proj_bias = false;  // a routed out_proj's biases are its experts'
  routed.mamba.z_proj_experts = ProjectionExperts{3, 1, RouterAct::Sigmoid, false, true, false, 1.5f, false};
  routed.mamba.out_proj_experts = ProjectionExperts{2, 2, RouterAct::Softmax, true, false, true, 1.0f, true};
  c.layers = {mamba, moe, mlp, parallel, routed};

  SyntheticModel model = make_synthetic_model(c, {7, DType::BF16});
  TokenizerData& t = model.contents.tokenizer;
  t = test::byte_tokenizer();
  t.kind = TokenizerKind::ByteBPE;
  t.pre_tokenizer = PreTokenizer::None;
  t.pieces.push_back("he");
  t.pieces.push_back(std::string("\0\xff", 2));
  t.pieces.push_back("");
  t.merges = {{'h', 'e'}, {256, 'l'}};
  t.specials = {{298, "<|endoftext|>"}, {299, "<pad>"}};
  t.added = {{257, std::string("\0\xff", 2)}};
  t.bos_id = 298;
  t.eos_id = 298;
  t.pad_id = 299;
  t.unk_id = -1;
  t.add_bos = true;
  t.normalizer = Normalizer::NFC;
  model.contents.metadata = {{"name", "every field"}, {"license", "MIT"}, {"empty", ""}, {"utf8", "caf\xc3\xa9"}};

  for (bool compress_manifest : {true, false}) {
    WriterOptions wo;
    wo.codec = Codec::Zstd;
    wo.compress_manifest = compress_manifest;
    auto bytes = write_bundle_to_memory(model.contents, wo);
    auto r = test::try_load_memory(bytes);
    REQUIRE(r.message == "");
    CHECK(r.bundle->manifest_codec() == (compress_manifest ? ManifestCodec::Zstd : ManifestCodec::None));
    CHECK((r.bundle->manifest_stored_size() < r.bundle->manifest_raw_size()) == compress_manifest);
    test::check_same_config(r.bundle->config(), c);
    const TokenizerData& u = r.bundle->tokenizer();
    CHECK(u.kind == t.kind);
    CHECK(u.pre_tokenizer == t.pre_tokenizer);
    CHECK(u.pieces == t.pieces);
    CHECK(u.merges == t.merges);
    REQUIRE(u.specials.size() == 2);
    CHECK(u.specials[0].id == 298);
    CHECK(u.specials[0].text == "<|endoftext|>");
    CHECK(u.specials[1].text == "<pad>");
    CHECK(u.bos_id == 298);
    CHECK(u.eos_id == 298);
    CHECK(u.pad_id == 299);
    CHECK(u.unk_id == -1);
    CHECK(u.add_bos);
    CHECK(u.normalizer == Normalizer::NFC);
    REQUIRE(u.added.size() == 1);
    CHECK(u.added[0].id == 257);
    CHECK(u.added[0].text == std::string("\0\xff", 2));
    CHECK(r.bundle->metadata() == model.contents.metadata);
    check_same(model.contents, *r.bundle);
  }
}

TEST_CASE("padded embedding and head rows are accepted", "[bundle]") {
  ModelConfig c = named_shape("tiny");
  c.tie_embeddings = false;
  SyntheticModel model = make_synthetic_model(c, {3, DType::F32});
  model.contents.tokenizer = test::byte_tokenizer();
  for (const char* name : {"embed.weight", "lm_head.weight"}) {
    for (auto& w : model.contents.tensors) {
      if (w.name != name) continue;
      w.shape[0] += 8;  // vocab padded to a multiple of 8 more
      model.storage.emplace_back(w.shape[0] * w.shape[1] * 4, std::byte{1});
      w.data = model.storage.back();
    }
  }
  auto r = test::try_load_memory(write_bundle_to_memory(model.contents, {}));
  REQUIRE(r.message == "");
  CHECK(r.bundle->find("embed.weight")->shape[0] == 264);
  CHECK(r.bundle->find("lm_head.weight")->shape[0] == 264);
}

TEST_CASE("the same contents give the same bytes for any thread count", "[bundle][threads]") {
  SyntheticModel model = test::tiny_model(DType::F16, 11);
  for (Codec codec : {Codec::None, Codec::Zstd, Codec::ShuffleZstd}) {
    WriterOptions wo;
    wo.codec = codec;
    const auto reference = write_bundle_to_memory(model.contents, wo);
    for (int threads : {1, 2, 5}) {
      wo.threads = threads;
      CHECK(write_bundle_to_memory(model.contents, wo) == reference);
    }
    // A model made again from the same seed is the same input.
    SyntheticModel again = test::tiny_model(DType::F16, 11);
    CHECK(write_bundle_to_memory(again.contents, wo) == reference);
  }
  // And a different seed is not.
  CHECK(write_bundle_to_memory(test::tiny_model(DType::F16, 12).contents, {}) !=
        write_bundle_to_memory(model.contents, {}));
}

TEST_CASE("the writer refuses bad contents before writing anything", "[bundle]") {
  test::TempDir dir;
  const std::string path = dir.path("out.mmb");
  auto refuse = [&](const BundleContents& contents, const WriterOptions& wo, const char* fragment) {
    INFO(fragment);
    mmb_status memory = MMB_OK, file = MMB_OK;
    std::string message;
    try {
      write_bundle_to_memory(contents, wo);
    } catch (const Error& e) {
      memory = e.status();
      message = e.what();
    }
    try {
      write_bundle_to_file(contents, wo, path);
    } catch (const Error& e) {
      file = e.status();
    }
    CHECK(memory == MMB_ERR_INVALID_ARGUMENT);
    CHECK(file == MMB_ERR_INVALID_ARGUMENT);
    CHECK_THAT(message, Catch::Contains(fragment));
    CHECK(std::filesystem::is_empty(dir.dir()));
  };
  SyntheticModel model = test::tiny_model(DType::F32);
  const BundleContents good = model.contents;
  {
    BundleContents c = good;
    c.tensors.erase(c.tensors.begin() + 3);
    refuse(c, {}, "is missing");
  }
  {
    BundleContents c = good;
    c.tensors.push_back(c.tensors[0]);
    refuse(c, {}, "appears twice");
  }
  {
    BundleContents c = good;
    c.tensors.push_back(c.tensors[1]);
    c.tensors.back().name = "layers.99.norm.weight";
    refuse(c, {}, "not part of this model's config");
  }
  {
    BundleContents c = good;
    c.tensors[2].shape = {c.tensors[2].shape[1], c.tensors[2].shape[0]};  // transposed: same size, wrong shape
    refuse(c, {}, "disagrees with the config");
  }
  {
    BundleContents c = good;
    c.tensors[2].data = c.tensors[2].data.first(c.tensors[2].data.size() - 2);
    refuse(c, {}, "bytes of data");
  }
  {
    BundleContents c = good;
    c.config.layers[0].mamba.d_state = 0;
    refuse(c, {}, "d_state");
  }
  {
    BundleContents c = good;
    c.tokenizer.merges = {{1, 999}};
    refuse(c, {}, "merge 0");
  }
  {
    BundleContents c = good;
    c.metadata = {{"name", "a"}, {"name", "b"}};
    refuse(c, {}, "appears twice");
  }
  {
    WriterOptions wo;
    wo.codec = Codec::Zstd;
    wo.level = 1000;
    refuse(good, wo, "level");
    wo.level = 3;
    wo.threads = 0;
    refuse(good, wo, "threads");
  }
}

TEST_CASE("writing a file replaces the old one and leaves no temporary file", "[bundle]") {
  test::TempDir dir;
  const std::string path = dir.path("model.mmb");
  test::write_file(path, std::vector<std::byte>(10, std::byte{7}));
  SyntheticModel model = test::tiny_model(DType::BF16);
  write_bundle_to_file(model.contents, {}, path);
  CHECK(test::read_file(path) == write_bundle_to_memory(model.contents, {}));
  size_t entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.dir())) entries += !e.path().empty();
  CHECK(entries == 1);
  CHECK_THROWS_AS(write_bundle_to_file(model.contents, {}, dir.path("no/such/dir/model.mmb")), Error);
}

TEST_CASE("progress counts bytes on the loading thread, ends at the total, and can cancel", "[bundle]") {
  SyntheticModel model = test::tiny_model(DType::F32);
  WriterOptions wo;
  wo.codec = Codec::ShuffleZstd;
  const auto bytes = write_bundle_to_memory(model.contents, wo);
  uint64_t raw_total = 0;
  for (const auto& t : model.contents.tensors) raw_total += t.data.size();
  ThreadPool pool(2);
  PoolParallel parallel(pool);

  for (bool hosted : {false, true}) {
    INFO((hosted ? "host I/O" : "memory"));
    std::vector<std::pair<uint64_t, uint64_t>> calls;
    bool other_thread = false;
    const auto caller = std::this_thread::get_id();
    enum { Never, First, Second, Last } cancel = Never;
    auto body = [&](uint64_t done, uint64_t total) {
      other_thread |= std::this_thread::get_id() != caller;
      calls.emplace_back(done, total);
      return !((cancel == First && calls.size() == 1) || (cancel == Second && calls.size() == 2) ||
               (cancel == Last && done == total));
    };
    FunctionRef<bool(uint64_t, uint64_t)> progress(body);
    ReadOptions options;
    options.parallel = parallel.get();
    options.progress = &progress;
    test::MemoryIo io{bytes};
    mmb_io callbacks = io.io();
    auto source = [&]() { return hosted ? open_io_source(callbacks) : open_memory_source(bytes.data(), bytes.size(), false, kAllocator); };

    LoadResult r = test::try_load(source(), options);
    REQUIRE(r.message == "");
    CHECK_FALSE(other_thread);
    REQUIRE(calls.size() >= 2);
    CHECK(calls.front().first == 0);
    const uint64_t total = calls.front().second;
    CHECK(total >= raw_total);
    CHECK(calls.back().first == total);
    for (size_t i = 1; i < calls.size(); ++i) {
      CHECK(calls[i].first >= calls[i - 1].first);
      CHECK(calls[i].second == total);
    }

    for (auto when : {First, Second, Last}) {
      calls.clear();
      cancel = when;
      LoadResult cancelled = test::try_load(source(), options);
      CHECK(cancelled.status == MMB_ERR_CANCELLED);
      CHECK_THAT(cancelled.message, Catch::Contains("cancelled"));
      // No report after the one that cancelled.
      if (when == First) CHECK(calls.size() == 1);
      if (when == Second) CHECK(calls.size() == 2);
      if (when == Last) CHECK(calls.back().first == calls.back().second);
    }
    cancel = Never;
  }
}

TEST_CASE("opening without tensor data checks the structure and reads no tensor", "[bundle]") {
  SyntheticModel model = test::tiny_model(DType::F32);
  auto bytes = write_bundle_to_memory(model.contents, {});
  auto full = test::try_load_memory(bytes);
  REQUIRE(full.status == MMB_OK);
  const TensorView& victim = *full.bundle->find("layers.1.moe.router.weight");
  bytes[victim.offset + 5] ^= std::byte{0x40};

  ReadOptions structure_only;
  structure_only.load_tensor_data = false;
  test::MemoryIo io{bytes};
  mmb_io callbacks = io.io();
  LoadResult r = test::try_load(open_io_source(callbacks), structure_only);
  REQUIRE(r.message == "");
  CHECK(r.bundle->tensors().size() == model.contents.tensors.size());
  for (const TensorView& t : r.bundle->tensors()) CHECK(t.data == nullptr);
  CHECK(test::try_load_memory(bytes).status == MMB_ERR_FORMAT);  // the flip is there
}
