// Mamba-2 checkpoints from the Python ecosystem, read as native models (every layer a
// Mamba-2 mixer, DESIGN.md section 5; tensor names as in hf_mamba_config.hpp).
//
// Hugging Face Mamba2ForCausalLM, config.json with "model_type": "mamba2"
// (transformers models/mamba2/configuration_mamba2.py; every default is that file's):
//   hidden_size = 4096, num_hidden_layers = 64, vocab_size = 32768, num_heads = 128,
//   head_dim = 64, expand = 2 (d_inner = int(expand * hidden_size), which must equal
//   num_heads * head_dim), state_size = 128, n_groups = 8, conv_kernel = 4,
//   use_bias = false (in_proj and out_proj), use_conv_bias = true,
//   layer_norm_epsilon = 1e-5 (block norms, final norm and the gated norm alike),
//   time_step_limit = [0.0, Infinity] (softplus(dt + dt_bias) is clamped to it),
//   tie_word_embeddings = false, hidden_act = "silu" (the only one supported).
//   Ignored: time_step_min / time_step_max / time_step_floor / time_step_rank (they
//   set dt_bias's initialization, nothing at inference; transformers 4.44 to 4.47
//   wrongly clamped dt at time_step_min), rms_norm (transformers applies the gated
//   norm whatever it says), residual_in_fp32 (the residual is f32 here anyway),
//   chunk_size, initializer_range, rescale_prenorm_residual, use_cache, token ids.
//   The gated RMSNorm is taken per group of d_inner / n_groups channels, as mamba_ssm
//   trains it; transformers' own Mamba2 normalizes over all d_inner channels when
//   n_groups > 1 (its bug, transformers PR #40861), which checkpoints never saw.
//
// mamba_ssm's MambaLMHeadModel with ssm_cfg.layer = "Mamba2" (mamba_ssm/modules/
// mamba2.py): ssm_cfg {d_state = 128, d_conv = 4, expand = 2, headdim = 64,
//   ngroups = 1, D_has_hdim = false (D per channel when true), rmsnorm = true,
//   norm_before_gate = false (true is refused), dt_limit = [0.0, Infinity],
//   bias = false, conv_bias = true, d_ssm = null (a d_ssm below d_inner, which adds
//   a gated MLP beside the SSM, is refused)}; the gated norm's eps is mamba_ssm's
//   fixed 1e-5. Ignored: conv_init, A_init_range, dt_min, dt_max, dt_init_floor,
//   chunk_size, use_mem_eff_path.
//
// time_step_limit / dt_limit entries are numbers, Python's Infinity (read through
// with_python_floats_spelled_out), transformers 5's {"__float__": "Infinity"}, or
// null (no limit); read_dt_limit reads them for every family with Mamba-2 mixers.
#pragma once

#include "json_fields.hpp"
#include "model/model_config.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace mmb {

// Throws mmb::Error: MMB_ERR_FORMAT naming the field, MMB_ERR_UNSUPPORTED for what
// the native Mamba-2 layer cannot represent. The result has passed validate_config.
ModelConfig parse_hf_mamba2_config(const nlohmann::json& config, const std::string& what);

// One Mamba-2 mixer from mamba_ssm's ssm_cfg (parse_mamba_ssm_config uses it).
Mamba2Config mamba_ssm_mamba2_mixer(JsonFields& ssm_cfg, uint32_t d_model);

// The [low, high] pair under `key` (time_step_limit, dt_limit, mamba_dt_limit) into
// m.dt_min / m.dt_max, the clamp of softplus(dt + dt_bias); absent or null leaves them
// (no limit). Throws MMB_ERR_FORMAT naming the field unless 0 <= low < high, low finite.
void read_dt_limit(JsonFields& f, const char* key, Mamba2Config& m);

}  // namespace mmb
