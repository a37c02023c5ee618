// Mamba checkpoints from the Python ecosystem, read as native models (plain Mamba:
// every layer a Mamba mixer, RMSNorm blocks and final norm unless a config says so).
//
// Hugging Face MambaForCausalLM, config.json with "model_type": "mamba":
//   hidden_size, num_hidden_layers, vocab_size (required); state_size = 16,
//   conv_kernel = 4, intermediate_size or expand (= 2) * hidden_size,
//   time_step_rank = "auto" (ceil(hidden_size / 16)) or an integer, use_bias = true
//   (in_proj and out_proj; transformers' default, released configs set false), use_conv_bias = true, layer_norm_epsilon = 1e-5,
//   tie_word_embeddings = true, hidden_act = "silu" (the only one supported).
// mamba_ssm's MambaLMHeadModel config.json (d_model, n_layer, vocab_size required;
//   ssm_cfg {d_state, d_conv, expand, dt_rank, conv_bias, bias, layer = "Mamba1"},
//   rms_norm = true (false: LayerNorm with bias), tie_embeddings = true,
//   norm_epsilon = 1e-5; pad_vocab_size_multiple is implied by the embedding's rows);
//   ssm_cfg.layer = "Mamba2" makes every layer a Mamba-2 mixer (hf_mamba2_config.hpp).
// Other keys of these files are ignored: they describe training, not the model.
//
// Tensor names (these families, Hugging Face Mamba2ForCausalLM and
// FalconMambaForCausalLM too): backbone.embeddings.weight (mamba_ssm:
// backbone.embedding.weight), backbone.layers.N.norm.{weight,bias},
// backbone.layers.N.mixer.* (the native layers.N.mamba.* or layers.N.mamba2.*:
// in_proj, conv1d, x_proj, dt_proj, out_proj, A_log, D, dt_bias, norm),
// backbone.norm_f.{weight,bias}, lm_head.weight. Shapes are those of the native names.
#pragma once

#include "json_fields.hpp"
#include "model/model_config.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace mmb {

// transformers' MambaConfig defaults that the families built on it change
// (FalconMambaConfig: use_bias = false).
struct HfMambaDefaults {
  bool use_bias = true;
  bool tie_word_embeddings = true;
};

// Both throw mmb::Error: MMB_ERR_FORMAT naming the field, or MMB_ERR_UNSUPPORTED for
// a model these cannot represent (another activation, attention or MLP blocks). The
// result has passed validate_config.
ModelConfig parse_hf_mamba_config(const nlohmann::json& config, const std::string& what);
ModelConfig parse_mamba_ssm_config(const nlohmann::json& config, const std::string& what);
// parse_hf_mamba_config with another family's defaults.
ModelConfig parse_hf_mamba_family_config(const nlohmann::json& config, const std::string& what,
                                         const HfMambaDefaults& defaults);

// Fields that every family built on these mixers spells the same way, under its own key:
// a dt rank of "auto" (or absent: ceil(d_model / 16)) or an integer; a mixer width
// int(expand * d_model) from a number expand (default 2), as the Python classes compute it.
uint32_t read_dt_rank(JsonFields& f, const char* key, uint32_t d_model);
uint32_t read_expanded_width(JsonFields& f, const char* key, uint32_t d_model);

// validate_config, its message prefixed with `what` (the config file).
ModelConfig validated_config(ModelConfig config, const std::string& what);

// The names a native tensor may have in these checkpoints, preferred first
// ("embed.weight" -> {"backbone.embeddings.weight", "backbone.embedding.weight"}).
std::vector<std::string> hf_mamba_tensor_names(const std::string& native);

}  // namespace mmb
