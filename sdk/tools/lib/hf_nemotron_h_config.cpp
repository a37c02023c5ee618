#include "hf_nemotron_h_config.hpp"

#include "base/error.hpp"
#include "hf_jamba_config.hpp"
#include "hf_mamba2_config.hpp"
#include "hf_mamba_config.hpp"
#include "json_fields.hpp"

#include <algorithm>
#include <cstdint>
#include <map>

namespace mmb {

using nlohmann::json;

namespace {

constexpr uint64_t kU32 = UINT32_MAX;

// The saved attribute name wins over the constructor's argument name (see the header).
const char* spelled(JsonFields& f, const char* attribute, const char* argument) {
  return f.has(attribute) || !f.has(argument) ? attribute : argument;
}

Mamba2Config mamba2_mixer(JsonFields& f, float eps) {
  const std::string act = f.string("mamba_hidden_act", "silu");
  if (act != "silu")
    fail(MMB_ERR_UNSUPPORTED, f.field("mamba_hidden_act"), ": \"", act, "\" is not supported (Mamba-2 mixers use \"silu\")");
  Mamba2Config m;
  m.n_heads = uint32_t(f.integer("mamba_num_heads", 1, kU32, 128));
  const uint64_t head_dim = f.integer("mamba_head_dim", 1, kU32, 64);
  if (uint64_t(m.n_heads) * head_dim > kU32)
    fail(MMB_ERR_FORMAT, f.where(), ": mamba_num_heads x mamba_head_dim = ", uint64_t(m.n_heads) * head_dim, " is too large");
  m.d_inner = uint32_t(m.n_heads * head_dim);  // intermediate_size = mamba_num_heads * mamba_head_dim
  m.d_state = uint32_t(f.integer("ssm_state_size", 1, kU32, 128));
  m.n_groups = uint32_t(f.integer(spelled(f, "n_groups", "mamba_n_groups"), 1, kU32, 8));
  m.d_conv = uint32_t(f.integer(spelled(f, "conv_kernel", "mamba_d_conv"), 1, kU32, 4));
  m.conv_bias = f.boolean(spelled(f, "use_conv_bias", "mamba_conv_bias"), true);
  m.in_proj_bias = m.out_proj_bias = f.boolean("use_bias", false);
  // MambaRMSNormGated(intermediate_size, eps=layer_norm_epsilon, group_size=intermediate_size // n_groups):
  // the native gated norm's default groups.
  m.gated_norm = true;
  m.norm_eps = eps;
  read_dt_limit(f, spelled(f, "time_step_limit", "mamba_dt_limit"), m);
  return m;
}

AttentionConfig attention(JsonFields& f) {
  AttentionConfig a = read_jamba_attention_heads(f);
  a.head_dim = uint32_t(f.integer("head_dim", 1, kU32, 128));
  a.qkv_bias = a.out_bias = f.boolean("attention_bias", false);
  return a;  // no RoPE, scale 1/sqrt(head_dim)
}

FeedForwardConfig relu2(uint32_t d_ff, bool bias) {
  FeedForwardConfig ff;
  ff.d_ff = d_ff;
  ff.act = ExpertAct::ReLU2;
  ff.bias = bias;
  return ff;
}

MoEConfig moe(JsonFields& f, bool bias) {
  if (f.given("moe_latent_size"))
    fail(MMB_ERR_UNSUPPORTED, f.field("moe_latent_size"), ": latent expert projections (fc1/fc2_latent_proj) are not supported");
  MoEConfig m;
  m.n_experts = uint32_t(f.integer("n_routed_experts", 1, kU32, 8));
  m.top_k = uint32_t(f.integer("num_experts_per_tok", 1, kU32, 2));
  m.expert = relu2(uint32_t(f.integer("moe_intermediate_size", 1, kU32, 7688)), bias);
  m.router = RouterAct::Sigmoid;
  m.sel_bias = true;  // gate.e_score_correction_bias: selection only
  m.n_groups = uint32_t(f.integer("n_group", 1, kU32, 1));
  m.topk_groups = uint32_t(f.integer("topk_group", 1, kU32, 1));
  if (m.n_experts % m.n_groups)
    fail(MMB_ERR_FORMAT, f.field("n_group"), " = ", m.n_groups, " does not divide n_routed_experts = ", m.n_experts);
  if (m.topk_groups > m.n_groups)
    fail(MMB_ERR_FORMAT, f.field("topk_group"), " = ", m.topk_groups, " exceeds n_group = ", m.n_groups);
  m.renorm = f.boolean("norm_topk_prob", true);
  m.routed_scale = float(f.number("routed_scaling_factor", 1e-6, 1e6, 1.0));
  m.n_shared = 1;  // NemotronHMOE builds one shared_experts MLP, whatever n_shared_experts says
  m.shared = relu2(uint32_t(f.integer("moe_shared_expert_intermediate_size", 1, kU32, 7688)), bias);
  return m;
}

// The block kinds, from layers_block_type or else hybrid_override_pattern.
std::vector<LayerKind> block_kinds(JsonFields& f) {
  std::vector<LayerKind> kinds;
  if (f.has("layers_block_type")) {
    const json& list = f.value("layers_block_type");
    if (!list.is_array()) fail(MMB_ERR_FORMAT, f.field("layers_block_type"), ": expected a list, got ", json_type_name(list));
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string type = list[i].is_string() ? list[i].get<std::string>() : "";
      if (type == "mamba") kinds.push_back(LayerKind::Mamba2);
      else if (type == "attention") kinds.push_back(LayerKind::Attention);
      else if (type == "mlp") kinds.push_back(LayerKind::MLP);
      else if (type == "moe") kinds.push_back(LayerKind::MoE);
      else
        fail(MMB_ERR_FORMAT, f.field("layers_block_type"), "[", i, "]: ", list[i].dump(),
             " is not one of \"mamba\", \"attention\", \"mlp\", \"moe\"");
    }
    return kinds;
  }
  const std::string pattern = f.string("hybrid_override_pattern", "M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M-");
  const uint64_t n_layers = f.integer("num_hidden_layers", 1, kU32, 52);
  if (pattern.size() != n_layers)
    fail(MMB_ERR_FORMAT, f.field("hybrid_override_pattern"), " has ", pattern.size(), " blocks but num_hidden_layers is ", n_layers);
  for (size_t i = 0; i < pattern.size(); ++i) {
    switch (pattern[i]) {
      case 'M': kinds.push_back(LayerKind::Mamba2); break;
      case '*': kinds.push_back(LayerKind::Attention); break;
      case '-': kinds.push_back(LayerKind::MLP); break;
      case 'E': kinds.push_back(LayerKind::MoE); break;
      default:
        fail(MMB_ERR_FORMAT, f.field("hybrid_override_pattern"), "[", i, "]: '", pattern[i], "' is not one of M, *, -, E");
    }
  }
  return kinds;
}

}  // namespace

