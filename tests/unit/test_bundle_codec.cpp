// Tensor codecs: the byte-shuffle layout, round trips, and zstd frames that lie.
#include <catch2/catch.hpp>

#include "support/bundle_fixtures.hpp"

#include "base/error.hpp"
#include "bundle/tensor_codec.hpp"

#include <zstd.h>

#include <cstring>
#include <random>

using namespace mmb;

namespace {

std::vector<std::byte> bytes_of(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (int v : values) out.push_back(std::byte(v));
  return out;
}

std::vector<std::byte> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::byte> out(n);
  for (auto& b : out) b = std::byte(rng() & 0x0f);  // some redundancy, so frames are small
  return out;
}

// Status of decoding `stored` into an exactly sized heap buffer (ASan sees any over-write).
mmb_status decode_status(Codec codec, const std::vector<std::byte>& stored, size_t raw_size, size_t element_size,
                         std::string* message = nullptr) {
  static const HostAllocator allocator;
  std::vector<std::byte> dst(raw_size);  // exactly raw_size
  try {
    decode_tensor(codec, stored, dst, element_size, allocator);
  } catch (const Error& e) {
    if (message) *message = e.what();
    return e.status();
  }
  return MMB_OK;
}

// Rewrites the frame content size of a zstd frame whose header stores it in 4 bytes.
void patch_content_size(std::vector<std::byte>& frame, uint32_t declared) {
  const auto descriptor = uint8_t(frame[4]);
  REQUIRE((descriptor >> 6) == 2);  // 4-byte content size field
  const bool single_segment = (descriptor >> 5) & 1;
  const size_t dict_id_bytes[] = {0, 1, 2, 4};
  const size_t at = 5 + (single_segment ? 0 : 1) + dict_id_bytes[descriptor & 3];
  for (int i = 0; i < 4; ++i) frame[at + i] = std::byte(declared >> (8 * i));
}

}  // namespace

TEST_CASE("shuffle puts the most significant byte of each value first", "[bundle]") {
  // Two little-endian 16-bit values 0x1122 and 0x3344: high bytes 11 33, then low bytes 22 44.
  auto two = bytes_of({0x22, 0x11, 0x44, 0x33});
  std::vector<std::byte> planes(4);
  shuffle_bytes(two.data(), planes.data(), 2, 2);
  CHECK(planes == bytes_of({0x11, 0x33, 0x22, 0x44}));
  // Two 32-bit values 0xA1A2A3A4 and 0xB1B2B3B4.
  auto four = bytes_of({0xA4, 0xA3, 0xA2, 0xA1, 0xB4, 0xB3, 0xB2, 0xB1});
  planes.resize(8);
  shuffle_bytes(four.data(), planes.data(), 2, 4);
  CHECK(planes == bytes_of({0xA1, 0xB1, 0xA2, 0xB2, 0xA3, 0xB3, 0xA4, 0xB4}));
  // Any width: three 3-byte values.
  auto three = bytes_of({1, 2, 3, 4, 5, 6, 7, 8, 9});
  planes.resize(9);
  shuffle_bytes(three.data(), planes.data(), 3, 3);
  CHECK(planes == bytes_of({3, 6, 9, 2, 5, 8, 1, 4, 7}));
}

TEST_CASE("unshuffle inverts shuffle for every width", "[bundle]") {
  for (size_t width : {1, 2, 3, 4, 8}) {
    for (size_t n : {0, 1, 7, 1000}) {
      auto raw = random_bytes(n * width, uint32_t(width * 100 + n));
      std::vector<std::byte> planes(raw.size()), back(raw.size());
      shuffle_bytes(raw.data(), planes.data(), n, width);
      unshuffle_bytes(planes.data(), back.data(), n, width);
      CHECK(back == raw);
    }
  }
}

TEST_CASE("zstd and shuffle-zstd round trip and declare their size", "[bundle]") {
  static const HostAllocator allocator;
  for (Codec codec : {Codec::Zstd, Codec::ShuffleZstd}) {
    for (size_t width : {1, 2, 4}) {
      auto raw = random_bytes(40000 * width, uint32_t(width));
      auto frame = encode_tensor(codec, raw, width, 3);
      CHECK(frame.size() < raw.size());
      CHECK(ZSTD_getFrameContentSize(frame.data(), frame.size()) == raw.size());
      std::vector<std::byte> back(raw.size());
      decode_tensor(codec, frame, back, width, allocator);
      CHECK(back == raw);
    }
  }
}

TEST_CASE("shuffle-zstd stores the planes in one ordinary zstd frame", "[bundle]") {
  auto raw = random_bytes(2000, 7);
  auto frame = encode_tensor(Codec::ShuffleZstd, raw, 2, 3);
  std::vector<std::byte> planes(raw.size());
  REQUIRE(ZSTD_decompress(planes.data(), planes.size(), frame.data(), frame.size()) == raw.size());
  for (size_t i = 0; i < raw.size() / 2; ++i) {
    CHECK(planes[i] == raw[2 * i + 1]);               // high bytes first
    CHECK(planes[raw.size() / 2 + i] == raw[2 * i]);  // then low bytes
  }
}

