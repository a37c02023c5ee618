#include "hf_granite_hybrid_config.hpp"

#include "base/error.hpp"
#include "hf_mamba2_config.hpp"
#include "hf_mamba_config.hpp"
#include "json_fields.hpp"
#include "tensor_slice.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <utility>

namespace mmb {

using nlohmann::json;

namespace {

constexpr uint64_t kU32 = UINT32_MAX;

double finite_number(JsonFields& f, const char* key, double fallback) {
  return f.given(key) ? f.number(key, -std::numeric_limits<double>::max(), std::numeric_limits<double>::max())
                      : fallback;
}

// A multiplier the native model stores as a nonzero scale.
float nonzero_scale(JsonFields& f, const char* key) {
  const double v = finite_number(f, key, 1.0);
  if (v == 0.0) fail(MMB_ERR_UNSUPPORTED, f.field(key), ": 0 is not supported (the native scales must be nonzero)");
  return float(v);
}

// One of "mamba" / "attention" per decoder layer.
std::vector<bool> attention_layers(JsonFields& f, uint64_t n_layers) {
  const char* key = f.given("layer_types") || !f.given("layers_block_type") ? "layer_types" : "layers_block_type";
  if (!f.given(key)) return std::vector<bool>(n_layers, false);
  const json& types = f.value(key);
  if (!types.is_array())
    fail(MMB_ERR_FORMAT, f.field(key), ": expected a list of \"mamba\" / \"attention\", got ", json_type_name(types));
  if (types.size() != n_layers)
    fail(MMB_ERR_FORMAT, f.field(key), ": ", types.size(), " entries but num_hidden_layers is ", n_layers);
  std::vector<bool> attention;
  for (size_t i = 0; i < types.size(); ++i) {
    const json& t = types[i];
    if (!t.is_string() || (t != "mamba" && t != "attention"))
      fail(MMB_ERR_FORMAT, f.field(key), "[", i, "]: expected \"mamba\" or \"attention\", got ",
           t.is_string() ? cat("\"", t.get<std::string>(), "\"") : json_type_name(t));
    attention.push_back(t == "attention");
  }
  return attention;
}

Mamba2Config mamba2_mixer(JsonFields& f, uint32_t d_model, float eps) {
  Mamba2Config m;
  m.d_inner = read_expanded_width(f, "mamba_expand", d_model);
  m.n_heads = uint32_t(f.integer("mamba_n_heads", 1, kU32, 128));
  if (m.d_inner % m.n_heads)
    fail(MMB_ERR_FORMAT, f.field("mamba_n_heads"), ": ", m.n_heads,
         " does not divide mamba_expand x hidden_size = ", m.d_inner);
  if (f.given("mamba_d_head") && !(f.value("mamba_d_head").is_string() && f.string("mamba_d_head") == "auto")) {
    const uint64_t d_head = f.integer("mamba_d_head", 1, kU32);
    if (d_head * m.n_heads != m.d_inner)
      fail(MMB_ERR_FORMAT, f.field("mamba_d_head"), ": ", d_head, " x mamba_n_heads (", m.n_heads,
           ") is not mamba_expand x hidden_size = ", m.d_inner);
  }
  m.n_groups = uint32_t(f.integer("mamba_n_groups", 1, kU32, 1));
  if (m.n_heads % m.n_groups)
    fail(MMB_ERR_FORMAT, f.field("mamba_n_groups"), ": ", m.n_groups, " does not divide mamba_n_heads = ", m.n_heads);
  m.d_state = uint32_t(f.integer("mamba_d_state", 1, kU32, 256));
  m.d_conv = uint32_t(f.integer("mamba_d_conv", 1, kU32, 4));
  m.conv_bias = f.boolean("mamba_conv_bias", true);
  m.in_proj_bias = m.out_proj_bias = f.boolean("mamba_proj_bias", false);
  m.gated_norm = true;
  // Per group, as the family trains it (see the header), with the model's one eps.
  m.norm_group_size = m.d_inner / m.n_groups;
  m.norm_eps = eps;
  read_dt_limit(f, "time_step_limit", m);
  return m;
}

// rope_theta of a "rope" model: transformers 4's rope_theta + rope_scaling, or 5's
// rope_parameters; only the default (unscaled) RoPE is supported.
float rope_theta(JsonFields& f) {
  double theta = finite_number(f, "rope_theta", 10000.0);
  for (const char* key : {"rope_scaling", "rope_parameters"}) {
    if (!f.given(key)) continue;
    JsonFields rope(f.value(key), f.field(key));
    const char* type_key = rope.has("rope_type") ? "rope_type" : "type";
    const std::string type = rope.string(type_key, "default");
    if (type != "default")
      fail(MMB_ERR_UNSUPPORTED, rope.field(type_key), ": \"", type,
           "\" RoPE scaling is not supported (only \"default\")");
    if (rope.given("rope_theta")) theta = finite_number(rope, "rope_theta", theta);
  }
  if (!(theta > 1.0)) fail(MMB_ERR_FORMAT, f.field("rope_theta"), ": ", theta, " must be above 1");
  return float(theta);
}

AttentionConfig attention(JsonFields& f, uint32_t d_model) {
  AttentionConfig a;
  a.n_heads = uint32_t(f.integer("num_attention_heads", 1, kU32, 32));
  a.n_kv_heads = f.given("num_key_value_heads") ? uint32_t(f.integer("num_key_value_heads", 1, kU32)) : a.n_heads;
  if (a.n_heads % a.n_kv_heads)
    fail(MMB_ERR_FORMAT, f.field("num_key_value_heads"), ": ", a.n_kv_heads,
         " does not divide num_attention_heads = ", a.n_heads);
  a.head_dim = f.given("head_dim") ? uint32_t(f.integer("head_dim", 1, kU32)) : d_model / a.n_heads;
  if (a.head_dim == 0)
    fail(MMB_ERR_FORMAT, f.field("num_attention_heads"), ": ", a.n_heads,
         " heads leave no dimensions of hidden_size = ", d_model);
  a.qkv_bias = a.out_bias = f.boolean("attention_bias", false);
  const double scale = finite_number(f, "attention_multiplier", 1.0);
  // The native scale 0 stands for 1/sqrt(head_dim), so only positive scales carry over.
  if (!(scale > 0.0))
    fail(MMB_ERR_UNSUPPORTED, f.field("attention_multiplier"), ": ", scale,
         " is not supported (a positive softmax scale)");
  a.scale = float(scale);
  const std::string positions = f.given("position_embedding_type") ? f.string("position_embedding_type") : "nope";
  if (positions == "rope") {
    a.rotary_dim = a.head_dim;
    a.rope_theta = rope_theta(f);
  } else if (positions != "nope") {
    fail(MMB_ERR_UNSUPPORTED, f.field("position_embedding_type"), ": \"", positions,
         "\" is not supported (null or \"nope\": no positions; \"rope\")");
  }
  return a;
}

LayerConfig feed_forward(JsonFields& f) {
  FeedForwardConfig shared;
  shared.d_ff = uint32_t(f.integer("shared_intermediate_size", 1, kU32, 1024));
  shared.act = ExpertAct::SwiGLU;
  LayerConfig l;
  const uint64_t experts = f.integer("num_local_experts", 0, kU32, 8);
  if (experts == 0) {  // dense: the shared MLP alone
    l.kind = LayerKind::MLP;
    l.mlp = shared;
    return l;
  }
  l.kind = LayerKind::MoE;
  MoEConfig& m = l.moe;
  m.n_experts = uint32_t(experts);
  m.top_k = uint32_t(f.integer("num_experts_per_tok", 1, experts, 2));
  m.expert.d_ff = uint32_t(f.integer("intermediate_size", 1, kU32, 11008));
  m.expert.act = ExpertAct::SwiGLU;
  m.router = RouterAct::Softmax;
  m.renorm = true;  // softmax over the top-k logits
  m.n_shared = 1;
  m.shared = shared;
  return l;
}

// "w1.weight" / "w2.weight" / "w3.weight" of a SwiGLU expert cut from Granite's packed
// pair: input_linear [.., 2 d_ff, d] holds w1 rows then w3 rows; output_linear is w2.
std::string expert_part(const std::string& w, const std::string& input, const std::string& output,
                        std::optional<uint64_t> index, uint64_t d_ff) {
  if (w == "w1.weight") return sliced_name(input, index, std::pair<uint64_t, uint64_t>{0, d_ff});
  if (w == "w3.weight") return sliced_name(input, index, std::pair<uint64_t, uint64_t>{d_ff, 2 * d_ff});
  if (w == "w2.weight") return sliced_name(output, index);
  return input + "." + w;  // no such tensor: reported missing under a telling name
}

}  // namespace

ModelConfig parse_hf_granite_hybrid_config(const json& config, const std::string& what) {
  JsonFields f(config, what);
  // The experts' gate and the mixer's conv activation alike.
  const std::string act = f.string("hidden_act", "silu");
  if (act != "silu" && act != "swish")
    fail(MMB_ERR_UNSUPPORTED, f.field("hidden_act"), ": \"", act, "\" is not supported (SiLU: \"silu\" or \"swish\")");
  ModelConfig c;
  c.d_model = uint32_t(f.integer("hidden_size", 1, kU32, 4096));
  c.vocab_size = uint32_t(f.integer("vocab_size", 1, kU32, 32000));
  c.norm = c.final_norm = NormKind::RMS;
  c.norm_eps = float(f.number("rms_norm_eps", 0.0, 1.0, 1e-6));
  c.tie_embeddings = f.boolean("tie_word_embeddings", false);
  c.embedding_scale = nonzero_scale(f, "embedding_multiplier");
  c.residual_scale = nonzero_scale(f, "residual_multiplier");
  c.logits_divisor = nonzero_scale(f, "logits_scaling");
  c.context_length = uint32_t(f.integer("max_position_embeddings", 1, 1u << 24, 2048));

  const uint64_t n_layers = f.integer("num_hidden_layers", 1, 2048, 32);
  const std::vector<bool> is_attention = attention_layers(f, n_layers);
  LayerConfig mamba;
  mamba.kind = LayerKind::Mamba2;
  mamba.mamba2 = mamba2_mixer(f, c.d_model, c.norm_eps);  // checked whatever layer_types says, as the class does
  LayerConfig attn;
  attn.kind = LayerKind::Attention;
  if (std::find(is_attention.begin(), is_attention.end(), true) != is_attention.end())
    attn.attention = attention(f, c.d_model);
  const LayerConfig ffn = feed_forward(f);
  for (bool a : is_attention) {
    c.layers.push_back(a ? attn : mamba);
    c.layers.push_back(ffn);
  }
  return validated_config(std::move(c), what);
}

std::vector<std::string> hf_granite_hybrid_tensor_names(const std::string& native, const ModelConfig& config) {
  if (native == "embed.weight") return {"model.embed_tokens.weight"};
  if (native == "norm_f.weight") return {"model.norm.weight"};
  if (!native.starts_with("layers.")) return {native};  // lm_head.weight
  const size_t dot = native.find('.', 7);
  const uint64_t i = std::stoull(native.substr(7, dot - 7));
  const std::string rest = native.substr(dot + 1);
  const std::string layer = cat("model.layers.", i / 2, ".");
  if (rest == "norm.weight") return {layer + (i % 2 ? "post_attention_layernorm.weight" : "input_layernorm.weight")};
  if (rest.starts_with("mamba2.")) return {layer + "mamba." + rest.substr(7)};
  if (rest.starts_with("attn.")) return {layer + "self_attn." + rest.substr(5)};
  if (rest == "moe.router.weight") return {layer + "block_sparse_moe.router.layer.weight"};
  const LayerConfig& l = config.layers.at(i);
  const std::string shared_in = layer + "shared_mlp.input_linear.weight",
                    shared_out = layer + "shared_mlp.output_linear.weight";
  if (rest.starts_with("mlp.")) return {expert_part(rest.substr(4), shared_in, shared_out, std::nullopt, l.mlp.d_ff)};
  if (rest.starts_with("moe.shared.0."))
    return {expert_part(rest.substr(13), shared_in, shared_out, std::nullopt, l.moe.shared.d_ff)};
  if (rest.starts_with("moe.experts.")) {
    const size_t end = rest.find('.', 12);
    const uint64_t j = std::stoull(rest.substr(12, end - 12));
    return {expert_part(rest.substr(end + 1), layer + "block_sparse_moe.input_linear.weight",
                        layer + "block_sparse_moe.output_linear.weight", j, l.moe.expert.d_ff)};
  }
  return {layer + rest};
}

}  // namespace mmb
