// config.json of the native dialect (DESIGN.md section 5), read and written.
//
// {"format": "moemamba", "d_model": 64, "vocab_size": 256,
//  "norm": "rms" | "layer",                      default "rms"
//  "final_norm": "rms" | "layer" | "none",       default: same as norm
//  "norm_eps": 1e-5, "tie_embeddings": true,     defaults
//  "embedding_scale": 1, "residual_scale": 1, "logits_divisor": 1,   defaults (nonzero)
//  "context_length": 0,                          default (0: 4096)
//  "layers": [ layer, ... ]   or   "layer_pattern": {"repeat": 12, "pattern": [layer, ...]},
//  "tokenizer": "bytes" | "<file beside config.json>",   optional
//  "metadata": {"name": "...", "license": "..."}}        optional, copied into the bundle
// layer (defaults after '='):
//  {"kind": "mamba", "d_inner" = 2*d_model, "d_state" = 16, "d_conv" = 4,
//   "dt_rank" = "auto" (ceil(d_model/16)) or an integer,
//   "in_proj_bias" = false, "conv_bias" = true, "out_proj_bias" = false,
//   "x_proj_experts" / "z_proj_experts" / "out_proj_experts" = absent (a plain projection)
//     or {"n_experts", "top_k" = 1, "router" = "softmax", "router_bias" = false,
//         "sel_bias" = false, "renorm" = false, "routed_scale" = 1.0, "bias" = false},
//   "dt_bc_norm" = "none" | "rms" | "rms_weighted", "dt_bc_norm_eps" = 1e-6}
//  {"kind": "mamba2", "n_heads", "d_inner" = 2*d_model, "d_state" = 128, "d_conv" = 4,
//   "n_groups" = 1, "norm_group_size" = 0 (d_inner / n_groups), "gated_norm" = true,
//   "norm_eps" = 1e-5, "in_proj_bias" = false, "conv_bias" = true, "out_proj_bias" = false,
//   "d_per_channel" = false, "dt_min" = 0, "dt_max" = absent or null (no limit)}
//  {"kind": "moe", "n_experts", "d_ff", "expert", "top_k" = 1, "expert_bias" = false,
//   "router" = "softmax" | "sigmoid" | "relu", "router_bias" = false, "sel_bias" = false,
//   "renorm" = false, "routed_scale" = 1.0, "n_shared" = 0, "shared_d_ff" = d_ff,
//   "shared_expert" = expert, "shared_bias" = expert_bias, "normalize_expert_output" = false,
//   "n_groups" = 1, "topk_groups" = 1}
//  {"kind": "attention", "n_heads", "n_kv_heads" = n_heads, "head_dim" = d_model / n_heads,
//   "rotary_dim" = 0 (no RoPE), "rope_theta" = 10000, "scale" = 0 (1/sqrt(head_dim)),
//   "qkv_bias" = false, "out_bias" = false}
//  {"kind": "mlp", "d_ff", "expert", "bias" = false}
//  {"kind": "parallel", "shared_norm" = false, "mamba": {mamba fields}, "moe": {moe fields}}
// expert: "relu" | "gelu" | "gelu_tanh" | "silu" | "swiglu" | "geglu" | "relu2".
// Unknown keys are errors: a misspelt key must not silently become a default.
#pragma once

#include "model/model_config.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <utility>
#include <vector>

namespace mmb {

struct NativeConfig {
  ModelConfig model;
  std::string tokenizer;  // as given: "" when absent, "bytes", or a file name
  std::vector<std::pair<std::string, std::string>> metadata;
};

// Parses and validates (validate_config included). Throws mmb::Error(MMB_ERR_FORMAT)
// with a message starting with `what` and naming the field.
NativeConfig parse_native_config(const nlohmann::json& config, const std::string& what);

// The config.json text for `config`, every field written out; parse_native_config
// reads it back to the same ModelConfig.
std::string native_config_json(const ModelConfig& config);

}  // namespace mmb
