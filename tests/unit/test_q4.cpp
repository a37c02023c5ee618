// q4 weights: the quantizer against the layout docs/bundle-format.md documents (read
// back here byte by byte, not through the library's reader), the bundle rules for q4
// tensors, and a random model packed as q4 against the same model in f32 through the
// C API.
#include <catch2/catch.hpp>

#include "support/bundle_fixtures.hpp"
#include "support/model_harness.hpp"

#include "base/error.hpp"
#include "base/q4.hpp"
#include "base/tensor_values.hpp"

#include <cmath>
#include <cstring>
#include <random>

using namespace mmb;

namespace {

// The layout, spelled out from the documentation: per row, ceil(cols / 32) groups of 16
// bytes (byte j: value j's code in the low nibble, value j + 16's in the high one),
// zero bytes up to a multiple of 64, then ceil(cols / 32) little-endian f16 scales per
// row. Value = (code - 8) * scale.
struct DocumentedLayout {
  uint64_t rows, cols;
  uint64_t groups() const { return (cols + 31) / 32; }
  uint64_t row_bytes() const { return 16 * groups(); }
  uint64_t scales_at() const { return (rows * row_bytes() + 63) / 64 * 64; }
  uint64_t bytes() const { return scales_at() + 2 * rows * groups(); }
  int code(const std::vector<std::byte>& b, uint64_t r, uint64_t c) const {
    const uint64_t g = c / 32, j = c % 32;
    const auto byte = uint8_t(b[r * row_bytes() + 16 * g + j % 16]);
    return j < 16 ? byte & 15 : byte >> 4;
  }
  float scale(const std::vector<std::byte>& b, uint64_t r, uint64_t g) const {
    const uint64_t at = scales_at() + 2 * (r * groups() + g);
    return f16_to_f32(uint16_t(uint8_t(b[at]) | uint8_t(b[at + 1]) << 8));
  }
};

// Rows of different character: Gaussian, huge, tiny (scales that are f16 subnormals),
// all zero, and a row with one zero group amid others.
std::vector<float> test_values(uint64_t rows, uint64_t cols, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(rows * cols);
  for (uint64_t r = 0; r < rows; ++r) {
    const float scale = r % 4 == 0 ? 1.0f : r % 4 == 1 ? 3e4f : r % 4 == 2 ? 2e-6f : 0.0f;
    for (uint64_t c = 0; c < cols; ++c) v[r * cols + c] = scale * normal(rng);
  }
  if (rows >= 1 && cols > 32)
    for (uint64_t c = 0; c < 32; ++c) v[c] = 0.0f;  // row 0's first group
  return v;
}

std::string message_of(const std::function<void()>& f, mmb_status* status = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (status) *status = e.status();
    return e.what();
  }
  return "<no error>";
}

}  // namespace

TEST_CASE("q4 quantization: the documented layout, and every value within half a scale", "[q4]") {
  std::mt19937 rng(3);
  for (uint64_t rows : {1, 3, 5}) {
    for (uint64_t cols : {1, 31, 32, 33, 48, 100}) {
      INFO("[" << rows << ", " << cols << "]");
      const DocumentedLayout L{rows, cols};
      const std::vector<float> v = test_values(rows, cols, rng);
      const uint64_t shape[2] = {rows, cols};
      const std::vector<std::byte> b = encode_values(v, DType::Q4, shape);
      REQUIRE(b.size() == L.bytes());
      CHECK(tensor_bytes(DType::Q4, shape) == L.bytes());
      for (uint64_t i = rows * L.row_bytes(); i < L.scales_at(); ++i) CHECK(b[i] == std::byte{0});
      // A short last group's unused nibbles are zero.
      for (uint64_t r = 0; r < rows; ++r)
        for (uint64_t c = cols; c < 32 * L.groups(); ++c) CHECK(L.code(b, r, c) == 0);
      const std::vector<float> back = decode_values(b, DType::Q4, shape);
      for (uint64_t r = 0; r < rows; ++r)
        for (uint64_t g = 0; g < L.groups(); ++g) {
          const uint64_t c0 = 32 * g, c1 = std::min(cols, c0 + 32);
          float max_abs = 0.0f;
          for (uint64_t c = c0; c < c1; ++c) max_abs = std::max(max_abs, std::abs(v[r * cols + c]));
          const float s = L.scale(b, r, g);
          INFO("row " << r << " group " << g << ": max|x| " << max_abs << ", scale " << s);
          // |scale| is max|x| / 8 rounded to an f16 of at least that magnitude (the f16
          // below it is smaller), of the sign that puts the largest value at -8.
          CHECK(double(std::abs(s)) * 8.0 >= double(max_abs));
          if (max_abs == 0.0f) CHECK(s == 0.0f);
          else CHECK(double(f16_to_f32(uint16_t(f32_to_f16(std::abs(s)) - 1))) * 8.0 < double(max_abs));
          bool extreme_seen = false;
          for (uint64_t c = c0; c < c1; ++c) {
            const int q = L.code(b, r, c) - 8;
            const double x = v[r * cols + c];
            const double dq = double(q) * double(s);
            if (max_abs > 0.0f && std::abs(x) == double(max_abs) && x * double(s) < 0) extreme_seen |= q == -8;
            // Half a scale, but a value clamped from 8 to 7: within a whole scale.
            CHECK(std::abs(x - dq) <= std::abs(double(s)) * (q == 7 && x / double(s) > 7.5 ? 1.0 : 0.5));
            CHECK(double(back[r * cols + c]) == dq);  // decoding is exact: 4 bits x f16 fits in f32
          }
          if (std::abs(s) >= 0x1p-14f) CHECK(extreme_seen);  // normal f16: m / scale rounds to -8
        }
    }
  }
}

