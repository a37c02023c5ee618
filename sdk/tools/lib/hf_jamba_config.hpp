// Hugging Face JambaForCausalLM checkpoints ("model_type": "jamba"), read as native models.
//
// A Jamba decoder layer is a mixer (Mamba-1 or attention) and a feed-forward part (an MoE
// or a dense MLP), each pre-normed with its own residual add; it becomes two native
// layers: 2i is the mixer (input_layernorm), 2i + 1 the feed-forward (pre_ff_layernorm).
//
// Keys and defaults are transformers' JambaConfig (models/jamba/configuration_jamba.py):
//   vocab_size = 65536, hidden_size = 4096, num_hidden_layers = 32,
//   tie_word_embeddings = false, rms_norm_eps = 1e-6 (block norms, final norm and the
//   mixer's dt/B/C norms alike), hidden_act = "silu" (the Mamba mixer's activation and the
//   experts' SwiGLU gate; the only one supported),
//   layer schedule: layer i is attention when i % attn_layer_period == attn_layer_offset
//   (8, 4), else Mamba; its feed-forward is an MoE of num_experts (16) when
//   i % expert_layer_period == expert_layer_offset (2, 1), else a dense MLP (also when
//   num_experts is 1); an offset must be below its period,
//   attention: num_attention_heads = 32, num_key_value_heads = 8 (null: the query
//   heads), head_dim = hidden_size / num_attention_heads (must divide), no biases, no
//   position encoding, softmax scale 1/sqrt(head_dim); sliding_window = null (a window
//   is refused: the native attention sees the whole context),
//   MoE: router Linear without bias, softmax over all experts, the num_experts_per_tok
//   (2) largest probabilities kept as gates without renormalization; experts and the
//   dense MLP are SwiGLU of intermediate_size (14336): down_proj(silu(gate_proj x) *
//   up_proj x), i.e. native w1 = gate_proj, w3 = up_proj, w2 = down_proj,
//   Mamba: d_inner = mamba_expand (2, an integer) * hidden_size, mamba_d_state = 16,
//   mamba_d_conv = 4, mamba_dt_rank = "auto" (ceil(hidden_size / 16)) or an integer,
//   mamba_conv_bias = true, mamba_proj_bias = false (in_proj and out_proj); dt, B and C
//   are RMS-normalized with a weight each (InnerNorm::RMSWeighted),
//   max_position_embeddings = 262144 (the native context_length).
// Ignored (training or kernels only): use_mamba_kernels, initializer_range,
// router_aux_loss_coef, output_router_logits, num_logits_to_keep, attention_dropout,
// use_cache, token ids.
//
// Tensor names: model.embed_tokens.weight, model.final_layernorm.weight, lm_head.weight;
// model.layers.i.{input_layernorm,pre_ff_layernorm}.weight;
// model.layers.i.mamba.{in_proj,conv1d,x_proj,dt_proj,out_proj,A_log,D} and
// .{dt,b,c}_layernorm.weight (native mamba.{dt,b,c}_norm.weight);
// model.layers.i.self_attn.{q,k,v,o}_proj.weight;
// model.layers.i.feed_forward.{gate,up,down}_proj.weight (dense), or
// model.layers.i.feed_forward.router.weight and .experts.J.{gate,up,down}_proj.weight.
#pragma once

#include "json_fields.hpp"
#include "model/model_config.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace mmb {

// Throws mmb::Error: MMB_ERR_FORMAT naming the field, MMB_ERR_UNSUPPORTED for what the
// native model cannot represent (another hidden_act, a sliding window). The result has
// passed validate_config.
ModelConfig parse_hf_jamba_config(const nlohmann::json& config, const std::string& what);

// The attention keys as JambaConfig reads them, and NemotronHConfig after it:
// num_attention_heads (32), num_key_value_heads (8; null: one per query head; must divide
// the heads), sliding_window (must be null: MMB_ERR_UNSUPPORTED). The caller sets
// head_dim, biases and positions.
AttentionConfig read_jamba_attention_heads(JsonFields& f);

// The checkpoint name of a native tensor ("layers.3.moe.experts.0.w1.weight" ->
// "model.layers.1.feed_forward.experts.0.gate_proj.weight").
std::vector<std::string> hf_jamba_tensor_names(const std::string& native);

}  // namespace mmb
