#include "native_config.hpp"

#include "base/error.hpp"
#include "json_fields.hpp"

#include <cfloat>
#include <cmath>
#include <charconv>
#include <cstdint>
#include <optional>

namespace mmb {

using nlohmann::json;

namespace {

// Names in enum order, so a choice() index converts straight to the enum.
constexpr std::string_view kLayerNames[] = {"mamba", "moe", "mlp", "parallel", "mamba2", "attention"};
constexpr std::string_view kInnerNormNames[] = {"none", "rms", "rms_weighted"};
constexpr std::string_view kExpertNames[] = {"relu", "gelu", "gelu_tanh", "silu", "swiglu", "geglu", "relu2"};
constexpr std::string_view kRouterNames[] = {"softmax", "sigmoid", "relu"};
constexpr std::string_view kNormNames[] = {"none", "rms", "layer"};
constexpr std::string_view kBlockNormNames[] = {"rms", "layer"};  // NormKind - 1: blocks always have a norm

constexpr uint64_t kU32 = UINT32_MAX;

uint32_t auto_dt_rank(uint32_t d_model) { return (d_model + 15) / 16; }

uint32_t u32(JsonFields& f, const char* key) { return uint32_t(f.integer(key, 0, kU32)); }
uint32_t u32(JsonFields& f, const char* key, uint32_t fallback) { return uint32_t(f.integer(key, 0, kU32, fallback)); }

ExpertAct expert_act(JsonFields& f, const char* key) { return ExpertAct(f.choice(key, kExpertNames)); }

std::optional<ProjectionExperts> parse_projection(JsonFields& parent, const char* key) {
  if (!parent.has(key)) return std::nullopt;
  JsonFields f(parent.value(key), parent.field(key));
  ProjectionExperts e;
  e.n_experts = u32(f, "n_experts");
  e.top_k = u32(f, "top_k", e.top_k);
  e.router = RouterAct(f.choice("router", kRouterNames, size_t(e.router)));
  e.router_bias = f.boolean("router_bias", e.router_bias);
  e.sel_bias = f.boolean("sel_bias", e.sel_bias);
  e.renorm = f.boolean("renorm", e.renorm);
  e.routed_scale = float(f.number("routed_scale", -FLT_MAX, FLT_MAX, e.routed_scale));
  e.bias = f.boolean("bias", e.bias);
  f.reject_unknown();
  return e;
}

MambaConfig parse_mamba(JsonFields& f, uint32_t d_model) {
  MambaConfig m;
  m.d_inner = u32(f, "d_inner", 2 * d_model);
  m.d_state = u32(f, "d_state", m.d_state);
  m.d_conv = u32(f, "d_conv", m.d_conv);
  m.dt_rank = auto_dt_rank(d_model);
  if (f.has("dt_rank") && !(f.value("dt_rank").is_string() && f.string("dt_rank") == "auto")) m.dt_rank = u32(f, "dt_rank");
  m.in_proj_bias = f.boolean("in_proj_bias", m.in_proj_bias);
  m.conv_bias = f.boolean("conv_bias", m.conv_bias);
  m.out_proj_bias = f.boolean("out_proj_bias", m.out_proj_bias);
  m.x_proj_experts = parse_projection(f, "x_proj_experts");
  m.z_proj_experts = parse_projection(f, "z_proj_experts");
  m.out_proj_experts = parse_projection(f, "out_proj_experts");
  m.dt_bc_norm = InnerNorm(f.choice("dt_bc_norm", kInnerNormNames, size_t(m.dt_bc_norm)));
  m.dt_bc_norm_eps = float(f.number("dt_bc_norm_eps", 0.0, 1.0, m.dt_bc_norm_eps));
  return m;
}

// dt_max: a number, or absent / null for no upper limit (JSON has no infinity).
Mamba2Config parse_mamba2(JsonFields& f, uint32_t d_model) {
  Mamba2Config m;
  m.d_inner = u32(f, "d_inner", 2 * d_model);
  m.d_state = u32(f, "d_state", m.d_state);
  m.d_conv = u32(f, "d_conv", m.d_conv);
  m.n_heads = u32(f, "n_heads");
  m.n_groups = u32(f, "n_groups", m.n_groups);
  m.norm_group_size = u32(f, "norm_group_size", m.norm_group_size);
  m.gated_norm = f.boolean("gated_norm", m.gated_norm);
  m.norm_eps = float(f.number("norm_eps", 0.0, 1.0, m.norm_eps));
  m.in_proj_bias = f.boolean("in_proj_bias", m.in_proj_bias);
  m.conv_bias = f.boolean("conv_bias", m.conv_bias);
  m.out_proj_bias = f.boolean("out_proj_bias", m.out_proj_bias);
  m.d_per_channel = f.boolean("d_per_channel", m.d_per_channel);
  m.dt_min = float(f.number("dt_min", 0.0, FLT_MAX, m.dt_min));
  if (f.has("dt_max") && !f.value("dt_max").is_null()) m.dt_max = float(f.number("dt_max", 0.0, FLT_MAX));
  return m;
}

MoEConfig parse_moe(JsonFields& f) {
  MoEConfig m;
  m.n_experts = u32(f, "n_experts");
  m.top_k = u32(f, "top_k", m.top_k);
  m.expert.d_ff = u32(f, "d_ff");
  m.expert.act = expert_act(f, "expert");
  m.expert.bias = f.boolean("expert_bias", false);
  m.router = RouterAct(f.choice("router", kRouterNames, size_t(m.router)));
  m.router_bias = f.boolean("router_bias", m.router_bias);
  m.sel_bias = f.boolean("sel_bias", m.sel_bias);
  m.renorm = f.boolean("renorm", m.renorm);
  m.routed_scale = float(f.number("routed_scale", -FLT_MAX, FLT_MAX, m.routed_scale));
  m.n_shared = u32(f, "n_shared", 0);
  m.shared.d_ff = u32(f, "shared_d_ff", m.expert.d_ff);
  m.shared.act = f.has("shared_expert") ? expert_act(f, "shared_expert") : m.expert.act;
  m.shared.bias = f.boolean("shared_bias", m.expert.bias);
  m.normalize_expert_output = f.boolean("normalize_expert_output", m.normalize_expert_output);
  m.n_groups = u32(f, "n_groups", m.n_groups);
  m.topk_groups = u32(f, "topk_groups", m.topk_groups);
  return m;
}

AttentionConfig parse_attention(JsonFields& f, uint32_t d_model) {
  AttentionConfig a;
  a.n_heads = u32(f, "n_heads");
  a.n_kv_heads = u32(f, "n_kv_heads", a.n_heads);
  a.head_dim = u32(f, "head_dim", a.n_heads ? d_model / a.n_heads : 0);
  a.rotary_dim = u32(f, "rotary_dim", a.rotary_dim);
  a.rope_theta = float(f.number("rope_theta", 0.0, FLT_MAX, a.rope_theta));
  a.scale = float(f.number("scale", 0.0, FLT_MAX, a.scale));
  a.qkv_bias = f.boolean("qkv_bias", a.qkv_bias);
  a.out_bias = f.boolean("out_bias", a.out_bias);
  return a;
}

LayerConfig parse_layer(const json& value, const std::string& where, uint32_t d_model) {
  JsonFields f(value, where);
  LayerConfig layer;
  layer.kind = LayerKind(f.choice("kind", kLayerNames));
  switch (layer.kind) {
    case LayerKind::Mamba: layer.mamba = parse_mamba(f, d_model); break;
    case LayerKind::Mamba2: layer.mamba2 = parse_mamba2(f, d_model); break;
    case LayerKind::Attention: layer.attention = parse_attention(f, d_model); break;
    case LayerKind::MoE: layer.moe = parse_moe(f); break;
    case LayerKind::MLP:
      layer.mlp.d_ff = u32(f, "d_ff");
      layer.mlp.act = expert_act(f, "expert");
      layer.mlp.bias = f.boolean("bias", false);
      break;
    case LayerKind::Parallel: {
      layer.shared_norm = f.boolean("shared_norm", false);
      JsonFields mamba(f.value("mamba"), f.field("mamba"));
      layer.mamba = parse_mamba(mamba, d_model);
      mamba.reject_unknown();
      JsonFields moe(f.value("moe"), f.field("moe"));
      layer.moe = parse_moe(moe);
      moe.reject_unknown();
      break;
    }
  }
  f.reject_unknown();
  return layer;
}

std::vector<LayerConfig> parse_layers(JsonFields& top, uint32_t d_model) {
  std::vector<LayerConfig> layers;
  if (top.has("layers") == top.has("layer_pattern"))
    fail(MMB_ERR_FORMAT, top.where(), ": give exactly one of \"layers\" and \"layer_pattern\"");
  const bool pattern = top.has("layer_pattern");
  const json* list = nullptr;
  uint64_t repeat = 1;
  std::string where = top.field("layers");
  std::optional<JsonFields> pattern_fields;
  if (pattern) {
    pattern_fields.emplace(top.value("layer_pattern"), top.field("layer_pattern"));
    repeat = pattern_fields->integer("repeat", 1, 4096);
    list = &pattern_fields->value("pattern");
    where = pattern_fields->field("pattern");
    pattern_fields->reject_unknown();
  } else {
    list = &top.value("layers");
  }
  if (!list->is_array() || list->empty())
    fail(MMB_ERR_FORMAT, where, ": expected a non-empty array of layers, got ", list->is_array() ? "an empty array" : json_type_name(*list));
  if (repeat * list->size() > 4096) fail(MMB_ERR_FORMAT, where, ": ", repeat * list->size(), " layers exceed the limit of 4096");
  std::vector<LayerConfig> one_pass;
  for (size_t i = 0; i < list->size(); ++i) one_pass.push_back(parse_layer((*list)[i], cat(where, "[", i, "]"), d_model));
  for (uint64_t r = 0; r < repeat; ++r) layers.insert(layers.end(), one_pass.begin(), one_pass.end());
  return layers;
}

// The shortest decimal that reads back as the same float ("1e-05", not 9.99999974737875e-06).
json float_json(float x) {
  char buf[32];
  auto end = std::to_chars(buf, buf + sizeof buf, x).ptr;
  return std::stod(std::string(buf, end));
}

json feed_forward_json(const FeedForwardConfig& ff, const char* d_ff, const char* act, const char* bias) {
  return {{d_ff, ff.d_ff}, {act, kExpertNames[size_t(ff.act)]}, {bias, ff.bias}};
}

json mamba_json(const MambaConfig& m) {
  json j = {{"d_inner", m.d_inner}, {"d_state", m.d_state}, {"d_conv", m.d_conv}, {"dt_rank", m.dt_rank},
            {"in_proj_bias", m.in_proj_bias}, {"conv_bias", m.conv_bias}, {"out_proj_bias", m.out_proj_bias}};
  const std::pair<const char*, const std::optional<ProjectionExperts>*> projections[] = {
      {"x_proj_experts", &m.x_proj_experts}, {"z_proj_experts", &m.z_proj_experts}, {"out_proj_experts", &m.out_proj_experts}};
  for (const auto& [key, e] : projections)
    if (*e)
      j[key] = {{"n_experts", (*e)->n_experts}, {"top_k", (*e)->top_k}, {"router", kRouterNames[size_t((*e)->router)]},
                {"router_bias", (*e)->router_bias}, {"sel_bias", (*e)->sel_bias}, {"renorm", (*e)->renorm},
                {"routed_scale", float_json((*e)->routed_scale)}, {"bias", (*e)->bias}};
  if (m.dt_bc_norm != InnerNorm::None)
    j.update({{"dt_bc_norm", kInnerNormNames[size_t(m.dt_bc_norm)]}, {"dt_bc_norm_eps", float_json(m.dt_bc_norm_eps)}});
  return j;
}

json mamba2_json(const Mamba2Config& m) {
  json j = {{"kind", "mamba2"}, {"d_inner", m.d_inner}, {"d_state", m.d_state}, {"d_conv", m.d_conv},
            {"n_heads", m.n_heads}, {"n_groups", m.n_groups}, {"norm_group_size", m.norm_group_size},
            {"gated_norm", m.gated_norm}, {"norm_eps", float_json(m.norm_eps)}, {"in_proj_bias", m.in_proj_bias},
            {"conv_bias", m.conv_bias}, {"out_proj_bias", m.out_proj_bias}, {"d_per_channel", m.d_per_channel},
            {"dt_min", float_json(m.dt_min)}};
  if (std::isfinite(m.dt_max)) j["dt_max"] = float_json(m.dt_max);
  return j;
}

json attention_json(const AttentionConfig& a) {
  return {{"kind", "attention"}, {"n_heads", a.n_heads}, {"n_kv_heads", a.n_kv_heads}, {"head_dim", a.head_dim},
          {"rotary_dim", a.rotary_dim}, {"rope_theta", float_json(a.rope_theta)}, {"scale", float_json(a.scale)},
          {"qkv_bias", a.qkv_bias}, {"out_bias", a.out_bias}};
}

json moe_json(const MoEConfig& m) {
  json j = feed_forward_json(m.expert, "d_ff", "expert", "expert_bias");
  j.update({{"n_experts", m.n_experts}, {"top_k", m.top_k}, {"router", kRouterNames[size_t(m.router)]},
            {"router_bias", m.router_bias}, {"sel_bias", m.sel_bias}, {"renorm", m.renorm},
            {"routed_scale", float_json(m.routed_scale)}, {"n_shared", m.n_shared},
            {"normalize_expert_output", m.normalize_expert_output}, {"n_groups", m.n_groups},
            {"topk_groups", m.topk_groups}});
  if (m.n_shared > 0) j.update(feed_forward_json(m.shared, "shared_d_ff", "shared_expert", "shared_bias"));
  return j;
}

}  // namespace

NativeConfig parse_native_config(const json& config, const std::string& what) {
  JsonFields top(config, what);
  const std::string format = top.string("format");
  if (format != "moemamba") fail(MMB_ERR_FORMAT, top.field("format"), ": expected \"moemamba\", got \"", format, "\"");
  NativeConfig out;
  ModelConfig& c = out.model;
  c.d_model = uint32_t(top.integer("d_model", 1, kU32));
  c.vocab_size = uint32_t(top.integer("vocab_size", 1, kU32));
  c.norm = NormKind(top.choice("norm", kBlockNormNames, 0) + 1);
  c.final_norm = NormKind(top.choice("final_norm", kNormNames, size_t(c.norm)));
  c.norm_eps = float(top.number("norm_eps", 0.0, 1.0, c.norm_eps));
  c.tie_embeddings = top.boolean("tie_embeddings", c.tie_embeddings);
  c.embedding_scale = float(top.number("embedding_scale", -FLT_MAX, FLT_MAX, c.embedding_scale));
  c.residual_scale = float(top.number("residual_scale", -FLT_MAX, FLT_MAX, c.residual_scale));
  c.logits_divisor = float(top.number("logits_divisor", -FLT_MAX, FLT_MAX, c.logits_divisor));
  c.context_length = u32(top, "context_length", c.context_length);
  c.layers = parse_layers(top, c.d_model);
  out.tokenizer = top.string("tokenizer", "");
  if (top.has("metadata")) {
    const json& pairs = top.value("metadata");
    JsonFields meta(pairs, top.field("metadata"));
    for (auto it = pairs.begin(); it != pairs.end(); ++it) out.metadata.emplace_back(it.key(), meta.string(it.key()));
  }
  top.reject_unknown();
  try {
    validate_config(c);
  } catch (const Error& e) {
    fail(e.status(), what, ": ", e.what());
  }
  return out;
}

std::string native_config_json(const ModelConfig& c) {
  validate_config(c);  // so every enum below indexes its name table
  json layers = json::array();
  for (const LayerConfig& l : c.layers) {
    json j;
    switch (l.kind) {
      case LayerKind::Mamba:
        j = mamba_json(l.mamba);
        j["kind"] = "mamba";
        break;
      case LayerKind::MoE:
        j = moe_json(l.moe);
        j["kind"] = "moe";
        break;
      case LayerKind::Parallel:
        j = {{"kind", "parallel"}, {"shared_norm", l.shared_norm}, {"mamba", mamba_json(l.mamba)}, {"moe", moe_json(l.moe)}};
        break;
      case LayerKind::MLP:
        j = feed_forward_json(l.mlp, "d_ff", "expert", "bias");
        j["kind"] = "mlp";
        break;
      case LayerKind::Mamba2: j = mamba2_json(l.mamba2); break;
      case LayerKind::Attention: j = attention_json(l.attention); break;
    }
    layers.push_back(std::move(j));
  }
  json config = {{"format", "moemamba"}, {"d_model", c.d_model}, {"vocab_size", c.vocab_size},
                 {"norm", kNormNames[size_t(c.norm)]}, {"final_norm", kNormNames[size_t(c.final_norm)]},
                 {"norm_eps", float_json(c.norm_eps)}, {"tie_embeddings", c.tie_embeddings}, {"layers", std::move(layers)}};
  if (c.embedding_scale != 1.0f) config["embedding_scale"] = float_json(c.embedding_scale);
  if (c.residual_scale != 1.0f) config["residual_scale"] = float_json(c.residual_scale);
  if (c.logits_divisor != 1.0f) config["logits_divisor"] = float_json(c.logits_divisor);
  if (c.context_length) config["context_length"] = c.context_length;
  return config.dump(2) + "\n";
}

}  // namespace mmb