TEST_CASE("q4 quantization: values it cannot hold are refused with their index", "[q4]") {
  const uint64_t shape[2] = {2, 40};
  for (float bad : {std::nanf(""), INFINITY, -INFINITY, 1e6f, -kQ4MaxMagnitude * 1.001f}) {
    std::vector<float> v(80, 0.5f);
    v[45] = bad;
    mmb_status status = MMB_OK;
    const std::string message = message_of([&] { encode_values(v, DType::Q4, shape); }, &status);
    INFO(message);
    CHECK(status == MMB_ERR_INVALID_ARGUMENT);
    CHECK_THAT(message, Catch::Contains("at index 45 cannot be stored as q4"));
  }
  std::vector<float> edge(80, kQ4MaxMagnitude);
  for (size_t i = 40; i < 72; ++i) edge[i] = -kQ4MaxMagnitude;  // row 1's first group
  const std::vector<float> back = decode_values(encode_values(edge, DType::Q4, shape), DType::Q4, shape);
  CHECK(back == edge);  // -8 * -65504 is itself representable
  const uint64_t flat[1] = {80};
  CHECK_THAT(message_of([&] { encode_values(edge, DType::Q4, flat); }), Catch::Contains("q4 needs a 2-D shape"));
}

namespace {

std::vector<std::byte> q4_bundle(Codec codec = Codec::None) {
  WriterOptions wo;
  wo.codec = codec;
  return write_bundle_to_memory(test::tiny_model(DType::Q4).contents, wo);
}

}  // namespace

