#include "bundle/bundle_writer.hpp"

#include "base/error.hpp"
#include "base/first_error.hpp"
#include "base/replacing_file.hpp"
#include "base/thread_pool.hpp"
#include "bundle/bundle_format.hpp"
#include "base/checksum.hpp"
#include "bundle/manifest.hpp"
#include "bundle/tensor_table.hpp"

#include <zstd.h>

#include <cstring>
#include <limits>


namespace mmb {

namespace {

// Raw bytes of tensors encoded at once: bounds the writer's memory beyond its inputs.
constexpr uint64_t kWindowBytesPerThread = 64ull << 20;

constexpr std::byte kZeros[kRawTensorAlignment] = {};

uint64_t round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

// Where the bytes go: appended in order, plus one patch of the header at the end.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual void write(const void* data, size_t n) = 0;
  virtual void write_at(uint64_t offset, const void* data, size_t n) = 0;
};

class MemorySink final : public Sink {
 public:
  explicit MemorySink(std::vector<std::byte>& out) : out_(out) {}
  void write(const void* data, size_t n) override {
    const auto* p = static_cast<const std::byte*>(data);
    out_.insert(out_.end(), p, p + n);
  }
  void write_at(uint64_t offset, const void* data, size_t n) override {
    std::memcpy(out_.data() + offset, data, n);
  }

 private:
  std::vector<std::byte>& out_;
};

// A temporary file beside the target, renamed over it by commit(); removed otherwise.
// A bundle file appears under its name only once complete (base/replacing_file.hpp).
class FileSink final : public Sink {
 public:
  explicit FileSink(const std::string& path) : file_(path) {}
  void write(const void* data, size_t n) override { file_.write(data, n); }
  void write_at(uint64_t offset, const void* data, size_t n) override { file_.write_at(offset, data, n); }
  void commit() { file_.commit(); }

