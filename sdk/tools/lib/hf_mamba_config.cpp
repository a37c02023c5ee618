#include "hf_mamba_config.hpp"

#include "base/error.hpp"
#include "hf_mamba2_config.hpp"
#include "json_fields.hpp"

#include <cstdint>

namespace mmb {

using nlohmann::json;

namespace {

constexpr uint64_t kU32 = UINT32_MAX;

// Every layer the same: plain Mamba, or plain Mamba-2.
ModelConfig uniform(uint32_t d_model, uint32_t vocab, uint64_t n_layers, LayerConfig layer) {
  ModelConfig c;
  c.d_model = d_model;
  c.vocab_size = vocab;
  c.layers.assign(n_layers, layer);
  return c;
}

LayerConfig mamba_layer(const MambaConfig& mixer) {
  LayerConfig l;
  l.kind = LayerKind::Mamba;
  l.mamba = mixer;
  return l;
}

}  // namespace

uint32_t read_dt_rank(JsonFields& f, const char* key, uint32_t d_model) {
  if (!f.has(key) || (f.value(key).is_string() && f.string(key) == "auto")) return (d_model + 15) / 16;
  return uint32_t(f.integer(key, 1, kU32));
}

uint32_t read_expanded_width(JsonFields& f, const char* key, uint32_t d_model) {
  const double expand = f.number(key, 1.0 / d_model, double(kU32) / d_model, 2.0);
  return uint32_t(expand * d_model);
}

ModelConfig validated_config(ModelConfig c, const std::string& what) {
  try {
    validate_config(c);
  } catch (const Error& e) {
    fail(e.status(), what, ": ", e.what());
  }
  return c;
}

ModelConfig parse_hf_mamba_family_config(const json& config, const std::string& what, const HfMambaDefaults& defaults) {
  JsonFields f(config, what);
  const std::string act = f.string("hidden_act", "silu");
  if (act != "silu") fail(MMB_ERR_UNSUPPORTED, f.field("hidden_act"), ": \"", act, "\" is not supported (Mamba mixers use \"silu\")");
  const uint32_t d_model = uint32_t(f.integer("hidden_size", 1, kU32));
  MambaConfig m;
  m.d_inner = f.has("intermediate_size") ? uint32_t(f.integer("intermediate_size", 1, kU32))
                                         : read_expanded_width(f, "expand", d_model);
  m.d_state = uint32_t(f.integer("state_size", 1, kU32, m.d_state));
  m.d_conv = uint32_t(f.integer("conv_kernel", 1, kU32, m.d_conv));
  m.dt_rank = read_dt_rank(f, "time_step_rank", d_model);
  // transformers' MambaConfig defaults use_bias to true; released checkpoints say false.
  m.in_proj_bias = m.out_proj_bias = f.boolean("use_bias", defaults.use_bias);
  m.conv_bias = f.boolean("use_conv_bias", true);
  ModelConfig c = uniform(d_model, uint32_t(f.integer("vocab_size", 1, kU32)), f.integer("num_hidden_layers", 1, 4096), mamba_layer(m));
  c.norm = c.final_norm = NormKind::RMS;
  c.norm_eps = float(f.number("layer_norm_epsilon", 0.0, 1.0, c.norm_eps));
  c.tie_embeddings = f.boolean("tie_word_embeddings", defaults.tie_word_embeddings);
  return validated_config(std::move(c), what);
}

ModelConfig parse_hf_mamba_config(const json& config, const std::string& what) {
  return parse_hf_mamba_family_config(config, what, HfMambaDefaults{});
}

ModelConfig parse_mamba_ssm_config(const json& config, const std::string& what) {
  JsonFields f(config, what);
  const uint32_t d_model = uint32_t(f.integer("d_model", 1, kU32));
  if (f.integer("d_intermediate", 0, kU32, 0) != 0)
    fail(MMB_ERR_UNSUPPORTED, f.field("d_intermediate"), ": blocks with an MLP after the mixer are not supported");
  if (f.has("attn_layer_idx") && !(f.value("attn_layer_idx").is_array() && f.value("attn_layer_idx").empty()))
    fail(MMB_ERR_UNSUPPORTED, f.field("attn_layer_idx"), ": attention layers are not supported");

  static const json no_ssm_cfg = json::object();
  JsonFields ssm(f.has("ssm_cfg") ? f.value("ssm_cfg") : no_ssm_cfg, f.field("ssm_cfg"));
  const std::string layer = ssm.string("layer", "Mamba1");
  if (layer != "Mamba1" && layer != "Mamba2")
    fail(MMB_ERR_UNSUPPORTED, ssm.field("layer"), ": \"", layer, "\" is not supported (Mamba1 or Mamba2 mixers)");
  LayerConfig l;
  if (layer == "Mamba2") {
    l.kind = LayerKind::Mamba2;
    l.mamba2 = mamba_ssm_mamba2_mixer(ssm, d_model);
  } else {
    MambaConfig m;
    m.d_inner = read_expanded_width(ssm, "expand", d_model);
    m.d_state = uint32_t(ssm.integer("d_state", 1, kU32, m.d_state));
    m.d_conv = uint32_t(ssm.integer("d_conv", 1, kU32, m.d_conv));
    m.dt_rank = read_dt_rank(ssm, "dt_rank", d_model);
    m.conv_bias = ssm.boolean("conv_bias", true);
    m.in_proj_bias = m.out_proj_bias = ssm.boolean("bias", false);
    l = mamba_layer(m);
  }
  ModelConfig c = uniform(d_model, uint32_t(f.integer("vocab_size", 1, kU32)), f.integer("n_layer", 1, 4096), l);
  c.norm = c.final_norm = f.boolean("rms_norm", true) ? NormKind::RMS : NormKind::Layer;
  c.norm_eps = float(f.number("norm_epsilon", 0.0, 1.0, c.norm_eps));
  c.tie_embeddings = f.boolean("tie_embeddings", true);
  f.integer("pad_vocab_size_multiple", 1, kU32, 1);  // type-checked only: the embedding's rows carry the padding
  return validated_config(std::move(c), what);
}

std::vector<std::string> hf_mamba_tensor_names(const std::string& native) {
  if (native == "embed.weight") return {"backbone.embeddings.weight", "backbone.embedding.weight"};
  if (native.rfind("norm_f.", 0) == 0) return {"backbone." + native};
  if (native.rfind("layers.", 0) == 0) {
    // layers.N.mamba.rest and layers.N.mamba2.rest -> backbone.layers.N.mixer.rest;
    // layers.N.norm.* keeps its tail.
    const size_t dot = native.find('.', 7);
    const std::string layer = native.substr(0, dot);
    const std::string rest = native.substr(dot + 1);
    for (const std::string mixer : {"mamba.", "mamba2."})
      if (rest.rfind(mixer, 0) == 0) return {"backbone." + layer + ".mixer." + rest.substr(mixer.size())};
    return {"backbone." + native};
  }
  return {native};
}

}  // namespace mmb
