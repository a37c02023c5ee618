// Parts of checkpoint tensors read as native tensors (tensor_slice.hpp): the name
// syntax, the bytes a part covers, out-of-range parts, and parts that do not tile.
#include <catch2/catch.hpp>

#include "base/error.hpp"
#include "tensor_slice.hpp"

#include <cstring>

using namespace mmb;

namespace {

// A [2, 4, 3] f32 tensor holding 0, 1, 2, ... in row-major order.
struct Packed {
  std::vector<float> values;
  SafetensorsTensor tensor;
  Packed() : values(24) {
    for (size_t i = 0; i < values.size(); ++i) values[i] = float(i);
    tensor.name = "experts";
    tensor.shape = {2, 4, 3};
    tensor.data = std::as_bytes(std::span<const float>(values));
  }
};

std::vector<float> floats(const SafetensorsTensor& t) {
  std::vector<float> v(t.data.size() / sizeof(float));
  std::memcpy(v.data(), t.data.data(), t.data.size());
  return v;
}

}  // namespace

TEST_CASE("sliced names: the suffixes and what is not one", "[pack]") {
  CHECK(sliced_name("w", 3) == "w[3]");
  CHECK(sliced_name("w", std::nullopt, std::pair<uint64_t, uint64_t>{2, 5}) == "w[2:5]");
  CHECK(sliced_name("w", 1, std::pair<uint64_t, uint64_t>{0, 8}) == "w[1][0:8]");

  const auto both = parse_sliced_name("model.layers.0.input_linear.weight[1][0:8]");
  REQUIRE(both);
  CHECK(both->source == "model.layers.0.input_linear.weight");
  CHECK(both->index == 1u);
  CHECK(both->rows == std::pair<uint64_t, uint64_t>{0, 8});
  const auto rows = parse_sliced_name("w[4:6]");
  REQUIRE(rows);
  CHECK((rows->source == "w" && !rows->index && rows->rows == std::pair<uint64_t, uint64_t>{4, 6}));
  const auto index = parse_sliced_name("w[7]");
  REQUIRE(index);
  CHECK((index->source == "w" && index->index == 7u && !index->rows));

  for (const char* plain :
       {"w", "w[]", "w[-1]", "w[+1]", "w[a]", "w[3:3]", "w[5:2]", "w[1:2][3]", "[1]", "w[1]x", "w[0x1]"})
    CHECK_FALSE(parse_sliced_name(plain));
}

TEST_CASE("slice_tensor: a part is the right bytes of its source, in place", "[pack]") {
  Packed p;
  const SafetensorsTensor second = slice_tensor(p.tensor, *parse_sliced_name("experts[1]"), "f");
  CHECK(second.name == "experts[1]");
  CHECK(second.shape == std::vector<uint64_t>{4, 3});
  CHECK(second.data.data() == p.tensor.data.data() + 12 * sizeof(float));
  CHECK(floats(second) == std::vector<float>{12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23});

  const SafetensorsTensor up = slice_tensor(p.tensor, *parse_sliced_name("experts[1][2:4]"), "f");
  CHECK(up.shape == std::vector<uint64_t>{2, 3});
  CHECK(floats(up) == std::vector<float>{18, 19, 20, 21, 22, 23});

  const SafetensorsTensor rows = slice_tensor(p.tensor, *parse_sliced_name("experts[0:1]"), "f");
  CHECK(rows.shape == std::vector<uint64_t>{1, 4, 3});
  CHECK(floats(rows).size() == 12);
}

TEST_CASE("slice_tensor: parts outside their source are errors naming it", "[pack]") {
  Packed p;
  for (const char* name : {"experts[2]", "experts[0][3:5]", "experts[1:3]"}) {
    INFO(name);
    try {
      slice_tensor(p.tensor, *parse_sliced_name(name), "file.safetensors");
      FAIL("no error");
    } catch (const Error& e) {
      CHECK(e.status() == MMB_ERR_FORMAT);
      CHECK_THAT(e.what(), Catch::Contains("file.safetensors") && Catch::Contains("'experts'"));
    }
  }
  SafetensorsTensor vector = p.tensor;
  vector.shape = {24};
  CHECK_THROWS_AS(slice_tensor(vector, *parse_sliced_name("experts[1]"), "f"), Error);
}

TEST_CASE("check_parts_tile: every byte read exactly once", "[pack]") {
  Packed p;
  const auto part = [&](const char* name) { return slice_tensor(p.tensor, *parse_sliced_name(name), "f").data; };
  CHECK_NOTHROW(
      check_parts_tile(p.tensor, {part("experts[1][2:4]"), part("experts[0]"), part("experts[1][0:2]")}, "f"));
  CHECK_THROWS_WITH(check_parts_tile(p.tensor, {part("experts[0]"), part("experts[1][0:2]")}, "f"),
                    Catch::Contains("not all read"));
  CHECK_THROWS_WITH(check_parts_tile(p.tensor, {part("experts[0]"), part("experts[0][1:2]"), part("experts[1]")}, "f"),
                    Catch::Contains("read twice"));
}