 private:
  ReplacingFile file_;
};

// The tensor records (offsets still unknown), after every check on the input.
std::vector<TensorView> check_contents(const BundleContents& c, const WriterOptions& o) {
  if (uint8_t(o.codec) > uint8_t(Codec::ShuffleZstd))
    fail(MMB_ERR_INVALID_ARGUMENT, "writer: unknown codec ", int(o.codec));
  if (o.threads < 1) fail(MMB_ERR_INVALID_ARGUMENT, "writer: threads = ", o.threads, " must be at least 1");
  try {
    validate_config(c.config);
  } catch (const Error& e) {
    fail(MMB_ERR_INVALID_ARGUMENT, e.what());
  }
  check_tokenizer(c.tokenizer, c.config.vocab_size, MMB_ERR_INVALID_ARGUMENT);
  check_metadata(c.metadata, MMB_ERR_INVALID_ARGUMENT);
  std::vector<TensorView> records(c.tensors.size());
  for (size_t i = 0; i < c.tensors.size(); ++i) {
    const WriterTensor& t = c.tensors[i];
    if (!dtype_known(uint8_t(t.dtype)))
      fail(MMB_ERR_INVALID_ARGUMENT, "tensor '", t.name, "': unknown dtype ", int(t.dtype));
    TensorView& r = records[i];
    r.name = t.name;
    r.dtype = t.dtype;
    r.shape = t.shape;
    r.raw_size = tensor_raw_size(t.name, t.dtype, t.shape, MMB_ERR_INVALID_ARGUMENT);
    if (t.data.size() != r.raw_size)
      fail(MMB_ERR_INVALID_ARGUMENT, "tensor '", t.name, "': ", t.data.size(), " bytes of data, but shape ",
           shape_string(t.shape), " of ", dtype_name(t.dtype), " needs ", r.raw_size);
  }
  check_tensor_set(c.config, records, MMB_ERR_INVALID_ARGUMENT);
  // Every field set to a non-default value gives the largest encoding this manifest can have.
  std::vector<TensorView> widest = records;
  for (TensorView& r : widest) {
    r.offset = r.stored_size = r.xxh64 = ~uint64_t(0);
    r.codec = Codec::ShuffleZstd;
  }
  const size_t manifest = encode_manifest(c.config, c.tokenizer, c.metadata, widest).size();
  if (manifest > kMaxManifestRawSize)
    fail(MMB_ERR_INVALID_ARGUMENT, "writer: the manifest would take ", manifest, " bytes, over the limit of ",
         kMaxManifestRawSize);
  const bool compressing = o.codec != Codec::None || o.compress_manifest;
  if (compressing && (o.level < ZSTD_minCLevel() || o.level > ZSTD_maxCLevel()))
    fail(MMB_ERR_INVALID_ARGUMENT, "writer: zstd level ", o.level, " is outside [", ZSTD_minCLevel(), ", ",
         ZSTD_maxCLevel(), "]");
  return records;
}

struct Encoded {
  std::vector<std::byte> frame;  // empty: stored raw
  uint64_t xxh64 = 0;
};

// `records` come from check_contents(c, o); the writer fills in their placement.
void write_bundle(const BundleContents& c, const WriterOptions& o, std::vector<TensorView> records, Sink& sink) {
  std::byte header[kBundleHeaderSize] = {};
  sink.write(header, sizeof header);  // filled in last
  uint64_t pos = kBundleHeaderSize;
  auto pad_to = [&](uint64_t alignment) {
    const uint64_t next = round_up(pos, alignment);
    sink.write(kZeros, size_t(next - pos));
    pos = next;
  };

  uint64_t progress_done = 0, progress_total = 0;
  for (const WriterTensor& t : c.tensors) progress_total += t.data.size();
  report_progress(o.progress, 0, progress_total, "writing");

  ThreadPool pool(o.threads);
  const uint64_t window_bytes = kWindowBytesPerThread * uint64_t(o.threads);
  std::vector<Encoded> encoded;
  for (size_t begin = 0; begin < c.tensors.size();) {
    size_t end = begin;
    uint64_t bytes = 0;
    while (end < c.tensors.size() && (end == begin || bytes + c.tensors[end].data.size() <= window_bytes))
      bytes += c.tensors[end++].data.size();
    encoded.assign(end - begin, Encoded{});
    FirstError error;
    pool.run(end - begin, [&](size_t k, int) {
      if (error.failed()) return;
      try {
        const WriterTensor& t = c.tensors[begin + k];
        encoded[k].xxh64 = xxh64(t.data.data(), t.data.size());
        if (o.codec == Codec::None) return;
        encoded[k].frame = encode_tensor(o.codec, t.data, dtype_shuffle_width(t.dtype), o.level);
        if (encoded[k].frame.size() >= t.data.size()) encoded[k].frame = {};  // incompressible: raw is smaller
      } catch (...) {
        error.record(k);
      }
    });
    error.rethrow();
    for (size_t k = 0; k < encoded.size(); ++k) {
      const WriterTensor& t = c.tensors[begin + k];
      TensorView& r = records[begin + k];
      const bool raw = encoded[k].frame.empty();
      pad_to(raw && t.data.size() >= kRawTensorAlignment ? kRawTensorAlignment : kTensorAlignment);
      r.offset = pos;
      r.codec = raw ? Codec::None : o.codec;
      r.stored_size = raw ? t.data.size() : encoded[k].frame.size();
      r.xxh64 = encoded[k].xxh64;
      sink.write(raw ? t.data.data() : encoded[k].frame.data(), size_t(r.stored_size));
      pos += r.stored_size;
      progress_done += t.data.size();
      if (progress_done < progress_total) report_progress(o.progress, progress_done, progress_total, "writing");
    }
    begin = end;
  }

  const std::vector<std::byte> manifest = encode_manifest(c.config, c.tokenizer, c.metadata, records);
  BundleHeader h;
  h.manifest_raw_size = manifest.size();
  h.manifest_xxh64 = xxh64(manifest.data(), manifest.size());
  std::vector<std::byte> compressed;
  if (o.compress_manifest) {
    compressed = encode_tensor(Codec::Zstd, manifest, 1, o.level);
    if (compressed.size() >= manifest.size()) compressed.clear();
  }
  h.manifest_codec = compressed.empty() ? ManifestCodec::None : ManifestCodec::Zstd;
  const std::vector<std::byte>& stored = compressed.empty() ? manifest : compressed;
  pad_to(kTensorAlignment);
  h.manifest_offset = pos;
  h.manifest_stored_size = stored.size();
  sink.write(stored.data(), stored.size());
  encode_header(h, header);
  sink.write_at(0, header, sizeof header);
  report_progress(o.progress, progress_total, progress_total, "writing");
}

}  // namespace

std::vector<std::byte> write_bundle_to_memory(const BundleContents& contents, const WriterOptions& options) {
  std::vector<std::byte> out;
  if (options.codec == Codec::None) {
    uint64_t estimate = kBundleHeaderSize + (64u << 10);
    for (const WriterTensor& t : contents.tensors) estimate += t.data.size() + kRawTensorAlignment;
    if (estimate <= std::numeric_limits<size_t>::max() / 2) out.reserve(size_t(estimate));
  }
  std::vector<TensorView> records = check_contents(contents, options);
  MemorySink sink(out);
  write_bundle(contents, options, std::move(records), sink);
  return out;
}

void write_bundle_to_file(const BundleContents& contents, const WriterOptions& options, const std::string& path) {
  std::vector<TensorView> records = check_contents(contents, options);  // before any file is created
  FileSink sink(path);
  write_bundle(contents, options, std::move(records), sink);
  sink.commit();
}

}  // namespace mmb
