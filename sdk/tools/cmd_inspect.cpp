// `mmb inspect BUNDLE`: what a bundle holds, read without touching its tensor data.
#include "command.hpp"
#include "human_units.hpp"

#include "base/error.hpp"
#include "bundle/bundle_reader.hpp"
#include "bundle/tensor_table.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace mmb::cli {

namespace {

const char* norm_name(NormKind k) {
  switch (k) {
    case NormKind::None: return "none";
    case NormKind::RMS: return "rms";
    case NormKind::Layer: return "layer";
  }
  return "?";
}

const char* act_name(ExpertAct a) {
  static const char* const names[] = {"relu", "gelu", "gelu_tanh", "silu", "swiglu", "geglu", "relu2"};
  return uint8_t(a) < 7 ? names[uint8_t(a)] : "?";
}

const char* router_name(RouterAct r) {
  static const char* const names[] = {"softmax", "sigmoid", "relu"};
  return uint8_t(r) < 3 ? names[uint8_t(r)] : "?";
}

std::string feed_forward(const FeedForwardConfig& f) {
  return cat(act_name(f.act), " d_ff ", f.d_ff, f.bias ? " +bias" : "");
}

std::string projection(const char* name, const std::optional<ProjectionExperts>& e) {
  if (!e) return "";
  std::string s = cat(", ", name, " ", e->n_experts, " experts top ", e->top_k, " (router ", router_name(e->router),
                      e->router_bias ? " +bias" : "", e->sel_bias ? " +sel_bias" : "", e->renorm ? ", renorm" : "");
  if (e->routed_scale != 1.0f) s += cat(", scale ", e->routed_scale);
  return s + (e->bias ? ", expert bias)" : ")");
}

std::string describe_mamba(const MambaConfig& m) {
  return cat("d_inner ", m.d_inner, ", d_state ", m.d_state, ", d_conv ", m.d_conv, ", dt_rank ", m.dt_rank,
             m.in_proj_bias ? ", in_proj bias" : "", m.conv_bias ? ", conv bias" : "",
             m.out_proj_bias ? ", out_proj bias" : "",
             m.dt_bc_norm == InnerNorm::None ? ""
             : m.dt_bc_norm == InnerNorm::RMS ? cat(", dt/B/C rms (eps ", m.dt_bc_norm_eps, ")")
                                              : cat(", dt/B/C weighted rms (eps ", m.dt_bc_norm_eps, ")"),
             projection("x_proj_in", m.x_proj_experts),
             projection("z_proj_in", m.z_proj_experts), projection("out_proj", m.out_proj_experts));
}

std::string describe_mamba2(const Mamba2Config& m) {
  std::string s = cat("d_inner ", m.d_inner, ", d_state ", m.d_state, ", d_conv ", m.d_conv, ", ", m.n_heads, " heads of ",
                      m.head_dim(), ", ", m.n_groups, m.n_groups == 1 ? " group" : " groups");
  if (m.gated_norm) s += cat(", gated norm over ", m.norm_group(), " channels (eps ", m.norm_eps, ")");
  else s += ", gate without norm";
  if (m.dt_min > 0.0f || std::isfinite(m.dt_max)) s += cat(", dt in [", m.dt_min, ", ", m.dt_max, "]");
  return s + (m.d_per_channel ? ", D per channel" : "") + (m.in_proj_bias ? ", in_proj bias" : "") +
         (m.conv_bias ? ", conv bias" : "") + (m.out_proj_bias ? ", out_proj bias" : "");
}

std::string describe_attention(const AttentionConfig& a) {
  std::string s = cat(a.n_heads, " query heads, ", a.n_kv_heads, " kv heads of ", a.head_dim);
  if (a.rotary_dim) s += cat(", rope on ", a.rotary_dim, " dims (theta ", a.rope_theta, ")");
  else s += ", no rope";
  if (a.scale > 0.0f) s += cat(", scale ", a.scale);
  return s + (a.qkv_bias ? ", qkv bias" : "") + (a.out_bias ? ", o bias" : "");
}

std::string describe_moe(const MoEConfig& m) {
  std::string s = cat(m.n_experts, " experts (", feed_forward(m.expert), "), top ", m.top_k, ", router ",
                      router_name(m.router), m.router_bias ? " +bias" : "", m.sel_bias ? " +sel_bias" : "",
                      m.renorm ? ", renorm" : "");
  if (m.routed_scale != 1.0f) s += cat(", scale ", m.routed_scale);
  if (m.n_shared) s += cat(", ", m.n_shared, " shared (", feed_forward(m.shared), ")");
  if (m.normalize_expert_output) s += ", normalized outputs";
  if (m.n_groups > 1) s += cat(", best ", m.topk_groups, " of ", m.n_groups, " groups");
  return s;
}

std::string describe(const LayerConfig& l) {
  switch (l.kind) {
    case LayerKind::Mamba: return "mamba  " + describe_mamba(l.mamba);
    case LayerKind::MoE: return "moe    " + describe_moe(l.moe);
    case LayerKind::MLP: return cat("mlp    ", feed_forward(l.mlp));
    case LayerKind::Mamba2: return "mamba2 " + describe_mamba2(l.mamba2);
    case LayerKind::Attention: return "attn   " + describe_attention(l.attention);
    case LayerKind::Parallel:
      return cat("parallel (", l.shared_norm ? "shared norm" : "own norms", ") mamba ", describe_mamba(l.mamba), "; moe ",
                 describe_moe(l.moe));
  }
  return "?";
}

std::string ratio(uint64_t raw, uint64_t stored) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2fx", stored ? double(raw) / double(stored) : 0.0);
  return buf;
}

