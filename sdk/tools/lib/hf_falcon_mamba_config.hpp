// Hugging Face FalconMambaForCausalLM checkpoints ("model_type": "falcon_mamba"), read
// as native models: Mamba-1 layers whose dt (the time_step_rank vector), B and C are
// RMS-normalized without a weight right after x_proj (InnerNorm::RMS).
//
// Keys and defaults are transformers' FalconMambaConfig
// (models/falcon_mamba/configuration_falcon_mamba.py): those of MambaConfig
// (hf_mamba_config.hpp) except use_bias = false, plus mixer_rms_eps = 1e-6 (the eps of
// the dt/B/C norms). tie_word_embeddings defaults to true (PretrainedConfig's default,
// which FalconMambaConfig keeps; transformers then leaves it out of config.json).
// intermediate_size, when present, wins over expand, as in transformers
// (tiiuae/falcon-mamba-7b says expand 16 and intermediate_size 8192 = 2 x 4096).
// Tensor names: those of MambaForCausalLM (hf_mamba_tensor_names).
#pragma once

#include "model/model_config.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace mmb {

// Throws mmb::Error as parse_hf_mamba_config does. The result has passed validate_config.
ModelConfig parse_hf_falcon_mamba_config(const nlohmann::json& config, const std::string& what);

}  // namespace mmb
