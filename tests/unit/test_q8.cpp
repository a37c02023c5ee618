// q8 weights: the quantizer against the layout docs/bundle-format.md documents (read
// back here byte by byte, not through the library's reader), the bundle rules for q8
// tensors, and a random model packed as q8 against the same model in f32 through the
// C API.
#include <catch2/catch.hpp>

#include "support/bundle_fixtures.hpp"
#include "support/model_harness.hpp"

#include "base/error.hpp"
#include "base/q8.hpp"
#include "base/tensor_values.hpp"

#include <cmath>
#include <cstring>
#include <random>

using namespace mmb;

namespace {

// The layout, spelled out from the documentation: int8 values row-major, zero bytes up
// to a multiple of 64, then ceil(cols / 32) little-endian f16 scales per row.
struct DocumentedLayout {
  uint64_t rows, cols;
  uint64_t groups() const { return (cols + 31) / 32; }
  uint64_t scales_at() const { return (rows * cols + 63) / 64 * 64; }
  uint64_t bytes() const { return scales_at() + 2 * rows * groups(); }
  int q(const std::vector<std::byte>& b, uint64_t r, uint64_t c) const { return int8_t(uint8_t(b[r * cols + c])); }
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

TEST_CASE("q8 quantization: the documented layout, and every value within half a scale", "[q8]") {
  std::mt19937 rng(3);
  for (uint64_t rows : {1, 3, 5}) {
    for (uint64_t cols : {1, 31, 32, 33, 48, 100}) {
      INFO("[" << rows << ", " << cols << "]");
      const DocumentedLayout L{rows, cols};
      const std::vector<float> v = test_values(rows, cols, rng);
      const uint64_t shape[2] = {rows, cols};
      const std::vector<std::byte> b = encode_values(v, DType::Q8, shape);
      REQUIRE(b.size() == L.bytes());
      CHECK(tensor_bytes(DType::Q8, shape) == L.bytes());
      for (uint64_t i = rows * cols; i < L.scales_at(); ++i) CHECK(b[i] == std::byte{0});
      const std::vector<float> back = decode_values(b, DType::Q8, shape);
      for (uint64_t r = 0; r < rows; ++r)
        for (uint64_t g = 0; g < L.groups(); ++g) {
          const uint64_t c0 = 32 * g, c1 = std::min(cols, c0 + 32);
          float max_abs = 0.0f;
          for (uint64_t c = c0; c < c1; ++c) max_abs = std::max(max_abs, std::abs(v[r * cols + c]));
          const float s = L.scale(b, r, g);
          INFO("row " << r << " group " << g << ": max|x| " << max_abs << ", scale " << s);
          // The scale is the smallest f16 at least max|x| / 127: no value needs clamping.
          CHECK(double(s) * 127.0 >= double(max_abs));
          if (max_abs == 0.0f) CHECK(s == 0.0f);
          else CHECK(double(f16_to_f32(uint16_t(f32_to_f16(s) - 1))) * 127.0 < double(max_abs));
          for (uint64_t c = c0; c < c1; ++c) {
            const int q = L.q(b, r, c);
            CHECK(std::abs(q) <= 127);
            const double dq = double(q) * double(s);
            CHECK(std::abs(double(v[r * cols + c]) - dq) <= double(s) / 2);
            CHECK(double(back[r * cols + c]) == dq);  // decoding is exact: int8 x f16 fits in f32
          }
        }
    }
  }
}

TEST_CASE("q8 quantization: values it cannot hold are refused with their index", "[q8]") {
  const uint64_t shape[2] = {2, 40};
  for (float bad : {std::nanf(""), INFINITY, -INFINITY, 1e7f, -kQ8MaxMagnitude * 1.001f}) {
    std::vector<float> v(80, 0.5f);
    v[45] = bad;
    mmb_status status = MMB_OK;
    const std::string message = message_of([&] { encode_values(v, DType::Q8, shape); }, &status);
    INFO(message);
    CHECK(status == MMB_ERR_INVALID_ARGUMENT);
    CHECK_THAT(message, Catch::Contains("at index 45 cannot be stored as q8"));
  }
  std::vector<float> edge(80, kQ8MaxMagnitude);
  edge[3] = -kQ8MaxMagnitude;
  const std::vector<float> back = decode_values(encode_values(edge, DType::Q8, shape), DType::Q8, shape);
  CHECK(back == edge);  // 127 * 65504 is itself representable
  const uint64_t flat[1] = {80};
  CHECK_THAT(message_of([&] { encode_values(edge, DType::Q8, flat); }), Catch::Contains("q8 needs a 2-D shape"));
}

namespace {

std::vector<std::byte> q8_bundle(Codec codec = Codec::None) {
  WriterOptions wo;
  wo.codec = codec;
  return write_bundle_to_memory(test::tiny_model(DType::Q8).contents, wo);
}

}  // namespace

TEST_CASE("q8 bundles: pack policy, codecs, and the reader's size and role checks", "[q8][bundle]") {
  const SyntheticModel m = test::tiny_model(DType::Q8);
  // Matrices but routers are q8; routers and every vector, conv kernel and scan
  // parameter are f32.
  size_t q8 = 0;
  for (const WriterTensor& t : m.contents.tensors) {
    INFO(t.name);
    const bool router = t.name.find(".router.") != std::string::npos;
    const bool matrix = t.shape.size() == 2 && t.name.find(".A_log") == std::string::npos;
    CHECK(t.dtype == (matrix && !router ? DType::Q8 : DType::F32));
    q8 += t.dtype == DType::Q8;
  }
  CHECK(q8 > 10);

  for (Codec codec : {Codec::None, Codec::Zstd, Codec::ShuffleZstd}) {
    test::LoadResult r = test::try_load_memory(q8_bundle(codec));
    INFO(r.message);
    REQUIRE(r.status == MMB_OK);
    for (size_t i = 0; i < m.contents.tensors.size(); ++i) {
      const TensorView& t = r.bundle->tensors()[i];
      REQUIRE(t.raw_size == m.contents.tensors[i].data.size());
      CHECK(std::memcmp(t.data, m.contents.tensors[i].data.data(), t.raw_size) == 0);
    }
  }

  const test::CraftedBundle base = test::CraftedBundle::from(q8_bundle());
  CHECK(test::try_load_memory(base.build()).message == "");
  const std::string in_proj = "layers.0.mamba.in_proj.weight", dt_proj = "layers.0.mamba.dt_proj.weight";
  REQUIRE(base.tensors.size() > 0);
  const uint64_t in_proj_size = 256 * 64 + 2 * 256 * 2;  // [256, 64]: 2 groups a row
  const uint64_t file_size = base.build().size();  // moving a tensor leaves the manifest's size as it is
  struct Case {
    const char* what;
    std::function<void(test::CraftedBundle&)> edit;
    mmb_status status;
    std::string fragment;
  };
  const std::vector<Case> cases = {
      {"raw_size without the scales",
       [&](test::CraftedBundle& c) { c.tensor(in_proj).raw_size = c.tensor(in_proj).stored_size = 256 * 64; },
       MMB_ERR_FORMAT,
       "'" + in_proj + "': raw_size 16384 disagrees with shape [256, 64] of q8 (" + std::to_string(in_proj_size) + " bytes)"},
      {"stored bytes cut short", [&](test::CraftedBundle& c) { c.tensor(dt_proj).stored_size -= 2; }, MMB_ERR_FORMAT,
       "'" + dt_proj + "': stored uncompressed, but stored_size"},
      {"scales past the end of the file",
       [&](test::CraftedBundle& c) { c.tensor(in_proj).offset = (file_size - in_proj_size / 2) / 64 * 64; },
       MMB_ERR_FORMAT, "exceeds file size"},
      {"q8 on a vector", [&](test::CraftedBundle& c) { c.tensor("layers.0.norm.weight").dtype = 3; }, MMB_ERR_FORMAT,
       "'layers.0.norm.weight': q8 is for 2-D weight matrices, but the shape is [64]"},
      {"q8 on the conv kernel", [&](test::CraftedBundle& c) { c.tensor("layers.0.mamba.conv1d.weight").dtype = 3; },
       MMB_ERR_FORMAT, "q8 is for 2-D weight matrices, but the shape is [128, 1, 4]"},
      {"q8 on A_log",
       [&](test::CraftedBundle& c) {
         test::CraftedTensor& t = c.tensor("layers.0.mamba.A_log");  // [128, 16] f32: 8192 bytes, q8 needs 2304
         t.dtype = 3;
         t.raw_size = t.stored_size = 128 * 16 + 2 * 128;
       },
       MMB_ERR_FORMAT, "'layers.0.mamba.A_log': dtype q8 is only for weight matrices"},
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
    SyntheticModel w = test::tiny_model(DType::Q8);
    edit(w);
    mmb_status status = MMB_OK;
    const std::string message = message_of([&] { write_bundle_to_memory(w.contents, WriterOptions{}); }, &status);
    CHECK(status == MMB_ERR_INVALID_ARGUMENT);
    return message;
  };
  CHECK_THAT(write_with([](SyntheticModel& w) {
               for (WriterTensor& t : w.contents.tensors)
                 if (t.name == "layers.0.mamba.A_log") {
                   w.storage.push_back(std::vector<std::byte>(*tensor_bytes(DType::Q8, t.shape)));
                   t.dtype = DType::Q8;
                   t.data = w.storage.back();
                 }
             }),
             Catch::Contains("'layers.0.mamba.A_log': dtype q8 is only for weight matrices"));
  CHECK_THAT(write_with([&](SyntheticModel& w) {
               for (WriterTensor& t : w.contents.tensors)
                 if (t.name == in_proj) t.data = t.data.first(256 * 64);
             }),
             Catch::Contains("16384 bytes of data, but shape [256, 64] of q8 needs " + std::to_string(in_proj_size)));
}

TEST_CASE("a random model in q8 follows the same model in f32 through the C API", "[q8][parity]") {
  using namespace mmb::testing;
  // Why these bounds. A q8 weight's error is uniform in +-scale/2, scale = max|w| / 127
  // over its group of 32; for Gaussian weights max|w| is ~2.5 sigma, so the error's RMS
  // is 2.5 sigma / 127 / sqrt(12) ~ 0.0057 sigma: 0.57% of a weight's RMS. Errors of
  // different weights are independent, so in a dot product they add as a random walk,
  // as do the terms themselves: each q8 projection's output carries ~0.57% relative
  // error. This model chains 20 q8 projections (the embedding, 4 Mamba layers x 4, the
  // MLP's 2, the tied head); independent errors add in quadrature, sqrt(20) x 0.57% ~
  // 2.5% of the logits' RMS when every projection feeds the logits at full weight (a
  // random model is close to that: synthetic Mamba-130m, 98 projections, measures 6.2%
  // against a predicted 5.6%, and this model 2.4%). One step's ratio swings around that
  // (Mamba-130m's steps: 3.5% to 7.7%; a step whose logits are small has a larger
  // ratio), so the checks allow 4% over all steps and 8% at any one step; a kernel that
  // misplaced a scale or a group would be off by the logits' own size. No MoE layer here: a routed layer's choice can flip on a near tie, which
  // moves the logits by a whole expert's output; that is the model's sensitivity, not
  // the quantizer's accuracy (the parity tests cover q8 MoE layers exactly).
  const QuantizedDrift d = quantized_drift(DType::Q8);
  CHECK(d.weight_dtype == 3);
  CHECK(d.bytes_ratio > 3);
  INFO("relative RMS error " << d.overall << " overall, " << d.worst << " at worst; same top-1 at " << d.same_top << " of "
                             << d.steps);
  CHECK(d.overall <= 0.04);
  CHECK(d.worst <= 0.08);
  CHECK(d.overall > 0.005);  // the weights did change, by about what the estimate says
  // Over 256 logits the top two are rarely within 2.5% of the logits' RMS of each other.
  CHECK(d.same_top >= d.steps * 9 / 10);
}
