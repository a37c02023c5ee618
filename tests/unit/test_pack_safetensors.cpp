// The safetensors reader and writer: round trips, and every kind of malformed file
// giving its status and a message that names the problem, never a crash or over-read.
#include <catch2/catch.hpp>

#include "base/error.hpp"
#include "safetensors.hpp"
#include "support/bundle_fixtures.hpp"
#include "support/checkpoint_fixture.hpp"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

using namespace mmb;
using mmb::test::TempDir;
using mmb::test::raw_safetensors;

namespace {

// Opens `bytes` written to a file; returns the status and message it fails with.
std::pair<mmb_status, std::string> open_failure(const std::string& bytes) {
  TempDir dir;
  test::write_text(dir.path("model.safetensors"), bytes);
  try {
    SafetensorsFile::open(dir.path("model.safetensors"));
  } catch (const Error& e) {
    return {e.status(), e.what()};
  }
  return {MMB_OK, ""};
}

// A tensor entry for hand-written headers.
std::string entry(const std::string& name, const std::string& dtype, const std::string& shape, const std::string& offsets) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}";
}

}  // namespace

TEST_CASE("safetensors written and read back keep names, dtypes, shapes, bytes and metadata", "[pack]") {
  TempDir dir;
  const auto a = test::encode(test::exact_values(6, 1), SafetensorsDType::F32);
  const auto b = test::encode(test::exact_values(5, 2), SafetensorsDType::F16);
  const auto c = test::encode(test::exact_values(4, 3), SafetensorsDType::BF16);
  const auto d = test::encode(test::exact_values(3, 4), SafetensorsDType::F64);
  // Not in name order, so reading must not depend on it.
  std::vector<SafetensorsTensor> in = {{"z.weight", SafetensorsDType::F32, {2, 3}, a},
                                       {"b", SafetensorsDType::F16, {5}, b},
                                       {"m.scalar_like", SafetensorsDType::BF16, {1, 4, 1}, c},
                                       {"a64", SafetensorsDType::F64, {3}, d},
                                       {"empty", SafetensorsDType::F32, {0, 7}, {}}};
  write_safetensors(dir.path("x.safetensors"), in, {{"format", "pt"}, {"note", "hello"}});

  const SafetensorsFile f = SafetensorsFile::open(dir.path("x.safetensors"));
  REQUIRE(f.tensors().size() == in.size());
  CHECK(f.size() == std::filesystem::file_size(dir.path("x.safetensors")));
  for (const auto& t : in) {
    const SafetensorsTensor* r = f.find(t.name);
    REQUIRE(r);
    CHECK(r->dtype == t.dtype);
    CHECK(r->shape == t.shape);
    REQUIRE(r->data.size() == t.data.size());
    CHECK((t.data.empty() || std::memcmp(r->data.data(), t.data.data(), t.data.size()) == 0));
  }
  CHECK(f.find("nope") == nullptr);
  CHECK(f.metadata() == std::vector<std::pair<std::string, std::string>>{{"format", "pt"}, {"note", "hello"}});

  // The header is space-padded to 8 bytes, so the data section starts aligned.
  std::ifstream raw(dir.path("x.safetensors"), std::ios::binary);
  unsigned char len[8];
  raw.read(reinterpret_cast<char*>(len), 8);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len[i];
  CHECK(n % 8 == 0);
}

