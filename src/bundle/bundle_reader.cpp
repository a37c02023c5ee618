#include "bundle/bundle_reader.hpp"

#include "base/error.hpp"
#include "base/first_error.hpp"
#include "base/checksum.hpp"
#include "bundle/manifest.hpp"
#include "bundle/tensor_table.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <string_view>
#include <thread>
#include <unordered_map>

namespace mmb {

struct LoadedBundle::Impl {
  std::unique_ptr<ByteSource> source;
  HostBuffer<std::byte> owned;  // tensors decoded, copied, or read through host I/O
  std::unordered_map<std::string_view, size_t> by_name;  // views of tensors_' names
};

LoadedBundle::LoadedBundle() : impl_(std::make_unique<Impl>()) {}
LoadedBundle::~LoadedBundle() = default;

uint64_t LoadedBundle::file_size() const { return impl_->source->size(); }
const ByteSource& LoadedBundle::source() const { return *impl_->source; }

const TensorView* LoadedBundle::find(const std::string& name) const {
  auto it = impl_->by_name.find(name);
  return it == impl_->by_name.end() ? nullptr : &tensors_[it->second];
}

namespace {

std::string hex(uint64_t v) { return cat("0x", std::hex, v); }

uint64_t round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

std::string where(const TensorView& t) {
  return cat("tensor '", t.name, "' (", codec_name(t.codec), ", offset ", t.offset, ", stored_size ", t.stored_size, ")");
}

// The manifest's raw bytes in an aligned buffer (FlatBuffers reads scalars in place),
// after its range, codec and xxh64 check out.
HostBuffer<std::byte> read_manifest(ByteSource& src, const BundleHeader& h, const HostAllocator& allocator) {
  HostBuffer<std::byte> raw(allocator, size_t(h.manifest_raw_size), false);
  if (h.manifest_codec == ManifestCodec::None) {
    src.read(h.manifest_offset, raw.data(), raw.size());
  } else {
    HostBuffer<std::byte> staged;
    const std::byte* stored = nullptr;
    if (src.data()) {
      stored = src.data() + h.manifest_offset;
    } else {
      staged = HostBuffer<std::byte>(allocator, size_t(h.manifest_stored_size), false);
      src.read(h.manifest_offset, staged.data(), staged.size());
      stored = staged.data();
    }
    try {
      decode_tensor(Codec::Zstd, {stored, size_t(h.manifest_stored_size)}, {raw.data(), raw.size()}, 1, allocator);
    } catch (const Error& e) {
      fail(e.status(), "manifest (offset ", h.manifest_offset, ", stored_size ", h.manifest_stored_size, "): ", e.what());
    }
  }
  const uint64_t actual = xxh64(raw.data(), raw.size());
  if (actual != h.manifest_xxh64)
    fail(MMB_ERR_FORMAT, "manifest (offset ", h.manifest_offset, ", ", h.manifest_raw_size, " bytes): xxh64 is ",
         hex(actual), " but the header says ", hex(h.manifest_xxh64));
  return raw;
}

// Sizes agree with shapes and codecs, and every tensor lies inside the file on a
// 64-byte boundary.
void check_tensor_records(const std::vector<TensorView>& tensors, uint64_t file_size) {
  for (const TensorView& t : tensors) {
    const uint64_t expected = tensor_raw_size(t.name, t.dtype, t.shape, MMB_ERR_FORMAT);
    if (t.raw_size != expected)
      fail(MMB_ERR_FORMAT, "tensor '", t.name, "': raw_size ", t.raw_size, " disagrees with shape ",
           shape_string(t.shape), " of ", dtype_name(t.dtype), " (", expected, " bytes)");
    if (t.codec == Codec::None && t.stored_size != t.raw_size)
      fail(MMB_ERR_FORMAT, "tensor '", t.name, "': stored uncompressed, but stored_size ", t.stored_size,
           " differs from raw_size ", t.raw_size);
    if (t.offset > file_size || t.stored_size > file_size - t.offset)
      fail(MMB_ERR_FORMAT, "tensor '", t.name, "': offset ", t.offset, " + stored_size ", t.stored_size,
           " exceeds file size ", file_size);
    if (t.offset % kTensorAlignment)
      fail(MMB_ERR_FORMAT, "tensor '", t.name, "': offset ", t.offset, " is not a multiple of ", kTensorAlignment);
  }
}

// No two of tensors, header and manifest share a byte (ranges are known to be in the file).
void check_no_overlaps(const std::vector<TensorView>& tensors, const BundleHeader& h) {
  struct Range {
    uint64_t begin, end;
    size_t owner;  // tensor index, or kHeader / kManifest
  };
  constexpr size_t kHeader = std::numeric_limits<size_t>::max(), kManifest = kHeader - 1;
  std::vector<Range> ranges;
  ranges.reserve(tensors.size() + 2);
  ranges.push_back({0, kBundleHeaderSize, kHeader});
  ranges.push_back({h.manifest_offset, h.manifest_offset + h.manifest_stored_size, kManifest});
  for (size_t i = 0; i < tensors.size(); ++i)
    if (tensors[i].stored_size) ranges.push_back({tensors[i].offset, tensors[i].offset + tensors[i].stored_size, i});
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  auto name = [&](const Range& r) {
    if (r.owner == kHeader) return std::string("the header");
    if (r.owner == kManifest) return std::string("the manifest");
    return cat("tensor '", tensors[r.owner].name, "'");
  };
  size_t reach = 0;  // the range reaching furthest so far
  for (size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i].begin < ranges[reach].end)
      fail(MMB_ERR_FORMAT, name(ranges[i]), " [", ranges[i].begin, ", ", ranges[i].end, ") overlaps ", name(ranges[reach]),
           " [", ranges[reach].begin, ", ", ranges[reach].end, ")");
    if (ranges[i].end > ranges[reach].end) reach = i;
  }
}