ModelConfig parse_hf_nemotron_h_config(const json& config, const std::string& what) {
  JsonFields f(config, what);
  ModelConfig c;
  c.d_model = uint32_t(f.integer("hidden_size", 1, kU32, 4096));
  c.vocab_size = uint32_t(f.integer("vocab_size", 1, kU32, 131072));
  c.norm = c.final_norm = NormKind::RMS;
  c.norm_eps = float(f.number("layer_norm_epsilon", 0.0, 1.0, 1e-5));
  c.tie_embeddings = f.boolean("tie_word_embeddings", false);
  c.context_length = uint32_t(f.integer("max_position_embeddings", 1, kU32, 4096));
  const std::string act = f.string("mlp_hidden_act", "relu2");
  if (act != "relu2")
    fail(MMB_ERR_UNSUPPORTED, f.field("mlp_hidden_act"), ": \"", act, "\" is not supported (Nemotron-H's MLPs use \"relu2\")");
  const bool mlp_bias = f.boolean("mlp_bias", false);

  const std::vector<LayerKind> kinds = block_kinds(f);
  if (kinds.empty()) fail(MMB_ERR_FORMAT, what, ": the model has no blocks");
  const auto uses = [&](LayerKind kind) { return std::find(kinds.begin(), kinds.end(), kind) != kinds.end(); };
  // A kind's keys are read only when some block is of that kind: an option that the
  // native model refuses matters only where a block uses it.
  std::map<LayerKind, LayerConfig> block;
  for (LayerKind kind : kinds) block[kind].kind = kind;
  if (uses(LayerKind::Mamba2)) block[LayerKind::Mamba2].mamba2 = mamba2_mixer(f, c.norm_eps);
  if (uses(LayerKind::Attention)) block[LayerKind::Attention].attention = attention(f);
  if (uses(LayerKind::MLP)) block[LayerKind::MLP].mlp = relu2(uint32_t(f.integer("intermediate_size", 1, kU32, 21504)), mlp_bias);
  if (uses(LayerKind::MoE)) block[LayerKind::MoE].moe = moe(f, mlp_bias);
  for (LayerKind kind : kinds) c.layers.push_back(block[kind]);
  return validated_config(std::move(c), what);
}

std::vector<std::string> hf_nemotron_h_tensor_names(const std::string& native) {
  if (native == "embed.weight") return {"backbone.embeddings.weight"};
  if (native.rfind("norm_f.", 0) == 0) return {"backbone." + native};
  if (native.rfind("layers.", 0) != 0) return {native};

  const size_t dot = native.find('.', 7);
  const std::string p = "backbone." + native.substr(0, dot + 1);  // backbone.layers.i.
  const std::string rest = native.substr(dot + 1);
  const auto tail = [&](size_t prefix) { return rest.substr(prefix); };
  // ReLU^2 projections: native w1 is up_proj, w2 down_proj.
  const auto ffn = [](const std::string& s) {
    if (s.rfind("w1.", 0) == 0) return "up_proj." + s.substr(3);
    if (s.rfind("w2.", 0) == 0) return "down_proj." + s.substr(3);
    return s;
  };
  if (rest.rfind("norm.", 0) == 0) return {p + rest};
  if (rest.rfind("mamba2.", 0) == 0) return {p + "mixer." + tail(7)};
  if (rest.rfind("attn.", 0) == 0) return {p + "mixer." + tail(5)};
  if (rest.rfind("mlp.", 0) == 0) return {p + "mixer." + ffn(tail(4))};
  if (rest == "moe.router.sel_bias") return {p + "mixer.gate.e_score_correction_bias"};
  if (rest.rfind("moe.router.", 0) == 0) return {p + "mixer.gate." + tail(11)};
  if (rest.rfind("moe.shared.0.", 0) == 0) return {p + "mixer.shared_experts." + ffn(tail(13))};
  if (rest.rfind("moe.experts.", 0) == 0) {
    const size_t j = rest.find('.', 12);  // moe.experts.J.wK.weight
    return {p + "mixer.experts." + rest.substr(12, j - 11) + ffn(rest.substr(j + 1))};
  }
  return {native};
}

}  // namespace mmb
