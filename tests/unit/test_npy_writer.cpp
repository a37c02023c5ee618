// The .npy writer against the NumPy format specification (version 1.0): magic, version,
// little-endian header length, the dictionary NumPy itself writes, 64-byte alignment,
// then little-endian float32 data in C order.
#include <catch2/catch.hpp>

#include <filesystem>

#include "npy_writer.hpp"

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Splits a file into (dictionary text without padding, data bytes), checking the frame.
std::pair<std::string, std::string> parse_npy(const std::string& bytes) {
  REQUIRE(bytes.size() >= 10);
  CHECK(bytes.compare(0, 6, "\x93NUMPY") == 0);
  CHECK(bytes[6] == 1);
  CHECK(bytes[7] == 0);
  const size_t header_len = size_t(uint8_t(bytes[8])) | size_t(uint8_t(bytes[9])) << 8;
  REQUIRE(bytes.size() >= 10 + header_len);
  CHECK((10 + header_len) % 64 == 0);
  std::string dict = bytes.substr(10, header_len);
  CHECK(dict.back() == '\n');
  dict.pop_back();
  while (!dict.empty() && dict.back() == ' ') dict.pop_back();
  return {dict, bytes.substr(10 + header_len)};
}

std::string le_bytes(const std::vector<float>& values) {
  std::string out;
  for (float v : values) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    for (int b = 0; b < 4; ++b) out += char((bits >> (8 * b)) & 0xFF);
  }
  return out;
}

}  // namespace

TEST_CASE("npy: a 2-D float32 array as NumPy writes it", "[cli][npy]") {
  const std::string path = std::string(MMB_BINARY_DIR) + "/test_npy_2d.npy";
  const std::vector<float> values = {0.0f, -1.5f, 3.25f, 1e-30f, -0.0f, 65504.0f};
  {
    mmb::NpyWriter w(path, {2, 3});
    w.write(values.data(), 2);
    w.write(values.data() + 2, 4);
    w.finish();
  }
  const auto [dict, data] = parse_npy(read_all(path));
  CHECK(dict == "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }");
  CHECK(data == le_bytes(values));
}

TEST_CASE("npy: 1-D and 0-D shapes are Python tuples", "[cli][npy]") {
  CHECK(parse_npy(mmb::NpyWriter::header({7})).first == "{'descr': '<f4', 'fortran_order': False, 'shape': (7,), }");
  CHECK(parse_npy(mmb::NpyWriter::header({})).first == "{'descr': '<f4', 'fortran_order': False, 'shape': (), }");
  CHECK(parse_npy(mmb::NpyWriter::header({1000, 50280})).first ==
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1000, 50280), }");
}

TEST_CASE("npy: writing more or fewer values than the shape holds fails", "[cli][npy]") {
  const std::string path = std::string(MMB_BINARY_DIR) + "/test_npy_count.npy";
  std::filesystem::remove(path);
  const float v[4] = {1, 2, 3, 4};
  mmb::NpyWriter w(path, {3});
  w.write(v, 2);
  CHECK_THROWS_AS(w.write(v, 2), std::runtime_error);
  CHECK_THROWS_AS(w.finish(), std::runtime_error);
  CHECK_THROWS_WITH(mmb::NpyWriter(std::string(MMB_BINARY_DIR) + "/no/such/dir/x.npy", {1}),
                    Catch::Contains("cannot create") && Catch::Contains("no/such/dir/x.npy"));
  // An unfinished array never appears under its name.
  CHECK_FALSE(std::filesystem::exists(path));
}