// Each compressed tensor starts a zstd frame declaring exactly raw_size: checked before
// any memory is set aside for it.
void check_frame_headers(ByteSource& src, const std::vector<TensorView>& tensors) {
  for (const TensorView& t : tensors) {
    if (t.codec == Codec::None) continue;
    std::byte head[kZstdFrameHeaderMax];
    const size_t n = size_t(std::min<uint64_t>(t.stored_size, sizeof head));
    src.read(t.offset, head, n);
    try {
      check_frame_header({head, n}, t.raw_size);
    } catch (const Error& e) {
      fail(e.status(), where(t), ": ", e.what());
    }
  }
}

// Reports progress on the loading thread only, and remembers a cancel.
class Progress {
 public:
  Progress(FunctionRef<bool(uint64_t, uint64_t)>* fn, uint64_t total)
      : fn_(fn), total_(total), caller_(std::this_thread::get_id()) {}
  void add(uint64_t n) {
    const uint64_t done = done_.fetch_add(n, std::memory_order_relaxed) + n;
    if (std::this_thread::get_id() == caller_) report(done);
  }
  void report(uint64_t done) {
    if (fn_ && !cancelled() && !(*fn_)(done, total_)) cancelled_.store(true, std::memory_order_relaxed);
  }
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }
  void throw_if_cancelled() const {
    if (cancelled()) fail(MMB_ERR_CANCELLED, "loading cancelled by the progress callback");
  }
  uint64_t total() const { return total_; }

 private:
  FunctionRef<bool(uint64_t, uint64_t)>* fn_;
  uint64_t total_;
  std::thread::id caller_;
  std::atomic<uint64_t> done_{0};
  std::atomic<bool> cancelled_{false};
};

