#include "bundle/tensor_codec.hpp"

#include "base/error.hpp"

#include <zstd.h>

#include <bit>
#include <cstring>
#include <memory>

namespace mmb {

// Tensor values are little-endian in the file and used in place from a mapping.
static_assert(std::endian::native == std::endian::little, "moemamba requires a little-endian host");

namespace {

struct CCtxDeleter {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DCtxDeleter {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

uint32_t read_le32(const std::byte* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Decodes one zstd frame into exactly dst_size bytes at dst.
void decode_frame(std::span<const std::byte> stored, std::byte* dst, size_t dst_size) {
  const void* src = stored.data();
  const size_t n = stored.size();
  if (n < 4 || read_le32(stored.data()) != ZSTD_MAGICNUMBER)
    fail(MMB_ERR_FORMAT, "stored bytes do not start with a zstd frame");
  const size_t frame = ZSTD_findFrameCompressedSize(src, n);
  if (ZSTD_isError(frame)) fail(MMB_ERR_FORMAT, "corrupt zstd frame (", ZSTD_getErrorName(frame), ")");
  if (frame != n) fail(MMB_ERR_FORMAT, n - frame, " bytes follow the zstd frame (", frame, " bytes)");
  check_frame_header(stored, dst_size);
  std::unique_ptr<ZSTD_DCtx, DCtxDeleter> dctx(ZSTD_createDCtx());
  if (!dctx) throw std::bad_alloc();
  const size_t got = ZSTD_decompressDCtx(dctx.get(), dst, dst_size, src, n);
  if (ZSTD_isError(got)) fail(MMB_ERR_FORMAT, "zstd frame does not decode (", ZSTD_getErrorName(got), ")");
  if (got != dst_size) fail(MMB_ERR_FORMAT, "zstd frame decoded to ", got, " bytes, expected ", dst_size);
}

}  // namespace

std::string_view codec_name(Codec codec) {
  switch (codec) {
    case Codec::None: return "none";
    case Codec::Zstd: return "zstd";
    case Codec::ShuffleZstd: return "shuffle-zstd";
  }
  return "?";
}

void shuffle_bytes(const std::byte* src, std::byte* dst, size_t n, size_t element_size) {
  for (size_t plane = 0; plane < element_size; ++plane) {
    const size_t byte = element_size - 1 - plane;  // plane 0: the most significant byte
    std::byte* out = dst + plane * n;
    for (size_t i = 0; i < n; ++i) out[i] = src[i * element_size + byte];
  }
}

void unshuffle_bytes(const std::byte* src, std::byte* dst, size_t n, size_t element_size) {
  // The common widths are written as whole values so the compiler vectorizes them.
  if (element_size == 2) {
    const auto* hi = reinterpret_cast<const uint8_t*>(src);
    const auto* lo = hi + n;
    for (size_t i = 0; i < n; ++i) {
      const uint16_t v = uint16_t(lo[i] | (hi[i] << 8));
      std::memcpy(dst + 2 * i, &v, 2);
    }
    return;
  }
  if (element_size == 4) {
    const auto* p0 = reinterpret_cast<const uint8_t*>(src);
    const auto* p1 = p0 + n;
    const auto* p2 = p1 + n;
    const auto* p3 = p2 + n;
    for (size_t i = 0; i < n; ++i) {
      const uint32_t v = uint32_t(p3[i]) | (uint32_t(p2[i]) << 8) | (uint32_t(p1[i]) << 16) | (uint32_t(p0[i]) << 24);
      std::memcpy(dst + 4 * i, &v, 4);
    }
    return;
  }
  for (size_t plane = 0; plane < element_size; ++plane) {
    const size_t byte = element_size - 1 - plane;
    const std::byte* in = src + plane * n;
    for (size_t i = 0; i < n; ++i) dst[i * element_size + byte] = in[i];
  }
}

std::vector<std::byte> encode_tensor(Codec codec, std::span<const std::byte> raw, size_t element_size, int level) {
  if (codec != Codec::Zstd && codec != Codec::ShuffleZstd)
    fail(MMB_ERR_INVALID_ARGUMENT, "encode_tensor: codec ", codec_name(codec), " is not a compressing codec");
  if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel())
    fail(MMB_ERR_INVALID_ARGUMENT, "zstd level ", level, " is outside [", ZSTD_minCLevel(), ", ", ZSTD_maxCLevel(), "]");
  if (element_size == 0 || raw.size() % element_size != 0)
    fail(MMB_ERR_INVALID_ARGUMENT, "encode_tensor: ", raw.size(), " bytes are not a whole number of ", element_size,
         "-byte values");
  std::vector<std::byte> shuffled;
  std::span<const std::byte> input = raw;
  if (codec == Codec::ShuffleZstd && element_size > 1) {
    shuffled.resize(raw.size());
    shuffle_bytes(raw.data(), shuffled.data(), raw.size() / element_size, element_size);
    input = shuffled;
  }
  std::unique_ptr<ZSTD_CCtx, CCtxDeleter> cctx(ZSTD_createCCtx());
  if (!cctx) throw std::bad_alloc();
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_contentSizeFlag, 1);
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_checksumFlag, 0);  // the manifest holds an xxh64 of the raw bytes
  std::vector<std::byte> out(ZSTD_compressBound(input.size()));
  const size_t n = ZSTD_compress2(cctx.get(), out.data(), out.size(), input.data(), input.size());
  if (ZSTD_isError(n)) fail(MMB_ERR_INTERNAL, "zstd compression failed: ", ZSTD_getErrorName(n));
  out.resize(n);
  out.shrink_to_fit();
  return out;
}

void check_frame_header(std::span<const std::byte> head, uint64_t raw_size) {
  if (head.size() < 4 || read_le32(head.data()) != ZSTD_MAGICNUMBER)
    fail(MMB_ERR_FORMAT, "stored bytes do not start with a zstd frame");
  const size_t n = head.size() < kZstdFrameHeaderMax ? head.size() : kZstdFrameHeaderMax;
  const unsigned long long declared = ZSTD_getFrameContentSize(head.data(), n);
  if (declared == ZSTD_CONTENTSIZE_ERROR) fail(MMB_ERR_FORMAT, "corrupt zstd frame header");
  if (declared == ZSTD_CONTENTSIZE_UNKNOWN) fail(MMB_ERR_FORMAT, "zstd frame does not declare its content size");
  if (declared != raw_size)
    fail(MMB_ERR_FORMAT, "zstd frame declares ", declared, " bytes of content but raw_size is ", raw_size);
}

void decode_tensor(Codec codec, std::span<const std::byte> stored, std::span<std::byte> dst, size_t element_size,
                   const HostAllocator& allocator) {
  switch (codec) {
    case Codec::None:
      if (stored.size() != dst.size())
        fail(MMB_ERR_FORMAT, "stored size ", stored.size(), " differs from raw size ", dst.size());
      std::memcpy(dst.data(), stored.data(), dst.size());
      return;
    case Codec::Zstd:
      decode_frame(stored, dst.data(), dst.size());
      return;
    case Codec::ShuffleZstd: {
      if (element_size == 0 || dst.size() % element_size != 0)
        fail(MMB_ERR_FORMAT, dst.size(), " bytes are not a whole number of ", element_size, "-byte values");
      if (element_size == 1) return decode_frame(stored, dst.data(), dst.size());
      HostBuffer<std::byte> planes(allocator, dst.size(), false);
      decode_frame(stored, planes.data(), dst.size());
      unshuffle_bytes(planes.data(), dst.data(), dst.size() / element_size, element_size);
      return;
    }
  }
  fail(MMB_ERR_UNSUPPORTED, "unknown codec ", int(codec));
}

}  // namespace mmb
