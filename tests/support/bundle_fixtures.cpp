#include "bundle_fixtures.hpp"

#include "base/error.hpp"
#include "bundle/bundle_format.hpp"

#include "bundle_generated.h"
#include "temp_folder.hpp"

#define XXH_INLINE_ALL
#include <xxhash.h>
#include <zstd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace mmb::test {

TokenizerData byte_tokenizer() {
  TokenizerData t;
  t.kind = TokenizerKind::Bytes;
  for (int b = 0; b < 256; ++b) t.pieces.push_back(std::string(1, char(b)));
  return t;
}

SyntheticModel tiny_model(DType dtype, uint64_t seed) {
  SyntheticModel m = make_synthetic_model(named_shape("tiny"), {seed, dtype});
  m.contents.tokenizer = byte_tokenizer();
  return m;
}

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "mmb-test-XXXXXX").string();
  if (!mmb::cli::make_temp_folder(pattern.data())) throw std::runtime_error("mkdtemp failed");
  dir_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::vector<std::byte> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(chars.size());
  std::memcpy(out.data(), chars.data(), chars.size());
  return out;
}

void write_file(const std::string& path, std::span<const std::byte> bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

ShiftedBuffer::ShiftedBuffer(std::span<const std::byte> bytes, size_t shift) : storage_(bytes.size() + 128), size_(bytes.size()) {
  const auto base = reinterpret_cast<uintptr_t>(storage_.data());
  start_ = size_t((64 - base % 64) % 64) + shift;
  std::memcpy(storage_.data() + start_, bytes.data(), bytes.size());
}

mmb_io MemoryIo::io() {
  mmb_io io{};
  io.struct_size = sizeof io;
  io.user_data = this;
  io.size = [](void* u, uint64_t* size) -> int32_t {
    auto* m = static_cast<MemoryIo*>(u);
    *size = m->claimed_size ? m->claimed_size : m->bytes.size();
    return m->fail_size ? -1 : 0;
  };
  io.seek = [](void* u, uint64_t offset) -> int32_t {
    auto* m = static_cast<MemoryIo*>(u);
    if (m->seeks++ == m->fail_at_seek || offset > m->bytes.size()) return -1;
    m->position = offset;
    return 0;
  };
  io.read = [](void* u, void* dst, size_t n) -> int64_t {
    auto* m = static_cast<MemoryIo*>(u);
    if (m->reads++ == m->fail_at_read) return -1;
    const size_t n_read = std::min({n, m->max_chunk, size_t(m->bytes.size() - m->position)});
    std::memcpy(dst, m->bytes.data() + m->position, n_read);
    m->position += n_read;
    return int64_t(n_read);
  };
  return io;
}

mmb_io SparseIo::io() {
  mmb_io io{};
  io.struct_size = sizeof io;
  io.user_data = this;
  io.size = [](void* u, uint64_t* size) -> int32_t {
    *size = static_cast<SparseIo*>(u)->size;
    return 0;
  };
  io.seek = [](void* u, uint64_t offset) -> int32_t {
    auto* s = static_cast<SparseIo*>(u);
    if (offset > s->size) return -1;
    s->position = offset;
    return 0;
  };
  io.read = [](void* u, void* dst, size_t n) -> int64_t {
    auto* s = static_cast<SparseIo*>(u);
    n = size_t(std::min<uint64_t>(n, s->size - s->position));
    auto* out = static_cast<std::byte*>(dst);
    std::memset(out, 0, n);
    const uint64_t begin = s->position, end = begin + n;
    for (const auto& [at, bytes] : s->pieces) {
      const uint64_t lo = std::max(begin, at), hi = std::min(end, at + bytes.size());
      if (lo < hi) std::memcpy(out + (lo - begin), bytes.data() + (lo - at), size_t(hi - lo));
    }
    s->position = end;
    s->bytes_read += n;
    return int64_t(n);
  };
  return io;
}

LoadResult try_load(std::unique_ptr<ByteSource> source, const ReadOptions& options) {
  static const HostAllocator allocator;
  LoadResult r;
  try {
    r.bundle = LoadedBundle::load(std::move(source), options, allocator);
  } catch (const Error& e) {
    r.status = e.status();
    r.message = e.what();
  }
  return r;
}

LoadResult try_load_memory(std::span<const std::byte> bytes, bool verify_checksums) {
  static const HostAllocator allocator;
  ReadOptions options;
  options.verify_checksums = verify_checksums;
  // Copied: the tensors then live in exactly-sized memory, so ASan sees any over-read.
  return try_load(open_memory_source(bytes.data(), bytes.size(), true, allocator), options);
}

CraftedBundle CraftedBundle::from(const std::vector<std::byte>& file) {
  static const HostAllocator allocator;
  ReadOptions options;
  options.load_tensor_data = false;
  auto b = LoadedBundle::load(open_memory_source(file.data(), file.size(), false, allocator), options, allocator);
  CraftedBundle c;
  uint64_t manifest_offset = 0;
  std::memcpy(&manifest_offset, file.data() + BundleHeaderLayout::manifest_offset, 8);
  c.data.assign(file.begin(), file.begin() + std::ptrdiff_t(manifest_offset));
  c.config = b->config();
  const TokenizerData& t = b->tokenizer();
  c.tokenizer.kind = uint8_t(t.kind);
  c.tokenizer.pre_tokenizer = uint8_t(t.pre_tokenizer);
  c.tokenizer.normalizer = uint8_t(t.normalizer);
  c.tokenizer.piece_offsets.push_back(0);
  for (const std::string& p : t.pieces) {
    c.tokenizer.piece_bytes.insert(c.tokenizer.piece_bytes.end(), p.begin(), p.end());
    c.tokenizer.piece_offsets.push_back(uint32_t(c.tokenizer.piece_bytes.size()));
  }
  for (const auto& [l, r] : t.merges) {
    c.tokenizer.merges.push_back(l);
    c.tokenizer.merges.push_back(r);
  }
  for (const SpecialToken& s : t.specials) c.tokenizer.specials.emplace_back(s.id, s.text);
  for (const SpecialToken& s : t.added) c.tokenizer.added.emplace_back(s.id, s.text);
  c.tokenizer.bos_id = t.bos_id;
  c.tokenizer.eos_id = t.eos_id;
  c.tokenizer.pad_id = t.pad_id;
  c.tokenizer.unk_id = t.unk_id;
  c.metadata = b->metadata();
  for (const TensorView& v : b->tensors())
    c.tensors.push_back({v.name, uint8_t(v.dtype), uint8_t(v.codec), v.shape, v.offset, v.stored_size, v.raw_size, v.xxh64});
  return c;
}

CraftedTensor& CraftedBundle::tensor(const std::string& name) {
  for (auto& t : tensors)
    if (t.name == name) return t;
  throw std::runtime_error("no tensor " + name);
}

namespace {

using flatbuffers::FlatBufferBuilder;
using flatbuffers::Offset;

Offset<fb::FeedForward> feed_forward(FlatBufferBuilder& b, const FeedForwardConfig& f) {
  fb::FeedForwardBuilder ff(b);
  ff.add_d_ff(f.d_ff);
  ff.add_act(fb::ExpertAct(f.act));
  ff.add_bias(f.bias);
  return ff.Finish();
}

Offset<fb::ProjectionExperts> projection(FlatBufferBuilder& b, const std::optional<ProjectionExperts>& e) {
  if (!e) return {};
  fb::ProjectionExpertsBuilder p(b);
  p.add_n_experts(e->n_experts);
  p.add_top_k(e->top_k);
  p.add_router(fb::RouterAct(e->router));
  p.add_router_bias(e->router_bias);
  p.add_sel_bias(e->sel_bias);
  p.add_renorm(e->renorm);
  p.add_routed_scale(e->routed_scale);
  p.add_bias(e->bias);
  return p.Finish();
}

Offset<fb::Layer> layer(FlatBufferBuilder& b, const LayerConfig& l, bool with_table, bool with_moe_table) {
  Offset<fb::MambaLayer> mamba;
  Offset<fb::MoELayer> moe;
  Offset<fb::FeedForward> mlp;
  if (with_table && l.has_mamba()) {
    auto x = projection(b, l.mamba.x_proj_experts);
    auto z = projection(b, l.mamba.z_proj_experts);
    auto out = projection(b, l.mamba.out_proj_experts);
    fb::MambaLayerBuilder m(b);
    m.add_x_proj_experts(x);
    m.add_z_proj_experts(z);
    m.add_out_proj_experts(out);
    m.add_d_inner(l.mamba.d_inner);
    m.add_d_state(l.mamba.d_state);
    m.add_d_conv(l.mamba.d_conv);
    m.add_dt_rank(l.mamba.dt_rank);
    m.add_in_proj_bias(l.mamba.in_proj_bias);
    m.add_conv_bias(l.mamba.conv_bias);
    m.add_out_proj_bias(l.mamba.out_proj_bias);
    mamba = m.Finish();
  }
  if (with_table && with_moe_table && l.has_moe()) {
    auto expert = feed_forward(b, l.moe.expert);
    auto shared = l.moe.n_shared ? feed_forward(b, l.moe.shared) : Offset<fb::FeedForward>();
    fb::MoELayerBuilder m(b);
    m.add_n_experts(l.moe.n_experts);
    m.add_top_k(l.moe.top_k);
    m.add_expert(expert);
    m.add_router(fb::RouterAct(l.moe.router));
    m.add_router_bias(l.moe.router_bias);
    m.add_sel_bias(l.moe.sel_bias);
    m.add_renorm(l.moe.renorm);
    m.add_routed_scale(l.moe.routed_scale);
    m.add_n_shared(l.moe.n_shared);
    if (l.moe.n_shared) m.add_shared(shared);
    m.add_normalize_expert_output(l.moe.normalize_expert_output);
    moe = m.Finish();
  }
  if (with_table && l.kind == LayerKind::MLP) mlp = feed_forward(b, l.mlp);
  fb::LayerBuilder lb(b);
  lb.add_kind(fb::LayerKind(l.kind));
  lb.add_mamba(mamba);
  lb.add_moe(moe);
  lb.add_mlp(mlp);
  lb.add_shared_norm(l.shared_norm);
  return lb.Finish();
}

void put(std::vector<std::byte>& out, uint64_t at, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out[at + i] = std::byte(value >> (8 * i));
}

}  // namespace

std::vector<std::byte> CraftedBundle::manifest() const {
  FlatBufferBuilder b;
  std::vector<Offset<fb::Layer>> layers;
  for (size_t i = 0; i < config.layers.size(); ++i) {
    const bool omit = std::find(layers_without_table.begin(), layers_without_table.end(), i) != layers_without_table.end();
    const bool omit_moe = std::find(layers_without_moe_table.begin(), layers_without_moe_table.end(), i) !=
                          layers_without_moe_table.end();
    layers.push_back(layer(b, config.layers[i], !omit, !omit_moe));
  }
  auto layer_vector = b.CreateVector(layers);
  fb::ConfigBuilder cb(b);
  cb.add_d_model(config.d_model);
  cb.add_vocab_size(config.vocab_size);
  cb.add_norm(fb::NormKind(config.norm));
  cb.add_final_norm(fb::NormKind(config.final_norm));
  cb.add_norm_eps(config.norm_eps);
  cb.add_tie_embeddings(config.tie_embeddings);
  cb.add_layers(layer_vector);
  auto config_table = cb.Finish();

  Offset<fb::Tokenizer> tokenizer_table;
  if (tokenizer.present) {
    auto literals = [&](const std::vector<std::pair<int32_t, std::string>>& tokens) {
      std::vector<Offset<fb::SpecialToken>> out;
      for (const auto& [id, text] : tokens) out.push_back(fb::CreateSpecialToken(b, id, b.CreateString(text)));
      return b.CreateVector(out);
    };
    auto specials_vector = literals(tokenizer.specials);
    auto added_vector = literals(tokenizer.added);
    auto bytes = b.CreateVector(tokenizer.piece_bytes);
    auto offsets = b.CreateVector(tokenizer.piece_offsets);
    auto merges = b.CreateVector(tokenizer.merges);
    fb::TokenizerBuilder tb(b);
    tb.add_kind(fb::TokenizerKind(tokenizer.kind));
    tb.add_pre_tokenizer(fb::PreTokenizer(tokenizer.pre_tokenizer));
    tb.add_piece_bytes(bytes);
    tb.add_piece_offsets(offsets);
    tb.add_merges(merges);
    tb.add_specials(specials_vector);
    tb.add_added(added_vector);
    tb.add_bos_id(tokenizer.bos_id);
    tb.add_eos_id(tokenizer.eos_id);
    tb.add_pad_id(tokenizer.pad_id);
    tb.add_unk_id(tokenizer.unk_id);
    tb.add_normalizer(fb::Normalizer(tokenizer.normalizer));
    tokenizer_table = tb.Finish();
  }

  std::vector<Offset<fb::MetaEntry>> entries;
  for (const auto& [k, v] : metadata) entries.push_back(fb::CreateMetaEntry(b, b.CreateString(k), b.CreateString(v)));
  auto metadata_vector = b.CreateVector(entries);

  std::vector<Offset<fb::Tensor>> records;
  for (const CraftedTensor& t : tensors) {
    auto name = b.CreateString(t.name);
    auto shape = b.CreateVector(t.shape);
    fb::TensorBuilder tb(b);
    tb.add_name(name);
    tb.add_dtype(fb::DType(t.dtype));
    tb.add_shape(shape);
    tb.add_offset(t.offset);
    tb.add_stored_size(t.stored_size);
    tb.add_raw_size(t.raw_size);
    tb.add_codec(fb::Codec(t.codec));
    tb.add_xxh64(t.xxh64);
    records.push_back(tb.Finish());
  }
  auto tensor_vector = b.CreateVector(records);
  fb::BundleBuilder bb(b);
  bb.add_config(config_table);
  if (tokenizer.present) bb.add_tokenizer(tokenizer_table);
  bb.add_metadata(metadata_vector);
  bb.add_tensors(tensor_vector);
  b.Finish(bb.Finish(), "MMB1");
  const auto* p = reinterpret_cast<const std::byte*>(b.GetBufferPointer());
  return {p, p + b.GetSize()};
}

std::vector<std::byte> make_header(uint64_t manifest_offset, uint64_t stored_size, uint64_t raw_size, uint32_t codec,
                                   uint64_t manifest_xxh64) {
  using L = BundleHeaderLayout;
  std::vector<std::byte> h(64, std::byte{0});
  std::memcpy(h.data(), "MOEMAMBA", 8);
  put(h, L::format_version, 1, 4);
  put(h, L::manifest_offset, manifest_offset, 8);
  put(h, L::manifest_stored_size, stored_size, 8);
  put(h, L::manifest_raw_size, raw_size, 8);
  put(h, L::manifest_codec, codec, 4);
  put(h, L::manifest_xxh64, manifest_xxh64, 8);
  return h;
}

std::vector<std::byte> assemble_bundle(std::vector<std::byte> out, std::span<const std::byte> manifest, bool compress) {
  const std::vector<std::byte> stored = compress ? zstd_frame(manifest) : std::vector<std::byte>(manifest.begin(), manifest.end());
  out.resize((std::max<size_t>(out.size(), 64) + 63) / 64 * 64, std::byte{0});
  const uint64_t at = out.size();
  out.insert(out.end(), stored.begin(), stored.end());
  const auto header = make_header(at, stored.size(), manifest.size(), compress ? 1 : 0, xxh64_of(manifest));
  std::copy(header.begin(), header.end(), out.begin());
  return out;
}

std::vector<std::byte> CraftedBundle::build() const { return assemble_bundle(data, manifest(), compress_manifest); }

uint64_t xxh64_of(std::span<const std::byte> bytes) { return XXH64(bytes.data(), bytes.size(), 0); }

std::vector<std::byte> zstd_frame(std::span<const std::byte> bytes, int level) {
  std::vector<std::byte> out(ZSTD_compressBound(bytes.size()));
  const size_t n = ZSTD_compress(out.data(), out.size(), bytes.data(), bytes.size(), level);
  if (ZSTD_isError(n)) throw std::runtime_error("ZSTD_compress failed");
  out.resize(n);
  return out;
}

}  // namespace mmb::test