TEST_CASE("a zstd frame that lies about its size is a format error, never an over-write", "[bundle]") {
  auto raw = random_bytes(100000, 3);
  const auto frame = test::zstd_frame(raw);
  std::string message;
  for (Codec codec : {Codec::Zstd, Codec::ShuffleZstd}) {
    CHECK(decode_status(codec, frame, raw.size(), 2) == MMB_OK);
    // Declares more than it holds: the decoder stops short.
    auto longer = frame;
    patch_content_size(longer, uint32_t(raw.size() + 64));
    CHECK(decode_status(codec, longer, raw.size() + 64, 2, &message) == MMB_ERR_FORMAT);
    // Declares less than it holds: the output buffer is exactly the declared size.
    auto shorter = frame;
    patch_content_size(shorter, uint32_t(raw.size() - 64));
    CHECK(decode_status(codec, shorter, raw.size() - 64, 2, &message) == MMB_ERR_FORMAT);
    // An honest frame of another size than raw_size.
    CHECK(decode_status(codec, frame, raw.size() + 2, 2, &message) == MMB_ERR_FORMAT);
    CHECK_THAT(message, Catch::Contains("declares 100000 bytes") && Catch::Contains("100002"));
    CHECK(decode_status(codec, frame, raw.size() - 2, 2) == MMB_ERR_FORMAT);
  }
}

TEST_CASE("zstd data must be exactly one frame that declares its size", "[bundle]") {
  auto raw = random_bytes(5000, 4);
  const auto frame = test::zstd_frame(raw);
  std::string message;

  auto twice = frame;
  twice.insert(twice.end(), frame.begin(), frame.end());
  CHECK(decode_status(Codec::Zstd, twice, raw.size(), 1, &message) == MMB_ERR_FORMAT);
  CHECK_THAT(message, Catch::Contains("follow the zstd frame"));

  auto trailing = frame;
  trailing.push_back(std::byte{0});
  CHECK(decode_status(Codec::Zstd, trailing, raw.size(), 1) == MMB_ERR_FORMAT);

  // A skippable frame (magic 0x184D2A50, 4-byte length, payload) before the real one.
  auto skippable = bytes_of({0x50, 0x2A, 0x4D, 0x18, 4, 0, 0, 0, 1, 2, 3, 4});
  auto skippable_first = skippable;
  skippable_first.insert(skippable_first.end(), frame.begin(), frame.end());
  CHECK(decode_status(Codec::Zstd, skippable_first, raw.size(), 1) == MMB_ERR_FORMAT);
  CHECK(decode_status(Codec::Zstd, skippable, 0, 1) == MMB_ERR_FORMAT);

  // No content size in the frame header.
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0);
  std::vector<std::byte> unsized(ZSTD_compressBound(raw.size()));
  unsized.resize(ZSTD_compress2(cctx, unsized.data(), unsized.size(), raw.data(), raw.size()));
  ZSTD_freeCCtx(cctx);
  CHECK(decode_status(Codec::Zstd, unsized, raw.size(), 1, &message) == MMB_ERR_FORMAT);
  CHECK_THAT(message, Catch::Contains("does not declare"));

  CHECK(decode_status(Codec::Zstd, {}, raw.size(), 1) == MMB_ERR_FORMAT);
  CHECK(decode_status(Codec::Zstd, std::vector<std::byte>(frame.begin(), frame.begin() + 3), raw.size(), 1) == MMB_ERR_FORMAT);
  CHECK(decode_status(Codec::Zstd, std::vector<std::byte>(frame.begin(), frame.end() - 1), raw.size(), 1) == MMB_ERR_FORMAT);
  CHECK(decode_status(Codec::None, raw, raw.size() + 1, 1) == MMB_ERR_FORMAT);
}

TEST_CASE("encode_tensor rejects what it cannot encode", "[bundle]") {
  auto raw = random_bytes(64, 5);
  auto status = [&](Codec codec, size_t width, int level) -> mmb_status {
    try {
      encode_tensor(codec, raw, width, level);
    } catch (const Error& e) {
      return e.status();
    }
    return MMB_OK;
  };
  CHECK(status(Codec::None, 2, 3) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(status(Codec::Zstd, 2, 99) == MMB_ERR_INVALID_ARGUMENT);
  CHECK(status(Codec::ShuffleZstd, 3, 3) == MMB_ERR_INVALID_ARGUMENT);  // 64 bytes are not whole 3-byte values
  CHECK(status(Codec::ShuffleZstd, 4, 3) == MMB_OK);
}
