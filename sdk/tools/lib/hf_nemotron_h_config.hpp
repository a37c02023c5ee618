// NVIDIA Nemotron-H checkpoints (NemotronHForCausalLM, "model_type": "nemotron_h"), read
// as native models: one pre-normed block per character of hybrid_override_pattern, each
// one native layer: M = Mamba-2, * = attention, - = MLP, E = MoE.
//
// Keys and defaults are those of the NemotronHConfig that the checkpoints ship and name in
// auto_map (configuration_nemotron_h.py; transformers' port has the same keys):
//   vocab_size = 131072, hidden_size = 4096, tie_word_embeddings = false,
//   layer_norm_epsilon = 1e-5 (block norms, norm_f and the Mamba-2 gated norm),
//   hybrid_override_pattern = "M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M-" whose
//   length must equal num_hidden_layers (52); a "layers_block_type" list ("mamba",
//   "attention", "mlp", "moe"), as transformers 5 saves it, is read instead when present,
//   max_position_embeddings = 4096 (the native context_length),
//   attention: num_attention_heads = 32, num_key_value_heads = 8 (null: the query heads),
//   head_dim = 128 (from the config, not hidden_size / heads), attention_bias = false
//   (q, k, v and o alike), no position encoding, scale 1/sqrt(head_dim),
//   sliding_window = null (a window is refused),
//   MLP: intermediate_size = 21504, mlp_hidden_act = "relu2" (the only one supported):
//   down_proj(relu(up_proj x)^2), native w1 = up_proj, w2 = down_proj; mlp_bias = false
//   (MLPs, experts and the shared expert),
//   MoE: n_routed_experts = 8 of moe_intermediate_size = 7688, num_experts_per_tok = 2,
//   a sigmoid router without bias whose e_score_correction_bias (native sel_bias) only
//   chooses; n_group = 1 groups of which topk_group = 1 stay eligible (native n_groups,
//   topk_groups); norm_topk_prob = true (native renorm); routed_scaling_factor = 1.0
//   (native routed_scale); one shared ReLU^2 expert of moe_shared_expert_intermediate_size
//   = 7688 (the code builds exactly one whatever n_shared_experts says);
//   moe_latent_size = null (latent expert projections are refused),
//   Mamba-2: mamba_num_heads = 128 heads of mamba_head_dim = 64 (d_inner = their product;
//   expand is not used), ssm_state_size = 128, n_groups = 8, conv_kernel = 4,
//   use_conv_bias = true, use_bias = false (in_proj and out_proj; mamba_proj_bias is
//   not read by the code), mamba_hidden_act = "silu" (the only one supported),
//   time_step_limit = [0.0, Infinity] (softplus(dt + dt_bias) is clamped to it; as for
//   hf_mamba2_config.hpp, numbers, Infinity, {"__float__": ...} or null), the gated
//   RMSNorm per group of d_inner / n_groups channels.
//   Saved configs spell the Mamba-2 keys as NemotronHConfig's attributes (n_groups,
//   conv_kernel, use_conv_bias, time_step_limit); the constructor's names
//   (mamba_n_groups, mamba_d_conv, mamba_conv_bias, mamba_dt_limit) are read when those
//   are absent, as PretrainedConfig lets the attributes win.
// Ignored: residual_in_fp32 (the native residual is f32 anyway), rescale_prenorm_residual,
// time_step_min / time_step_max / time_step_floor and mamba_dt_min / max / init_floor
// (dt_bias's initialization), chunk_size, expand, use_mamba_kernels, initializer_range,
// dropouts, num_logits_to_keep, use_cache, token ids.
//
// Tensor names: backbone.embeddings.weight, backbone.norm_f.weight, lm_head.weight;
// backbone.layers.i.norm.weight; backbone.layers.i.mixer.* holding, by block, the native
// layers.i.mamba2.* names (in_proj, conv1d, dt_bias, A_log, D, norm, out_proj), the
// attention's {q,k,v,o}_proj, the MLP's {up,down}_proj, or the MoE's gate.weight,
// gate.e_score_correction_bias, experts.J.{up,down}_proj and shared_experts.{up,down}_proj.
#pragma once

#include "model/model_config.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace mmb {

// Throws mmb::Error: MMB_ERR_FORMAT naming the field, MMB_ERR_UNSUPPORTED for what the
// native model cannot represent (other activations, a sliding window, latent MoE
// projections). The result has passed validate_config.
ModelConfig parse_hf_nemotron_h_config(const nlohmann::json& config, const std::string& what);

// The checkpoint name of a native tensor ("layers.1.moe.router.sel_bias" ->
// "backbone.layers.1.mixer.gate.e_score_correction_bias").
std::vector<std::string> hf_nemotron_h_tensor_names(const std::string& native);

}  // namespace mmb