TEST_CASE("write_safetensors rejects bad tensors", "[pack]") {
  TempDir dir;
  const auto four = test::encode({1, 2, 3, 4}, SafetensorsDType::F32);
  auto code = [&](std::vector<SafetensorsTensor> t) -> mmb_status {
    try {
      write_safetensors(dir.path("x.safetensors"), t);
    } catch (const Error& e) {
      return e.status();
    }
    return MMB_OK;
  };
  CHECK(code({{"a", SafetensorsDType::F32, {4}, four}, {"a", SafetensorsDType::F32, {4}, four}}) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(code({{"a", SafetensorsDType::F32, {5}, four}}) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(code({{"", SafetensorsDType::F32, {4}, four}}) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(code({{"__metadata__", SafetensorsDType::F32, {4}, four}}) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(code({{"a", SafetensorsDType::F16, {2, 4}, four}}) == MMB_OK);
  try {
    write_safetensors(dir.path("no/such/dir/x.safetensors"), {});
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.status() == MMB_ERR_IO);
  }
}

TEST_CASE("malformed safetensors headers are format errors naming the problem", "[pack]") {
  const std::string data8(8, '\x01');
  struct Case {
    const char* label;
    std::string bytes;
    mmb_status status;
    const char* message;  // a piece of the expected message
  };
  const std::string good = entry("w", "F32", "[2]", "[0,8]");
  const std::vector<Case> cases = {
      {"empty file", "", MMB_ERR_FORMAT, "too short for the 8-byte header length"},
      {"7 bytes", std::string(7, '\0'), MMB_ERR_FORMAT, "too short"},
      {"header length past the end", raw_safetensors("{" + good + "}", data8, 1000), MMB_ERR_FORMAT, "header length 1000 exceeds"},
      {"header length near 2^64", raw_safetensors("{}", "", UINT64_MAX - 3), MMB_ERR_FORMAT, "exceeds"},
      {"bad JSON", raw_safetensors("{\"w\": {", data8), MMB_ERR_FORMAT, "invalid JSON"},
      {"not JSON at all", raw_safetensors("\x01\x02", ""), MMB_ERR_FORMAT, "invalid JSON"},
      {"invalid UTF-8 in a name", raw_safetensors("{\"\xff\":1}", ""), MMB_ERR_FORMAT, "invalid JSON"},
      {"header is an array", raw_safetensors("[1,2]", ""), MMB_ERR_FORMAT, "expected a JSON object"},
      {"entry is a number", raw_safetensors("{\"w\":3}", ""), MMB_ERR_FORMAT, "tensor 'w': expected an object"},
      {"dtype missing", raw_safetensors("{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", data8), MMB_ERR_FORMAT,
       "missing required key 'dtype'"},
      {"dtype a number", raw_safetensors("{\"w\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", data8), MMB_ERR_FORMAT,
       "expected a string"},
      {"shape not an array", raw_safetensors("{" + entry("w", "F32", "2", "[0,8]") + "}", data8), MMB_ERR_FORMAT,
       "shape: expected an array"},
      {"negative dimension", raw_safetensors("{" + entry("w", "F32", "[-2]", "[0,8]") + "}", data8), MMB_ERR_FORMAT,
       "expected a non-negative integer, got -2"},
      {"fractional dimension", raw_safetensors("{" + entry("w", "F32", "[2.5]", "[0,8]") + "}", data8), MMB_ERR_FORMAT,
       "non-negative integer"},
      {"offsets not a pair", raw_safetensors("{" + entry("w", "F32", "[2]", "[0,4,8]") + "}", data8), MMB_ERR_FORMAT,
       "expected an array [begin, end]"},
      {"offsets strings", raw_safetensors("{" + entry("w", "F32", "[2]", "[\"0\",\"8\"]") + "}", data8), MMB_ERR_FORMAT,
       "data_offsets: expected a non-negative integer"},
      {"unknown dtype", raw_safetensors("{" + entry("w", "Q7", "[2]", "[0,8]") + "}", data8), MMB_ERR_FORMAT,
       "unknown dtype 'Q7'"},
      {"integer dtype", raw_safetensors("{" + entry("w", "I64", "[1]", "[0,8]") + "}", data8), MMB_ERR_UNSUPPORTED,
       "dtype I64 is not supported"},
      {"offsets past the data", raw_safetensors("{" + entry("w", "F32", "[4]", "[0,16]") + "}", data8), MMB_ERR_FORMAT,
       "tensor 'w': data_offsets [0, 16) exceed the data section of 8 bytes"},
      {"offsets reversed", raw_safetensors("{" + entry("w", "F32", "[0]", "[8,0]") + "}", data8), MMB_ERR_FORMAT,
       "end before they begin"},
      {"size mismatch", raw_safetensors("{" + entry("w", "F32", "[3]", "[0,8]") + "}", data8), MMB_ERR_FORMAT,
       "hold 8 bytes but F32 [3] needs 12"},
      {"element count overflow", raw_safetensors("{" + entry("w", "F32", "[4294967296,4294967296]", "[0,8]") + "}", data8),
       MMB_ERR_FORMAT, "more elements than 64 bits"},
      {"byte count overflow", raw_safetensors("{" + entry("w", "F64", "[4611686018427387904]", "[0,8]") + "}", data8),
       MMB_ERR_FORMAT, "more bytes than 64 bits"},
      {"overlap", raw_safetensors("{" + entry("a", "F32", "[1]", "[0,4]") + "," + entry("b", "F16", "[2]", "[2,6]") + "}", data8),
       MMB_ERR_FORMAT, "tensors 'a' [0, 4) and 'b' [2, 6) overlap"},
      {"same range twice", raw_safetensors("{" + entry("a", "F32", "[2]", "[0,8]") + "," + entry("b", "F32", "[2]", "[0,8]") + "}", data8),
       MMB_ERR_FORMAT, "overlap"},
      {"duplicate name", raw_safetensors("{" + good + "," + good + "}", data8), MMB_ERR_FORMAT, "key 'w' appears twice"},
      {"empty name", raw_safetensors("{" + entry("", "F32", "[2]", "[0,8]") + "}", data8), MMB_ERR_FORMAT, "empty name"},
      {"metadata not strings", raw_safetensors("{\"__metadata__\":{\"k\":1}}", ""), MMB_ERR_FORMAT, "__metadata__.k: expected a string"},
      {"metadata not an object", raw_safetensors("{\"__metadata__\":[]}", ""), MMB_ERR_FORMAT, "__metadata__: expected an object"},
  };
  for (const Case& c : cases) {
    INFO(c.label);
    auto [status, message] = open_failure(c.bytes);
    CHECK(status == c.status);
    CHECK_THAT(message, Catch::Contains(c.message));
    CHECK_THAT(message, Catch::Contains("model.safetensors"));
  }
  // Sanity: the good entry alone opens, and gaps between tensors are allowed.
  CHECK(open_failure(raw_safetensors("{" + good + "}", data8)).first == MMB_OK);
  CHECK(open_failure(raw_safetensors("{" + entry("w", "F16", "[1]", "[4,6]") + "}", data8)).first == MMB_OK);
  CHECK(open_failure(raw_safetensors("{\"__metadata__\":{\"k\":\"v\"}}  ", "")).first == MMB_OK);
}

TEST_CASE("a safetensors header over 100 MB is refused before it is read", "[pack]") {
  TempDir dir;
  const std::string path = dir.path("big.safetensors");
  // A sparse file: the size is there, the disk blocks are not.
  test::write_text(dir.path("big.safetensors"), raw_safetensors("", "", kSafetensorsMaxHeader + 1));
  std::filesystem::resize_file(path, kSafetensorsMaxHeader + 64);
  try {
    SafetensorsFile::open(path);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.status() == MMB_ERR_FORMAT);
    CHECK_THAT(e.what(), Catch::Contains("exceeds the limit of 104857600 bytes"));
  }
}

TEST_CASE("a missing safetensors file is an I/O error", "[pack]") {
  TempDir dir;
  try {
    SafetensorsFile::open(dir.path("absent.safetensors"));
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.status() == MMB_ERR_IO);
    CHECK_THAT(e.what(), Catch::Contains("absent.safetensors"));
  }
}

TEST_CASE("safetensors truncated at every byte, or with bits flipped, fail cleanly", "[pack]") {
  TempDir dir;
  const auto a = test::encode(test::exact_values(6, 1), SafetensorsDType::F32);
  const auto b = test::encode(test::exact_values(3, 2), SafetensorsDType::BF16);
  write_safetensors(dir.path("ok.safetensors"), {{"a", SafetensorsDType::F32, {2, 3}, a}, {"b", SafetensorsDType::BF16, {3}, b}},
                    {{"k", "v"}});
  std::ifstream in(dir.path("ok.safetensors"), std::ios::binary);
  const std::string whole((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(open_failure(whole).first == MMB_OK);

  // The tensors fill the data section, so every proper prefix lacks some bytes.
  for (size_t n = 0; n < whole.size(); ++n) {
    INFO("truncated to " << n << " bytes");
    CHECK(open_failure(whole.substr(0, n)).first == MMB_ERR_FORMAT);
  }

  // Flipped bits: any outcome but a crash is acceptable; count that errors do occur.
  std::mt19937_64 rng(7);
  int errors = 0;
  for (int i = 0; i < 400; ++i) {
    std::string bytes = whole;
    const size_t at = rng() % (bytes.size() - 20);  // header and length field, mostly
    bytes[at] = char(bytes[at] ^ (1 << (rng() % 8)));
    const mmb_status s = open_failure(bytes).first;
    CHECK((s == MMB_OK || s == MMB_ERR_FORMAT || s == MMB_ERR_UNSUPPORTED));
    errors += s != MMB_OK;
  }
  CHECK(errors > 100);
}
