#include "bundle/manifest.hpp"

#include "base/error.hpp"
#include "bundle/bundle_format.hpp"

#include "bundle_generated.h"

#include <type_traits>
#include <unordered_set>

namespace mmb {

namespace {

namespace fbs = flatbuffers;

// ---- encoding ----

fbs::Offset<fb::FeedForward> encode_feed_forward(fbs::FlatBufferBuilder& b, const FeedForwardConfig& ff) {
  return fb::CreateFeedForward(b, ff.d_ff, fb::ExpertAct(uint8_t(ff.act)), ff.bias);
}

fbs::Offset<fb::ProjectionExperts> encode_projection(fbs::FlatBufferBuilder& b, const std::optional<ProjectionExperts>& e) {
  if (!e) return {};
  return fb::CreateProjectionExperts(b, e->n_experts, e->top_k, fb::RouterAct(uint8_t(e->router)), e->router_bias,
                                     e->sel_bias, e->renorm, e->routed_scale, e->bias);
}

fbs::Offset<fb::MambaLayer> encode_mamba(fbs::FlatBufferBuilder& b, const MambaConfig& m) {
  auto x = encode_projection(b, m.x_proj_experts);
  auto z = encode_projection(b, m.z_proj_experts);
  auto out = encode_projection(b, m.out_proj_experts);
  return fb::CreateMambaLayer(b, m.d_inner, m.d_state, m.d_conv, m.dt_rank, m.in_proj_bias, m.conv_bias,
                              m.out_proj_bias, x, z, out, fb::InnerNorm(uint8_t(m.dt_bc_norm)), m.dt_bc_norm_eps);
}

fbs::Offset<fb::Mamba2Layer> encode_mamba2(fbs::FlatBufferBuilder& b, const Mamba2Config& m) {
  return fb::CreateMamba2Layer(b, m.d_inner, m.d_state, m.d_conv, m.n_heads, m.n_groups, m.norm_group_size,
                               m.gated_norm, m.norm_eps, m.in_proj_bias, m.conv_bias, m.out_proj_bias,
                               m.d_per_channel, m.dt_min, m.dt_max);
}

fbs::Offset<fb::MoELayer> encode_moe(fbs::FlatBufferBuilder& b, const MoEConfig& m) {
  auto expert = encode_feed_forward(b, m.expert);
  auto shared = m.n_shared ? encode_feed_forward(b, m.shared) : fbs::Offset<fb::FeedForward>();
  return fb::CreateMoELayer(b, m.n_experts, m.top_k, expert, fb::RouterAct(uint8_t(m.router)), m.router_bias,
                            m.sel_bias, m.renorm, m.routed_scale, m.n_shared, shared, m.normalize_expert_output,
                            m.n_groups, m.topk_groups);
}

fbs::Offset<fb::AttentionLayer> encode_attention(fbs::FlatBufferBuilder& b, const AttentionConfig& a) {
  return fb::CreateAttentionLayer(b, a.n_heads, a.n_kv_heads, a.head_dim, a.rotary_dim, a.rope_theta, a.scale,
                                  a.qkv_bias, a.out_bias);
}

fbs::Offset<fb::Layer> encode_layer(fbs::FlatBufferBuilder& b, const LayerConfig& l) {
  switch (l.kind) {
    case LayerKind::Mamba: return fb::CreateLayer(b, fb::LayerKind::Mamba, encode_mamba(b, l.mamba));
    case LayerKind::MoE: return fb::CreateLayer(b, fb::LayerKind::MoE, 0, encode_moe(b, l.moe));
    case LayerKind::MLP: return fb::CreateLayer(b, fb::LayerKind::MLP, 0, 0, encode_feed_forward(b, l.mlp));
    case LayerKind::Parallel: {
      auto mamba = encode_mamba(b, l.mamba);
      auto moe = encode_moe(b, l.moe);
      return fb::CreateLayer(b, fb::LayerKind::Parallel, mamba, moe, 0, l.shared_norm);
    }
    case LayerKind::Mamba2:
      return fb::CreateLayer(b, fb::LayerKind::Mamba2, 0, 0, 0, false, encode_mamba2(b, l.mamba2));
    case LayerKind::Attention:
      return fb::CreateLayer(b, fb::LayerKind::Attention, 0, 0, 0, false, 0, encode_attention(b, l.attention));
  }
  fail(MMB_ERR_INVALID_ARGUMENT, "layer kind ", int(l.kind), " is unknown");
}

fbs::Offset<fb::Config> encode_config(fbs::FlatBufferBuilder& b, const ModelConfig& c) {
  std::vector<fbs::Offset<fb::Layer>> layers;
  layers.reserve(c.layers.size());
  for (const LayerConfig& l : c.layers) layers.push_back(encode_layer(b, l));
  auto layer_vector = b.CreateVector(layers);
  return fb::CreateConfig(b, c.d_model, c.vocab_size, fb::NormKind(uint8_t(c.norm)), fb::NormKind(uint8_t(c.final_norm)),
                          c.norm_eps, c.tie_embeddings, layer_vector, c.embedding_scale, c.residual_scale,
                          c.logits_divisor, c.context_length);
}

// The tables write(item) makes of each item, in order, for a stored list.
template <class Item, class Write>
auto write_each(const std::vector<Item>& items, Write write) {
  std::vector<std::invoke_result_t<Write, const Item&>> tables;
  tables.reserve(items.size());
  for (const Item& item : items) tables.push_back(write(item));
  return tables;
}

fbs::Offset<fb::Tokenizer> encode_tokenizer(fbs::FlatBufferBuilder& b, const TokenizerData& t) {
  std::vector<uint8_t> bytes;
  std::vector<uint32_t> offsets;
  offsets.reserve(t.pieces.size() + 1);
  offsets.push_back(0);
  for (const std::string& p : t.pieces) {
    if (p.size() > UINT32_MAX - bytes.size())
      fail(MMB_ERR_INVALID_ARGUMENT, "tokenizer pieces exceed the 4 GiB that u32 piece_offsets address");
    bytes.insert(bytes.end(), p.begin(), p.end());
    offsets.push_back(uint32_t(bytes.size()));
  }
  std::vector<int32_t> merges;
  merges.reserve(2 * t.merges.size());
  for (const auto& [left, right] : t.merges) {
    merges.push_back(left);
    merges.push_back(right);
  }
  auto literal = [&](const SpecialToken& s) {
    return fb::CreateSpecialToken(b, s.id, b.CreateString(s.text), s.lstrip, s.rstrip, s.single_word, s.normalized);
  };
  // Optional strings and vectors stay absent when empty, so a bundle without a
  // pipeline is byte for byte what older writers made.
  auto string_or_absent = [&](const std::string& s) { return s.empty() ? fbs::Offset<fbs::String>() : b.CreateString(s); };
  auto ids_or_absent = [&](const std::vector<int32_t>& ids) { return ids.empty() ? fbs::Offset<fbs::Vector<int32_t>>() : b.CreateVector(ids); };
  constexpr std::string_view kMetaspace = "\xE2\x96\x81";
  auto replacement_or_absent = [&](const std::string& s) { return s == kMetaspace ? fbs::Offset<fbs::String>() : b.CreateString(s); };

  auto tables_or_absent = [&](const auto& tables) { return tables.empty() ? 0 : b.CreateVector(tables); };

  const auto normalizers = write_each(t.normalizers, [&](const NormalizerStep& n) {
    return fb::CreateNormalizerStep(b, fb::NormalizerKind(uint8_t(n.kind)), string_or_absent(n.pattern), n.pattern_is_regex,
                                    string_or_absent(n.content), n.left, n.right);
  });
  const auto pre_tokenizers = write_each(t.pre_tokenizers, [&](const PreTokenizerStep& p) {
    return fb::CreatePreTokenizerStep(
        b, fb::PreTokenizerKind(uint8_t(p.kind)), string_or_absent(p.pattern), p.pattern_is_regex,
        fb::SplitBehavior(uint8_t(p.behavior)), p.invert, p.add_prefix_space, p.use_regex, replacement_or_absent(p.replacement),
        fb::PrependScheme(uint8_t(p.prepend_scheme)), p.split, p.individual_digits);
  });
  const auto decoders = write_each(t.decoders, [&](const DecoderStep& d) {
    return fb::CreateDecoderStep(b, fb::DecoderKind(uint8_t(d.kind)), string_or_absent(d.pattern), string_or_absent(d.content),
                                 d.start, d.stop, replacement_or_absent(d.replacement),
                                 fb::PrependScheme(uint8_t(d.prepend_scheme)));
  });
  const auto templates = write_each(t.chat_templates, [&](const ChatTemplateText& c) {
    return fb::CreateChatTemplate(b, b.CreateString(c.name), b.CreateString(c.text));
  });

  auto specials_vector = b.CreateVector(write_each(t.specials, literal));
  auto added_vector = b.CreateVector(write_each(t.added, literal));
  auto bytes_vector = b.CreateVector(bytes);
  auto offsets_vector = b.CreateVector(offsets);
  auto merges_vector = b.CreateVector(merges);
  auto normalizers_vector = tables_or_absent(normalizers);
  auto pre_tokenizers_vector = tables_or_absent(pre_tokenizers);
  auto decoders_vector = tables_or_absent(decoders);
  auto templates_vector = tables_or_absent(templates);
  auto prefix_string = string_or_absent(t.continuing_subword_prefix);
  auto suffix_string = string_or_absent(t.end_of_word_suffix);
  auto post_prefix = ids_or_absent(t.post_prefix);
  auto post_suffix = ids_or_absent(t.post_suffix);
  auto stop_ids = ids_or_absent(t.stop_ids);

  fb::TokenizerBuilder tb(b);
  tb.add_kind(fb::TokenizerKind(uint8_t(t.kind)));
  tb.add_pre_tokenizer(fb::PreTokenizer(uint8_t(t.pre_tokenizer)));
  tb.add_piece_bytes(bytes_vector);
  tb.add_piece_offsets(offsets_vector);
  tb.add_merges(merges_vector);
  tb.add_specials(specials_vector);
  tb.add_bos_id(t.bos_id);
  tb.add_eos_id(t.eos_id);
  tb.add_pad_id(t.pad_id);
  tb.add_unk_id(t.unk_id);
  tb.add_add_bos(t.add_bos);
  tb.add_normalizer(fb::Normalizer(uint8_t(t.normalizer)));
  tb.add_added(added_vector);
  tb.add_normalizers(normalizers_vector);
  tb.add_pre_tokenizers(pre_tokenizers_vector);
  tb.add_decoders(decoders_vector);
  tb.add_byte_fallback(t.byte_fallback);
  tb.add_fuse_unk(t.fuse_unk);
  tb.add_ignore_merges(t.ignore_merges);
  tb.add_continuing_subword_prefix(prefix_string);
  tb.add_end_of_word_suffix(suffix_string);
  tb.add_post_prefix(post_prefix);
  tb.add_post_suffix(post_suffix);
  tb.add_stop_ids(stop_ids);
  tb.add_chat_templates(templates_vector);
  return tb.Finish();
}

// ---- decoding ----

std::string to_string(const fbs::String* s) { return s ? std::string(s->c_str(), s->size()) : std::string(); }

// Each table of a stored list, converted by read(table); none when the list is absent.
template <class Table, class Read>
auto read_each(const fbs::Vector<fbs::Offset<Table>>* tables, Read read) {
  std::vector<std::invoke_result_t<Read, const Table*>> out;
  if (!tables) return out;
  out.reserve(tables->size());
  for (const Table* t : *tables) out.push_back(read(t));
  return out;
}

FeedForwardConfig decode_feed_forward(const fb::FeedForward* f) {
  FeedForwardConfig ff;
  ff.d_ff = f->d_ff();
  ff.act = ExpertAct(uint8_t(f->act()));
  ff.bias = f->bias();
  return ff;
}

[[noreturn]] void missing_layer_table(size_t layer, fb::LayerKind kind, const char* what) {
  fail(MMB_ERR_FORMAT, "manifest: config layers[", layer, "] of kind ", fb::EnumNameLayerKind(kind), " has no ", what,
       " table");
}

std::optional<ProjectionExperts> decode_projection(const fb::ProjectionExperts* t) {
  if (!t) return std::nullopt;
  ProjectionExperts e;
  e.n_experts = t->n_experts();
  e.top_k = t->top_k();
  e.router = RouterAct(uint8_t(t->router()));
  e.router_bias = t->router_bias();
  e.sel_bias = t->sel_bias();
  e.renorm = t->renorm();
  e.routed_scale = t->routed_scale();
  e.bias = t->bias();
  return e;
}

MambaConfig decode_mamba(const fb::MambaLayer* t) {
  MambaConfig m;
  m.d_inner = t->d_inner();
  m.d_state = t->d_state();
  m.d_conv = t->d_conv();
  m.dt_rank = t->dt_rank();
  m.in_proj_bias = t->in_proj_bias();
  m.conv_bias = t->conv_bias();
  m.out_proj_bias = t->out_proj_bias();
  m.x_proj_experts = decode_projection(t->x_proj_experts());
  m.z_proj_experts = decode_projection(t->z_proj_experts());
  m.out_proj_experts = decode_projection(t->out_proj_experts());
  m.dt_bc_norm = InnerNorm(uint8_t(t->dt_bc_norm()));
  m.dt_bc_norm_eps = t->dt_bc_norm_eps();
  return m;
}

Mamba2Config decode_mamba2(const fb::Mamba2Layer* t) {
  Mamba2Config m;
  m.d_inner = t->d_inner();
  m.d_state = t->d_state();
  m.d_conv = t->d_conv();
  m.n_heads = t->n_heads();
  m.n_groups = t->n_groups();
  m.norm_group_size = t->norm_group_size();
  m.gated_norm = t->gated_norm();
  m.norm_eps = t->norm_eps();
  m.in_proj_bias = t->in_proj_bias();
  m.conv_bias = t->conv_bias();
  m.out_proj_bias = t->out_proj_bias();
  m.d_per_channel = t->d_per_channel();
  m.dt_min = t->dt_min();
  m.dt_max = t->dt_max();
  return m;
}

AttentionConfig decode_attention(const fb::AttentionLayer* t) {
  AttentionConfig a;
  a.n_heads = t->n_heads();
  a.n_kv_heads = t->n_kv_heads();
  a.head_dim = t->head_dim();
  a.rotary_dim = t->rotary_dim();
  a.rope_theta = t->rope_theta();
  a.scale = t->scale();
  a.qkv_bias = t->qkv_bias();
  a.out_bias = t->out_bias();
  return a;
}

MoEConfig decode_moe(const fb::MoELayer* t, size_t layer, fb::LayerKind kind) {
  if (!t->expert()) missing_layer_table(layer, kind, "moe.expert");
  MoEConfig moe;
  moe.n_experts = t->n_experts();
  moe.top_k = t->top_k();
  moe.expert = decode_feed_forward(t->expert());
  moe.router = RouterAct(uint8_t(t->router()));
  moe.router_bias = t->router_bias();
  moe.sel_bias = t->sel_bias();
  moe.renorm = t->renorm();
  moe.routed_scale = t->routed_scale();
  moe.n_shared = t->n_shared();
  moe.n_groups = t->n_groups();
  moe.topk_groups = t->topk_groups();
  if (moe.n_shared) {
    if (!t->shared()) missing_layer_table(layer, kind, "moe.shared");
    moe.shared = decode_feed_forward(t->shared());
  }
  moe.normalize_expert_output = t->normalize_expert_output();
  return moe;
}

ModelConfig decode_config(const fb::Config* c) {
  ModelConfig m;
  m.d_model = c->d_model();
  m.vocab_size = c->vocab_size();
  m.norm = NormKind(uint8_t(c->norm()));
  m.final_norm = NormKind(uint8_t(c->final_norm()));
  m.norm_eps = c->norm_eps();
  m.tie_embeddings = c->tie_embeddings();
  m.embedding_scale = c->embedding_scale();
  m.residual_scale = c->residual_scale();
  m.logits_divisor = c->logits_divisor();
  m.context_length = c->context_length();
  const auto* layers = c->layers();
  if (!layers) return m;  // validate_config reports the missing layers
  m.layers.resize(layers->size());
  for (fbs::uoffset_t i = 0; i < layers->size(); ++i) {
    const fb::Layer* l = layers->Get(i);
    LayerConfig& out = m.layers[i];
    out.kind = LayerKind(uint8_t(l->kind()));
    const bool mamba = l->kind() == fb::LayerKind::Mamba || l->kind() == fb::LayerKind::Parallel;
    const bool moe = l->kind() == fb::LayerKind::MoE || l->kind() == fb::LayerKind::Parallel;
    if (mamba) {
      if (!l->mamba()) missing_layer_table(i, l->kind(), "mamba");
      out.mamba = decode_mamba(l->mamba());
    }
    if (moe) {
      if (!l->moe()) missing_layer_table(i, l->kind(), "moe");
      out.moe = decode_moe(l->moe(), i, l->kind());
    }
    if (l->kind() == fb::LayerKind::MLP) {
      if (!l->mlp()) missing_layer_table(i, l->kind(), "mlp");
      out.mlp = decode_feed_forward(l->mlp());
    }
    if (l->kind() == fb::LayerKind::Mamba2) {
      if (!l->mamba2()) missing_layer_table(i, l->kind(), "mamba2");
      out.mamba2 = decode_mamba2(l->mamba2());
    }
    if (l->kind() == fb::LayerKind::Attention) {
      if (!l->attention()) missing_layer_table(i, l->kind(), "attention");
      out.attention = decode_attention(l->attention());
    }
    out.shared_norm = l->shared_norm();
    // validate_config reports an unknown kind
  }
  return m;
}

TokenizerData decode_tokenizer(const fb::Tokenizer* t) {
  TokenizerData out;
  out.kind = TokenizerKind(uint8_t(t->kind()));
  out.pre_tokenizer = PreTokenizer(uint8_t(t->pre_tokenizer()));
  const auto* bytes = t->piece_bytes();
  const auto* offsets = t->piece_offsets();
  const uint64_t n_bytes = bytes ? bytes->size() : 0;
  if (offsets && offsets->size() > 0) {
    if (offsets->Get(0) != 0) fail(MMB_ERR_FORMAT, "manifest: tokenizer piece_offsets[0] = ", offsets->Get(0), ", not 0");
    const fbs::uoffset_t n = offsets->size() - 1;
    for (fbs::uoffset_t i = 0; i < n; ++i)
      if (offsets->Get(i + 1) < offsets->Get(i))
        fail(MMB_ERR_FORMAT, "manifest: tokenizer piece_offsets[", i + 1, "] = ", offsets->Get(i + 1),
             " is below piece_offsets[", i, "] = ", offsets->Get(i));
    if (offsets->Get(n) != n_bytes)
      fail(MMB_ERR_FORMAT, "manifest: tokenizer piece_offsets end at ", offsets->Get(n), " but piece_bytes holds ",
           n_bytes, " bytes");
    out.pieces.resize(n);
    for (fbs::uoffset_t i = 0; i < n; ++i)
      out.pieces[i].assign(reinterpret_cast<const char*>(bytes->data()) + offsets->Get(i),
                           offsets->Get(i + 1) - offsets->Get(i));
  } else if (n_bytes) {
    fail(MMB_ERR_FORMAT, "manifest: tokenizer has piece_bytes but no piece_offsets");
  }
  if (const auto* merges = t->merges()) {
    if (merges->size() % 2) fail(MMB_ERR_FORMAT, "manifest: tokenizer merges has an odd count ", merges->size());
    out.merges.resize(merges->size() / 2);
    for (fbs::uoffset_t r = 0; r < out.merges.size(); ++r) out.merges[r] = {merges->Get(2 * r), merges->Get(2 * r + 1)};
  }
  auto literal = [](const fb::SpecialToken* s) {
    return SpecialToken{s->id(), to_string(s->text()), s->lstrip(), s->rstrip(), s->single_word(), s->normalized()};
  };
  out.specials = read_each(t->specials(), literal);
  out.added = read_each(t->added(), literal);
  out.bos_id = t->bos_id();
  out.eos_id = t->eos_id();
  out.pad_id = t->pad_id();
  out.unk_id = t->unk_id();
  out.add_bos = t->add_bos();
  out.normalizer = Normalizer(uint8_t(t->normalizer()));

  // Enum values are copied as stored: the tokenizer's validation names unknown ones.
  auto replacement = [](const fbs::String* s) { return s ? to_string(s) : std::string("\xE2\x96\x81"); };
  out.normalizers = read_each(t->normalizers(), [](const fb::NormalizerStep* n) {
    return NormalizerStep{NormalizerKind(uint8_t(n->kind())), to_string(n->pattern()), n->pattern_is_regex(),
                          to_string(n->content()), n->left(), n->right()};
  });
  out.pre_tokenizers = read_each(t->pre_tokenizers(), [&](const fb::PreTokenizerStep* p) {
    PreTokenizerStep step;
    step.kind = PreTokenizerKind(uint8_t(p->kind()));
    step.pattern = to_string(p->pattern());
    step.pattern_is_regex = p->pattern_is_regex();
    step.behavior = SplitBehavior(uint8_t(p->behavior()));
    step.invert = p->invert();
    step.add_prefix_space = p->add_prefix_space();
    step.use_regex = p->use_regex();
    step.replacement = replacement(p->replacement());
    step.prepend_scheme = PrependScheme(uint8_t(p->prepend_scheme()));
    step.split = p->split();
    step.individual_digits = p->individual_digits();
    return step;
  });
  out.decoders = read_each(t->decoders(), [&](const fb::DecoderStep* d) {
    DecoderStep step;
    step.kind = DecoderKind(uint8_t(d->kind()));
    step.pattern = to_string(d->pattern());
    step.content = to_string(d->content());
    step.start = d->start();
    step.stop = d->stop();
    step.replacement = replacement(d->replacement());
    step.prepend_scheme = PrependScheme(uint8_t(d->prepend_scheme()));
    return step;
  });
  out.byte_fallback = t->byte_fallback();
  out.fuse_unk = t->fuse_unk();
  out.ignore_merges = t->ignore_merges();
  out.continuing_subword_prefix = to_string(t->continuing_subword_prefix());
  out.end_of_word_suffix = to_string(t->end_of_word_suffix());
  auto ids = [](const fbs::Vector<int32_t>* v) { return v ? std::vector<int32_t>(v->begin(), v->end()) : std::vector<int32_t>(); };
  out.post_prefix = ids(t->post_prefix());
  out.post_suffix = ids(t->post_suffix());
  out.stop_ids = ids(t->stop_ids());
  out.chat_templates = read_each(t->chat_templates(), [](const fb::ChatTemplate* c) {
    return ChatTemplateText{to_string(c->name()), to_string(c->text())};
  });
  return out;
}

TensorView decode_tensor_record(const fb::Tensor* t) {
  TensorView v;
  v.name = to_string(t->name());
  const uint8_t dtype = uint8_t(t->dtype());
  if (!dtype_known(dtype)) fail(MMB_ERR_UNSUPPORTED, "tensor '", v.name, "': unknown dtype ", int(dtype));
  v.dtype = DType(dtype);
  const uint8_t codec = uint8_t(t->codec());
  if (codec > uint8_t(Codec::ShuffleZstd)) fail(MMB_ERR_UNSUPPORTED, "tensor '", v.name, "': unknown codec ", int(codec));
  v.codec = Codec(codec);
  if (const auto* shape = t->shape()) {
    if (shape->size() > kMaxTensorRank)
      fail(MMB_ERR_FORMAT, "tensor '", v.name, "': rank ", shape->size(), " exceeds the maximum ", kMaxTensorRank);
    v.shape.assign(shape->begin(), shape->end());
  }
  v.offset = t->offset();
  v.stored_size = t->stored_size();
  v.raw_size = t->raw_size();
  v.xxh64 = t->xxh64();
  return v;
}

}  // namespace

std::vector<std::byte> encode_manifest(const ModelConfig& config, const TokenizerData& tokenizer,
                                       const Metadata& metadata, const std::vector<TensorView>& tensors) {
  fbs::FlatBufferBuilder b(4096);
  auto config_table = encode_config(b, config);
  auto tokenizer_table = encode_tokenizer(b, tokenizer);
  std::vector<fbs::Offset<fb::MetaEntry>> entries;
  entries.reserve(metadata.size());
  for (const auto& [key, value] : metadata)
    entries.push_back(fb::CreateMetaEntry(b, b.CreateString(key), b.CreateString(value)));
  auto metadata_vector = b.CreateVector(entries);
  std::vector<fbs::Offset<fb::Tensor>> records;
  records.reserve(tensors.size());
  for (const TensorView& t : tensors)
    records.push_back(fb::CreateTensor(b, b.CreateString(t.name), fb::DType(uint8_t(t.dtype)), b.CreateVector(t.shape),
                                       t.offset, t.stored_size, t.raw_size, fb::Codec(uint8_t(t.codec)), t.xxh64));
  auto tensor_vector = b.CreateVector(records);
  fb::FinishBundleBuffer(b, fb::CreateBundle(b, config_table, tokenizer_table, metadata_vector, tensor_vector));
  const auto* p = reinterpret_cast<const std::byte*>(b.GetBufferPointer());
  return std::vector<std::byte>(p, p + b.GetSize());
}

Manifest decode_manifest(std::span<const std::byte> bytes) {
  if (bytes.size() > kMaxManifestRawSize)
    fail(MMB_ERR_FORMAT, "manifest: ", bytes.size(), " bytes exceed the limit of ", kMaxManifestRawSize);
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  if (bytes.size() < 8 || !fb::BundleBufferHasIdentifier(data))
    fail(MMB_ERR_FORMAT, "manifest: file identifier is not \"", fb::BundleIdentifier(), "\"");
  fbs::Verifier::Options options;
  options.max_depth = 64;
  options.max_tables = 1u << 26;
  fbs::Verifier verifier(data, bytes.size(), options);
  if (!fb::VerifyBundleBuffer(verifier))
    fail(MMB_ERR_FORMAT, "manifest: FlatBuffers verification failed (", bytes.size(), " bytes)");
  const fb::Bundle* b = fb::GetBundle(data);
  Manifest m;
  m.config = decode_config(b->config());
  if (!b->tokenizer()) fail(MMB_ERR_FORMAT, "manifest: no tokenizer table");
  m.tokenizer = decode_tokenizer(b->tokenizer());
  if (const auto* metadata = b->metadata()) {
    m.metadata.reserve(metadata->size());
    for (fbs::uoffset_t i = 0; i < metadata->size(); ++i) {
      const fb::MetaEntry* e = metadata->Get(i);
      if (!e->key() || !e->value()) fail(MMB_ERR_FORMAT, "manifest: metadata[", i, "] lacks its key or value");
      m.metadata.emplace_back(to_string(e->key()), to_string(e->value()));
    }
  }
  if (const auto* tensors = b->tensors()) {
    m.tensors.reserve(tensors->size());
    for (fbs::uoffset_t i = 0; i < tensors->size(); ++i) m.tensors.push_back(decode_tensor_record(tensors->Get(i)));
  }
  return m;
}

void check_tokenizer(const TokenizerData& t, uint32_t vocab_size, mmb_status status) {
  if (uint8_t(t.kind) > uint8_t(TokenizerKind::CharBPE))
    fail(MMB_ERR_UNSUPPORTED, "tokenizer: unknown kind ", int(t.kind));
  if (uint8_t(t.pre_tokenizer) > uint8_t(PreTokenizer::None))
    fail(MMB_ERR_UNSUPPORTED, "tokenizer: unknown pre_tokenizer ", int(t.pre_tokenizer));
  if (uint8_t(t.normalizer) > uint8_t(Normalizer::NFC))
    fail(MMB_ERR_UNSUPPORTED, "tokenizer: unknown normalizer ", int(t.normalizer));
  if (t.pieces.empty()) fail(status, "tokenizer: no pieces");
  if (t.pieces.size() > vocab_size)
    fail(status, "tokenizer: ", t.pieces.size(), " pieces exceed the config's vocab_size ", vocab_size);
  const int64_t n_pieces = int64_t(t.pieces.size());
  for (size_t r = 0; r < t.merges.size(); ++r) {
    const auto [left, right] = t.merges[r];
    if (left < 0 || left >= n_pieces || right < 0 || right >= n_pieces)
      fail(status, "tokenizer: merge ", r, " joins ids ", left, " and ", right, ", outside [0, ", n_pieces, ")");
  }
  for (const auto& [what, tokens] : {std::pair{"special", &t.specials}, std::pair{"added", &t.added}})
    for (const SpecialToken& s : *tokens)
      if (s.id < 0 || uint32_t(s.id) >= vocab_size)
        fail(status, "tokenizer: ", what, " token '", s.text, "' has id ", s.id, ", outside [0, ", vocab_size, ")");
  const std::pair<const char*, int32_t> ids[] = {{"bos_id", t.bos_id}, {"eos_id", t.eos_id}, {"pad_id", t.pad_id},
                                                 {"unk_id", t.unk_id}};
  for (const auto& [field, id] : ids)
    if (id < -1 || (id >= 0 && uint32_t(id) >= vocab_size))
      fail(status, "tokenizer: ", field, " = ", id, " is outside [-1, ", vocab_size, ")");
  for (const auto& [what, list] : {std::pair{"post_prefix", &t.post_prefix}, std::pair{"post_suffix", &t.post_suffix},
                                   std::pair{"stop_ids", &t.stop_ids}})
    for (int32_t id : *list)
      if (id < 0 || uint32_t(id) >= vocab_size) fail(status, "tokenizer: ", what, " holds ", id, ", outside [0, ", vocab_size, ")");
}

void check_metadata(const Metadata& metadata, mmb_status status) {
  std::unordered_set<std::string_view> keys;
  for (size_t i = 0; i < metadata.size(); ++i) {
    const std::string& key = metadata[i].first;
    if (key.empty()) fail(status, "metadata[", i, "] has an empty key");
    if (!keys.insert(key).second) fail(status, "metadata key '", key, "' appears twice");
  }
}

}  // namespace mmb