TEST_CASE("q4 bundles: pack policy, codecs, and the reader's size and role checks", "[q4][bundle]") {
  const SyntheticModel m = test::tiny_model(DType::Q4);
  // Matrices but routers are q4; routers and every vector, conv kernel and scan
  // parameter are f32.
  size_t q4 = 0;
  for (const WriterTensor& t : m.contents.tensors) {
    INFO(t.name);
    const bool router = t.name.find(".router.") != std::string::npos;
    const bool matrix = t.shape.size() == 2 && t.name.find(".A_log") == std::string::npos;
    CHECK(t.dtype == (matrix && !router ? DType::Q4 : DType::F32));
    q4 += t.dtype == DType::Q4;
  }
  CHECK(q4 > 10);

  for (Codec codec : {Codec::None, Codec::Zstd, Codec::ShuffleZstd}) {
    test::LoadResult r = test::try_load_memory(q4_bundle(codec));
    INFO(r.message);
    REQUIRE(r.status == MMB_OK);
    for (size_t i = 0; i < m.contents.tensors.size(); ++i) {
      const TensorView& t = r.bundle->tensors()[i];
      REQUIRE(t.raw_size == m.contents.tensors[i].data.size());
      CHECK(std::memcmp(t.data, m.contents.tensors[i].data.data(), t.raw_size) == 0);
    }
  }

  const test::CraftedBundle base = test::CraftedBundle::from(q4_bundle());
  CHECK(test::try_load_memory(base.build()).message == "");
  const std::string in_proj = "layers.0.mamba.in_proj.weight", dt_proj = "layers.0.mamba.dt_proj.weight";
  REQUIRE(base.tensors.size() > 0);
  const uint64_t in_proj_size = 256 * 32 + 2 * 256 * 2;  // [256, 64]: 2 groups of 16 bytes a row
  const uint64_t file_size = base.build().size();  // moving a tensor leaves the manifest's size as it is
  struct Case {
    const char* what;
    std::function<void(test::CraftedBundle&)> edit;
    mmb_status status;
    std::string fragment;
  };
  const std::vector<Case> cases = {
      {"raw_size without the scales",
       [&](test::CraftedBundle& c) { c.tensor(in_proj).raw_size = c.tensor(in_proj).stored_size = 256 * 32; },
       MMB_ERR_FORMAT,
       "'" + in_proj + "': raw_size 8192 disagrees with shape [256, 64] of q4 (" + std::to_string(in_proj_size) + " bytes)"},
      {"stored bytes cut short", [&](test::CraftedBundle& c) { c.tensor(dt_proj).stored_size -= 2; }, MMB_ERR_FORMAT,
       "'" + dt_proj + "': stored uncompressed, but stored_size"},
      {"scales past the end of the file",
       [&](test::CraftedBundle& c) { c.tensor(in_proj).offset = (file_size - in_proj_size / 2) / 64 * 64; },
       MMB_ERR_FORMAT, "exceeds file size"},
      {"q4 on a vector", [&](test::CraftedBundle& c) { c.tensor("layers.0.norm.weight").dtype = 4; }, MMB_ERR_FORMAT,
       "'layers.0.norm.weight': q4 is for 2-D weight matrices, but the shape is [64]"},
      {"q4 on the conv kernel", [&](test::CraftedBundle& c) { c.tensor("layers.0.mamba.conv1d.weight").dtype = 4; },
       MMB_ERR_FORMAT, "q4 is for 2-D weight matrices, but the shape is [128, 1, 4]"},
      {"q4 on A_log",
       [&](test::CraftedBundle& c) {
         test::CraftedTensor& t = c.tensor("layers.0.mamba.A_log");  // [128, 16] f32: 8192 bytes, q4 needs 2304
         t.dtype = 4;
         t.raw_size = t.stored_size = 128 * 16 + 2 * 128;
       },
       MMB_ERR_FORMAT, "'layers.0.mamba.A_log': dtype q4 is only for weight matrices"},
      {"a dtype past q4", [&](test::CraftedBundle& c) { c.tensor(in_proj).dtype = 5; }, MMB_ERR_UNSUPPORTED,
       "'" + in_proj + "': unknown dtype 5"},
  };
  for (const Case& k : cases) {
    INFO(k.what);
    test::CraftedBundle c = base;
    k.edit(c);
    const test::LoadResult r = test::try_load_memory(c.build());
    INFO("message: " << r.message);
    CHECK(r.status == k.status);
    CHECK_THAT(r.message, Catch::Contains(k.fragment));
  }

  // The writer refuses the same before writing a byte.
  auto write_with = [&](const std::function<void(SyntheticModel&)>& edit) {
    SyntheticModel w = test::tiny_model(DType::Q4);
    edit(w);
    mmb_status status = MMB_OK;
    const std::string message = message_of([&] { write_bundle_to_memory(w.contents, WriterOptions{}); }, &status);
    CHECK(status == MMB_ERR_INVALID_ARGUMENT);
    return message;
  };
  CHECK_THAT(write_with([](SyntheticModel& w) {
               for (WriterTensor& t : w.contents.tensors)
                 if (t.name == "layers.0.mamba.A_log") {
                   w.storage.push_back(std::vector<std::byte>(*tensor_bytes(DType::Q4, t.shape)));
                   t.dtype = DType::Q4;
                   t.data = w.storage.back();
                 }
             }),
             Catch::Contains("'layers.0.mamba.A_log': dtype q4 is only for weight matrices"));
  CHECK_THAT(write_with([&](SyntheticModel& w) {
               for (WriterTensor& t : w.contents.tensors)
                 if (t.name == in_proj) t.data = t.data.first(256 * 32);
             }),
             Catch::Contains("8192 bytes of data, but shape [256, 64] of q4 needs " + std::to_string(in_proj_size)));
}

TEST_CASE("a random model in q4 follows the same model in f32 through the C API", "[q4][parity]") {
  using namespace mmb::testing;
  // Why these bounds. A q4 weight's error is about uniform in +-scale/2, scale = max|w| / 8
  // over its group of 32 (base/q4.hpp); measured on Gaussian groups its RMS is 8.6% of
  // the weights' RMS (q8's: 0.57%); q4 products also round their inputs to int8 per
  // group (about 0.6% more, in quadrature: 8.62% instead of 8.6%). As for q8 the errors
  // add as a random walk within a projection and in quadrature over the 20 q4
  // projections this model chains: sqrt(20) x 8.6% ~ 38% of the logits' RMS when every
  // projection feeds the logits at
  // full weight (the q8 test finds this model close to that). The checks allow 60% over
  // all steps and 90% at any one step (the q8 test's per-step spread, 2x), and require
  // more than 10% (a path that read q8 or f32 values instead would be far below). A
  // kernel that misplaced a nibble, a scale or a group would decorrelate the logits: a
  // relative error near or above 100%. Top-1 agreement follows the error: at a third of
  // the logits' RMS it flips often; a third of the steps is a floor far above chance
  // (1 in 256).
  const QuantizedDrift d = quantized_drift(DType::Q4);
  CHECK(d.weight_dtype == 4);
  CHECK(d.bytes_ratio > 4);
  INFO("relative RMS error " << d.overall << " overall, " << d.worst << " at worst; same top-1 at " << d.same_top << " of "
                             << d.steps);
  CHECK(d.overall <= 0.6);
  CHECK(d.worst <= 0.9);
  CHECK(d.overall > 0.1);
  CHECK(d.same_top >= d.steps / 3);
}
