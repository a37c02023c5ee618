// Models for the Mamba-2 (SSD) and Mamba-1 inner-norm tests: builders for the layer
// configs, the cases the library is compared on, and their synthetic weights.
#pragma once

#include "support/model_harness.hpp"

#include <cstdint>
#include <limits>
#include <vector>

namespace mmb::testing {

// A Mamba-2 layer with the options at their defaults (G groups, gated norm of
// d_inner / G channels, conv bias, no projection biases, D per head, no dt clamp).
LayerConfig mamba2_layer(uint32_t d_inner, uint32_t d_state, uint32_t d_conv, uint32_t n_heads, uint32_t n_groups);
// A Mamba-1 layer with the dt/B/C norms of Falcon-Mamba (RMS) or Jamba (RMSWeighted).
LayerConfig inner_norm_mamba_layer(uint32_t d_inner, uint32_t d_state, uint32_t d_conv, uint32_t dt_rank, InnerNorm norm,
                                   float eps = 1e-6f);

// Hand-made cases for each option of the Mamba-2 layer and the Mamba-1 inner norms
// (named after what they stress), plans that mix them with Mamba, MoE and MLP layers,
// and seeded random Mamba-2 layers. All f32; tests set dtype themselves.
std::vector<ModelCase> mamba2_cases();
// The case of that name (REQUIREs that it exists).
ModelCase mamba2_case(const std::string& name);

// The weights of a case, drawn here rather than by make_synthetic_model so that the
// scan's inputs span the ranges these tests need (see the .cpp); pad_rows and
// overrides apply as in build_weights. Stored in c.dtype as `mmb pack` would
// (packed_dtype: q8 for the weight matrices, f32 for A_log and D).
SyntheticModel build_mamba2_weights(const ModelCase& c);

// Floats of recurrent state per session, from DESIGN.md's layer definitions, written
// out here independently of state_floats(): Mamba d_inner * (d_state + d_conv - 1),
// Mamba-2 H * P * N + conv_channels * (d_conv - 1).
uint64_t expected_state_floats(const ModelConfig& config);

}  // namespace mmb::testing
