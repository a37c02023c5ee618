#include "hf_jamba_config.hpp"

#include "base/error.hpp"
#include "hf_mamba_config.hpp"
#include "json_fields.hpp"

#include <cstdint>
#include <string_view>
#include <utility>

namespace mmb {

using nlohmann::json;

namespace {

constexpr uint64_t kU32 = UINT32_MAX;

// Layer i has the feature when i % period == offset (JambaConfig.layers_block_type and
// layers_num_experts).
struct Schedule {
  uint64_t period, offset;
  bool at(size_t i) const { return i % period == offset; }
};

Schedule schedule(JsonFields& f, const char* period_key, const char* offset_key, uint64_t period, uint64_t offset) {
  Schedule s{f.integer(period_key, 1, kU32, period), f.integer(offset_key, 0, kU32, offset)};
  if (s.offset >= s.period)  // JambaConfig._check_supported_offset
    fail(MMB_ERR_FORMAT, f.field(offset_key), " = ", s.offset, " must be smaller than ", period_key, " = ", s.period);
  return s;
}

MambaConfig mamba_mixer(JsonFields& f, uint32_t d_model, float eps) {
  MambaConfig m;
  m.d_inner = uint32_t(f.integer("mamba_expand", 1, kU32 / d_model, 2) * d_model);
  m.d_state = uint32_t(f.integer("mamba_d_state", 1, kU32, 16));
  m.d_conv = uint32_t(f.integer("mamba_d_conv", 1, kU32, 4));
  m.dt_rank = read_dt_rank(f, "mamba_dt_rank", d_model);
  m.conv_bias = f.boolean("mamba_conv_bias", true);
  m.in_proj_bias = m.out_proj_bias = f.boolean("mamba_proj_bias", false);
  m.dt_bc_norm = InnerNorm::RMSWeighted;  // dt_layernorm, b_layernorm, c_layernorm
  m.dt_bc_norm_eps = eps;
  return m;
}

AttentionConfig attention(JsonFields& f, uint32_t d_model) {
  AttentionConfig a = read_jamba_attention_heads(f);
  if (d_model % a.n_heads)
    fail(MMB_ERR_FORMAT, f.field("num_attention_heads"), " = ", a.n_heads, " does not divide hidden_size = ", d_model);
  a.head_dim = d_model / a.n_heads;
  return a;  // no RoPE, no biases, scale 1/sqrt(head_dim)
}

// s with its leading `from` replaced by `to` (s itself when it does not start so).
std::string with_prefix(const std::string& s, std::string_view from, std::string_view to) {
  return s.rfind(from, 0) == 0 ? cat(to, s.substr(from.size())) : s;
}

// A SwiGLU projection's name: native w1 is silu's input (gate_proj), w3 the multiplier
// (up_proj), w2 the output (down_proj).
std::string swiglu_name(const std::string& native) {
  return with_prefix(with_prefix(with_prefix(native, "w1.", "gate_proj."), "w2.", "down_proj."), "w3.", "up_proj.");
}

FeedForwardConfig swiglu(uint32_t d_ff) {
  FeedForwardConfig ff;
  ff.d_ff = d_ff;
  ff.act = ExpertAct::SwiGLU;
  return ff;
}

}  // namespace

AttentionConfig read_jamba_attention_heads(JsonFields& f) {
  if (f.given("sliding_window"))
    fail(MMB_ERR_UNSUPPORTED, f.field("sliding_window"), ": sliding-window attention is not supported (null: every earlier token)");
  AttentionConfig a;
  a.n_heads = uint32_t(f.integer("num_attention_heads", 1, kU32, 32));
  a.n_kv_heads = !f.has("num_key_value_heads")    ? 8
                 : f.given("num_key_value_heads") ? uint32_t(f.integer("num_key_value_heads", 1, kU32))
                                                  : a.n_heads;
  if (a.n_heads % a.n_kv_heads)
    fail(MMB_ERR_FORMAT, f.field("num_key_value_heads"), " = ", a.n_kv_heads, " does not divide num_attention_heads = ", a.n_heads);
  return a;
}

ModelConfig parse_hf_jamba_config(const json& config, const std::string& what) {
  JsonFields f(config, what);
  const std::string act = f.string("hidden_act", "silu");
  if (act != "silu")
    fail(MMB_ERR_UNSUPPORTED, f.field("hidden_act"), ": \"", act,
         "\" is not supported (Jamba's Mamba mixers and SwiGLU experts use \"silu\")");
  ModelConfig c;
  c.d_model = uint32_t(f.integer("hidden_size", 1, kU32, 4096));
  c.vocab_size = uint32_t(f.integer("vocab_size", 1, kU32, 65536));
  c.norm = c.final_norm = NormKind::RMS;
  c.norm_eps = float(f.number("rms_norm_eps", 0.0, 1.0, 1e-6));
  c.tie_embeddings = f.boolean("tie_word_embeddings", false);
  c.context_length = uint32_t(f.integer("max_position_embeddings", 1, kU32, 262144));

  const Schedule attn_at = schedule(f, "attn_layer_period", "attn_layer_offset", 8, 4);
  const Schedule experts_at = schedule(f, "expert_layer_period", "expert_layer_offset", 2, 1);
  const uint32_t d_ff = uint32_t(f.integer("intermediate_size", 1, kU32, 14336));
  const uint32_t n_experts = uint32_t(f.integer("num_experts", 1, kU32, 16));

  const uint64_t n_layers = f.integer("num_hidden_layers", 1, 2048, 32);
  bool any_attention = false;
  for (size_t i = 0; i < n_layers; ++i) any_attention |= attn_at.at(i);

  LayerConfig mixer_mamba, mixer_attention, ffn_moe, ffn_mlp;
  mixer_mamba.kind = LayerKind::Mamba;
  mixer_mamba.mamba = mamba_mixer(f, c.d_model, c.norm_eps);
  mixer_attention.kind = LayerKind::Attention;
  // JambaAttention's checks (head_dim, sliding_window) only bind where attention layers exist.
  if (any_attention) mixer_attention.attention = attention(f, c.d_model);
  ffn_mlp.kind = LayerKind::MLP;
  ffn_mlp.mlp = swiglu(d_ff);
  ffn_moe.kind = LayerKind::MoE;
  ffn_moe.moe.n_experts = n_experts;
  ffn_moe.moe.top_k = uint32_t(f.integer("num_experts_per_tok", 1, kU32, 2));
  if (n_experts > 1 && ffn_moe.moe.top_k > n_experts)
    fail(MMB_ERR_FORMAT, f.field("num_experts_per_tok"), " = ", ffn_moe.moe.top_k, " exceeds num_experts = ", n_experts);
  ffn_moe.moe.expert = swiglu(d_ff);
  ffn_moe.moe.router = RouterAct::Softmax;  // softmax over all experts, then top-k: no renormalization

  for (size_t i = 0; i < n_layers; ++i) {
    c.layers.push_back(attn_at.at(i) ? mixer_attention : mixer_mamba);
    // JambaMambaDecoderLayer / JambaAttentionDecoderLayer: an MoE block only when the
    // layer has more than one expert.
    c.layers.push_back(experts_at.at(i) && n_experts > 1 ? ffn_moe : ffn_mlp);
  }
  return validated_config(std::move(c), what);
}

std::vector<std::string> hf_jamba_tensor_names(const std::string& native) {
  if (native == "embed.weight") return {"model.embed_tokens.weight"};
  if (native.rfind("norm_f.", 0) == 0) return {with_prefix(native, "norm_f.", "model.final_layernorm.")};
  if (native.rfind("layers.", 0) != 0) return {native};

  const size_t dot = native.find('.', 7);
  const uint64_t n = std::stoull(native.substr(7, dot - 7));
  const std::string p = cat("model.layers.", n / 2, ".");
  std::string rest = native.substr(dot + 1);
  if (rest.rfind("norm.", 0) == 0) return {p + with_prefix(rest, "norm.", n % 2 ? "pre_ff_layernorm." : "input_layernorm.")};
  if (rest.rfind("mamba.", 0) == 0) {
    for (const auto& [from, to] : {std::pair{"mamba.dt_norm.", "mamba.dt_layernorm."}, {"mamba.b_norm.", "mamba.b_layernorm."},
                                   {"mamba.c_norm.", "mamba.c_layernorm."}})
      rest = with_prefix(rest, from, to);
    return {p + rest};
  }
  if (rest.rfind("attn.", 0) == 0) return {p + with_prefix(rest, "attn.", "self_attn.")};
  if (rest.rfind("mlp.", 0) == 0) return {p + "feed_forward." + swiglu_name(rest.substr(4))};
  if (rest.rfind("moe.experts.", 0) == 0) {
    const size_t j = rest.find('.', 12);  // moe.experts.J.wK.weight
    return {p + "feed_forward.experts." + rest.substr(12, j - 11) + swiglu_name(rest.substr(j + 1))};
  }
  return {p + with_prefix(rest, "moe.", "feed_forward.")};  // moe.router.weight
}

}  // namespace mmb
