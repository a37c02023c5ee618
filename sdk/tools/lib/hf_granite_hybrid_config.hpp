// IBM Granite 4.0 H checkpoints (Hugging Face GraniteMoeHybridForCausalLM, config.json
// with "model_type": "granitemoehybrid"), read as native models (DESIGN.md section 5).
//
// A decoder layer is r += m * mixer(rmsnorm(r)); r += m * ffn(rmsnorm(r)), m the
// residual_multiplier: two native layers, a mixer (Mamba-2 or attention, by layer_types)
// then an MoE layer (routed experts plus the shared MLP) or, with no experts, an MLP
// layer (the shared MLP alone), each with its own pre-norm. Embeddings are scaled by
// embedding_multiplier, logits divided by logits_scaling.
//
// Defaults (transformers models/granitemoehybrid/configuration_granitemoehybrid.py,
// GraniteMoeHybridConfig; JSON null means the default where the class accepts None):
//   vocab_size = 32000, hidden_size = 4096, num_hidden_layers = 32,
//   layer_types = null (every layer "mamba"; otherwise one of "mamba" / "attention" per
//   layer; "layers_block_type" is the class's alias for it), rms_norm_eps = 1e-6 (block,
//   final and gated norms), tie_word_embeddings = false, hidden_act = "silu" (SwiGLU
//   experts and the mixer's conv activation; "swish" is the same function),
//   max_position_embeddings = 2048 (the native context_length),
//   embedding_multiplier = 1.0, residual_multiplier = 1.0, logits_scaling = 1.0,
//   attention_multiplier = 1.0 (the softmax scale itself, not 1/sqrt(head_dim)).
//   Attention: num_attention_heads = 32, num_key_value_heads = null (= the heads),
//   head_dim = hidden_size / num_attention_heads (floor; transformers reads a "head_dim"
//   key when one is there), attention_bias = false (q, k, v and o alike),
//   position_embedding_type = null (no positions; "nope" likewise; "rope": rotate-half
//   RoPE on the whole head with rope_theta = 10000.0, or transformers 5's
//   rope_parameters.rope_theta; a rope_scaling / rope_parameters type other than
//   "default" is refused).
//   Experts: num_local_experts = 8 (0: no routed experts, an MLP layer),
//   num_experts_per_tok = 2, intermediate_size = 11008 (each expert's d_ff),
//   shared_intermediate_size = 1024. Router: top-k of the logits, softmax over those k
//   (the native softmax router with renorm). input_linear [E, 2 d_ff, d]: the first
//   d_ff rows of expert j go through silu, times the second d_ff (native w1, w3);
//   output_linear [E, d, d_ff] is w2. The shared MLP's input_linear [2 d_shared, d] is
//   cut the same way; the native shared expert 0 (MoE) or the MLP layer itself.
//   Mamba-2: mamba_n_heads = 128, mamba_n_groups = 1, mamba_d_state = 256,
//   mamba_d_head = "auto" (int(mamba_expand x hidden_size) / mamba_n_heads; the product
//   must be the mixer's width), mamba_d_conv = 4, mamba_expand = 2,
//   mamba_conv_bias = true, mamba_proj_bias = false (in_proj and out_proj),
//   time_step_limit = [0.0, Infinity] (transformers 5 reads it; 4.x hard-codes it),
//   D, A_log and dt_bias one per head. The gated RMSNorm is taken per group of
//   d_inner / mamba_n_groups channels, as the family trains it (its training path,
//   mamba_ssm's mamba_split_conv1d_scan_combined, passes group_size = d_inner / ngroups;
//   transformers' inference path normalizes all d_inner channels at once, which only
//   differs for mamba_n_groups > 1; every published Granite 4.0 H has 1).
//   Ignored (training or speed only): mamba_chunk_size, time_step_min / time_step_max,
//   initializer_range, attention_dropout, output_router_logits, router_aux_loss_coef,
//   use_cache, token ids, normalization_function, and keys the class does not know.
//
// Tensor names: model.embed_tokens.weight, model.norm.weight, lm_head.weight;
// model.layers.N.{input_layernorm, post_attention_layernorm}.weight;
// model.layers.N.mamba.{in_proj, conv1d, dt_bias, A_log, D, norm, out_proj};
// model.layers.N.self_attn.{q,k,v,o}_proj.{weight,bias};
// model.layers.N.block_sparse_moe.{router.layer.weight, input_linear.weight, output_linear.weight};
// model.layers.N.shared_mlp.{input_linear, output_linear}.weight.
#pragma once

#include "model/model_config.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace mmb {

// Throws mmb::Error: MMB_ERR_FORMAT naming the field, MMB_ERR_UNSUPPORTED naming the
// field for what the native model cannot represent (another activation, RoPE scaling,
// an attention_multiplier <= 0, an unknown position_embedding_type). The result has
// passed validate_config.
ModelConfig parse_hf_granite_hybrid_config(const nlohmann::json& config, const std::string& what);

// The checkpoint name of a native tensor of `config` (parse_hf_granite_hybrid_config's
// result): native layers 2N and 2N + 1 come from decoder layer N; experts and the
// shared MLP's halves are parts of packed tensors (tensor_slice.hpp).
std::vector<std::string> hf_granite_hybrid_tensor_names(const std::string& native, const ModelConfig& config);

}  // namespace mmb