// Makes every tensor's bytes available and checked: raw tensors of an addressable source
// in place (copied when the source is not 64-byte aligned there), others in `owned`.
void load_tensor_data(ByteSource& src, std::vector<TensorView>& tensors, HostBuffer<std::byte>& owned,
                      const ReadOptions& options, const HostAllocator& allocator) {
  const std::byte* base = src.data();
  const size_t n = tensors.size();
  enum class Work : uint8_t { InPlace, Copy, Decode };
  std::vector<Work> work(n);
  std::vector<uint64_t> owned_at(n, 0);
  uint64_t owned_total = 0, staged_total = 0, progress_total = 0;
  for (size_t i = 0; i < n; ++i) {
    const TensorView& t = tensors[i];
    const bool aligned = base && reinterpret_cast<uintptr_t>(base + t.offset) % kTensorAlignment == 0;
    work[i] = t.codec != Codec::None ? Work::Decode : aligned ? Work::InPlace : Work::Copy;
    if (work[i] != Work::InPlace) {
      owned_at[i] = owned_total;
      if (__builtin_add_overflow(owned_total, round_up(t.raw_size, kTensorAlignment), &owned_total))
        throw std::bad_alloc();
    }
    if (!base && t.codec != Codec::None) staged_total += t.stored_size;  // bounded by the file size
    progress_total += t.raw_size + (base ? 0 : t.stored_size);
  }
  if (owned_total > std::numeric_limits<size_t>::max() || staged_total > std::numeric_limits<size_t>::max())
    throw std::bad_alloc();
  owned = HostBuffer<std::byte>(allocator, size_t(owned_total), false);
  std::vector<const std::byte*> stored(n, nullptr);
  for (size_t i = 0; i < n; ++i) {
    if (base) stored[i] = base + tensors[i].offset;
    if (work[i] != Work::InPlace) tensors[i].data = owned.data() + owned_at[i];
    else tensors[i].data = stored[i];
  }

  Progress progress(options.progress, progress_total);
  progress.report(0);
  progress.throw_if_cancelled();

  // Host I/O: read everything serially, in file order; raw tensors straight into place.
  HostBuffer<std::byte> staged;
  if (!base) {
    staged = HostBuffer<std::byte>(allocator, size_t(staged_total), false);
    std::vector<size_t> order(n);
    for (size_t i = 0; i < n; ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return tensors[a].offset < tensors[b].offset; });
    uint64_t staged_at = 0;
    for (size_t i : order) {
      TensorView& t = tensors[i];
      std::byte* dst = const_cast<std::byte*>(t.data);
      if (t.codec != Codec::None) {
        dst = staged.data() + staged_at;
        staged_at += t.stored_size;
      }
      src.read(t.offset, dst, size_t(t.stored_size));
      stored[i] = dst;
      progress.add(t.stored_size);
      progress.throw_if_cancelled();
    }
  }

  // Decode, copy and check in parallel, largest first so the threads finish together.
  std::vector<size_t> jobs;
  for (size_t i = 0; i < n; ++i) {
    const bool busy = work[i] == Work::Decode || (work[i] == Work::Copy && base) || options.verify_checksums;
    if (busy) jobs.push_back(i);
    else progress.add(tensors[i].raw_size);  // ready as it is
  }
  std::stable_sort(jobs.begin(), jobs.end(), [&](size_t a, size_t b) { return tensors[a].raw_size > tensors[b].raw_size; });
  FirstError error;
  auto task = [&](size_t job) {
    const size_t i = jobs[job];
    if (error.failed() || progress.cancelled()) return;
    try {
      TensorView& t = tensors[i];
      std::byte* dst = const_cast<std::byte*>(t.data);
      if (work[i] == Work::Decode) {
        try {
          decode_tensor(t.codec, {stored[i], size_t(t.stored_size)}, {dst, size_t(t.raw_size)}, dtype_shuffle_width(t.dtype),
                        allocator);
        } catch (const Error& e) {
          fail(e.status(), where(t), ": ", e.what());
        }
      } else if (work[i] == Work::Copy && base) {
        std::memcpy(dst, stored[i], size_t(t.raw_size));
      }
      if (options.verify_checksums) {
        const uint64_t actual = xxh64(t.data, size_t(t.raw_size));
        if (actual != t.xxh64)
          fail(MMB_ERR_FORMAT, where(t), ": xxh64 of the raw bytes is ", hex(actual), " but the manifest says ",
               hex(t.xxh64));
      }
      progress.add(t.raw_size);
    } catch (...) {
      error.record(i);
    }
  };
  if (options.parallel) {
    (*options.parallel)(jobs.size(), task);
  } else {
    for (size_t j = 0; j < jobs.size(); ++j) task(j);
  }
  error.rethrow();
  progress.throw_if_cancelled();
  progress.report(progress.total());  // the last report is always done == total
  progress.throw_if_cancelled();
}

}  // namespace

std::unique_ptr<LoadedBundle> LoadedBundle::load(std::unique_ptr<ByteSource> source, const ReadOptions& options,
                                                 const HostAllocator& allocator) {
  if (!source) fail(MMB_ERR_INVALID_ARGUMENT, "LoadedBundle::load: no source");
  std::unique_ptr<LoadedBundle> b(new LoadedBundle());
  b->impl_->source = std::move(source);
  ByteSource& src = *b->impl_->source;
  try {
    const uint64_t file_size = src.size();
    if (file_size < kBundleHeaderSize)
      fail(MMB_ERR_FORMAT, "size ", file_size, " is shorter than the ", kBundleHeaderSize, "-byte header");
    std::byte head[kBundleHeaderSize];
    src.read(0, head, sizeof head);
    const BundleHeader h = decode_header(head);
    check_manifest_range(h, file_size);
    Manifest m;
    {
      HostBuffer<std::byte> raw = read_manifest(src, h, allocator);
      m = decode_manifest({raw.data(), raw.size()});
    }
    validate_config(m.config);
    check_tokenizer(m.tokenizer, m.config.vocab_size, MMB_ERR_FORMAT);
    check_metadata(m.metadata, MMB_ERR_FORMAT);
    check_tensor_records(m.tensors, file_size);
    check_tensor_set(m.config, m.tensors, MMB_ERR_FORMAT);
    check_no_overlaps(m.tensors, h);
    check_frame_headers(src, m.tensors);
    if (options.load_tensor_data) load_tensor_data(src, m.tensors, b->impl_->owned, options, allocator);

    b->format_version_ = h.format_version;
    b->manifest_codec_ = h.manifest_codec;
    b->manifest_stored_size_ = h.manifest_stored_size;
    b->manifest_raw_size_ = h.manifest_raw_size;
    b->config_ = std::move(m.config);
    b->tokenizer_ = std::move(m.tokenizer);
    b->metadata_ = std::move(m.metadata);
    b->tensors_ = std::move(m.tensors);
  } catch (const Error& e) {
    fail(e.status(), src.describe(), ": ", e.what());
  }
  auto& by_name = b->impl_->by_name;
  by_name.reserve(b->tensors_.size());
  for (size_t i = 0; i < b->tensors_.size(); ++i) by_name.emplace(b->tensors_[i].name, i);
  return b;
}

}  // namespace mmb