int run(const std::vector<std::string>& argv) {
  std::vector<std::string> args = argv;
  const auto summary_flag = std::find(args.begin(), args.end(), "--summary");
  const bool summary = summary_flag != args.end();
  if (summary) args.erase(summary_flag);
  if (args.size() != 1 || args[0] == "--help" || args[0] == "-h") {
    std::printf("usage: mmb inspect [--summary] BUNDLE\n\nPrints the config and layer plan, tokenizer, metadata, parameter counts and\n"
                "tensor table of a bundle (--summary: all but the tensor table). The structure is fully verified;\n"
                "tensor data is not read.\n");
    return args.size() == 1 ? 0 : 2;
  }
  const std::string& path = args[0];
  static const HostAllocator allocator;
  ReadOptions options;
  options.load_tensor_data = false;
  auto b = LoadedBundle::load(open_file_source(path), options, allocator);
  const ModelConfig& c = b->config();

  std::printf("bundle     %s\n", path.c_str());
  std::printf("           %s, format %u, manifest %s (%s, %s raw)\n", human_bytes(b->file_size()).c_str(),
              b->format_version(), human_bytes(b->manifest_stored_size()).c_str(),
              b->manifest_codec() == ManifestCodec::Zstd ? "zstd" : "uncompressed",
              human_bytes(b->manifest_raw_size()).c_str());
  std::printf("config     d_model %u, vocab %u, norm %s, final norm %s, eps %g, embeddings %s\n", c.d_model,
              c.vocab_size, norm_name(c.norm), norm_name(c.final_norm), double(c.norm_eps),
              c.tie_embeddings ? "tied" : "untied (lm_head)");
  if (c.embedding_scale != 1.0f || c.residual_scale != 1.0f || c.logits_divisor != 1.0f)
    std::printf("scales     embedding x%g, residual x%g, logits / %g\n", double(c.embedding_scale),
                double(c.residual_scale), double(c.logits_divisor));
  if (c.has_attention())
    std::printf("context    %u tokens by default; KV cache %llu values per token\n", c.default_context(),
                (unsigned long long)kv_elements_per_token(c));
  std::printf("layers     %zu\n", c.layers.size());
  for (size_t i = 0; i < c.layers.size(); ++i) std::printf("  %4zu  %s\n", i, describe(c.layers[i]).c_str());

  const TokenizerData& t = b->tokenizer();
  std::printf("tokenizer  %s, normalizer %s, pre-tokenizer %s, %zu pieces, %zu merges, %zu special and %zu added "
              "tokens; bos %d, eos %d, pad %d, unk %d%s\n",
              t.kind == TokenizerKind::Bytes ? "bytes" : t.kind == TokenizerKind::CharBPE ? "char BPE" : "byte-level BPE",
              t.normalizer == Normalizer::NFC ? "nfc" : "none", t.pre_tokenizer == PreTokenizer::GPT2 ? "gpt2" : "none",
              t.pieces.size(), t.merges.size(),
              t.specials.size(), t.added.size(), t.bos_id, t.eos_id, t.pad_id, t.unk_id, t.add_bos ? ", adds bos" : "");
  for (const SpecialToken& s : t.specials) std::printf("             special %d = %s\n", s.id, s.text.c_str());
  // The pipeline of tokenizer.json, when the bundle has one.
  auto ids = [](const std::vector<int32_t>& list) {
    std::string s;
    for (int32_t id : list) s += (s.empty() ? "" : " ") + std::to_string(id);
    return "[" + s + "]";
  };
  if (!t.normalizers.empty() || !t.pre_tokenizers.empty() || !t.decoders.empty() || !t.post_prefix.empty() ||
      !t.post_suffix.empty() || t.byte_fallback)
    std::printf("             %zu normalizer, %zu pre-tokenizer and %zu decoder steps%s; special tokens added: %s text %s\n",
                t.normalizers.size(), t.pre_tokenizers.size(), t.decoders.size(), t.byte_fallback ? ", byte fallback" : "",
                ids(t.post_prefix).c_str(), ids(t.post_suffix).c_str());
  if (!t.stop_ids.empty()) std::printf("             stop ids %s\n", ids(t.stop_ids).c_str());
  for (const ChatTemplateText& c : t.chat_templates)
    std::printf("             chat template \"%s\" (%zu bytes)\n", c.name.c_str(), c.text.size());
  if (b->metadata().empty()) std::printf("metadata   (none)\n");
  for (size_t i = 0; i < b->metadata().size(); ++i)
    std::printf("%s%s = %s\n", i ? "           " : "metadata   ", b->metadata()[i].first.c_str(),
                b->metadata()[i].second.c_str());
  std::printf("params     %s total, %s active per token\n", human_count(params_total(c)).c_str(),
              human_count(params_active(c)).c_str());
  if (summary) return 0;

  size_t name_width = 4;
  for (const TensorView& v : b->tensors()) name_width = std::max(name_width, v.name.size());
  std::printf("\ntensors    %zu\n", b->tensors().size());
  std::printf("  %-*s  %-5s  %-16s  %-12s  %10s  %10s  %6s\n", int(name_width), "name", "dtype", "shape", "codec",
              "stored", "raw", "ratio");
  uint64_t stored = 0, raw = 0;
  for (const TensorView& v : b->tensors()) {
    std::printf("  %-*s  %-5s  %-16s  %-12s  %10s  %10s  %6s\n", int(name_width), v.name.c_str(),
                std::string(dtype_name(v.dtype)).c_str(), shape_string(v.shape).c_str(),
                std::string(codec_name(v.codec)).c_str(), human_bytes(v.stored_size).c_str(),
                human_bytes(v.raw_size).c_str(), ratio(v.raw_size, v.stored_size).c_str());
    stored += v.stored_size;
    raw += v.raw_size;
  }
  std::printf("  %-*s  %-5s  %-16s  %-12s  %10s  %10s  %6s\n", int(name_width), "total", "", "", "",
              human_bytes(stored).c_str(), human_bytes(raw).c_str(), ratio(raw, stored).c_str());
  return 0;
}

const RegisterCommand reg("inspect", "print a bundle's config, tokenizer, metadata and tensor table", run);

}  // namespace

}  // namespace mmb::cli
