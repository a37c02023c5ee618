// Random models with sane statistics, for tests, benchmarks and the demo bundle:
// every tensor the config implies, filled from a seeded generator so the same seed
// gives the same bytes everywhere. Values follow the usual initializations (linear
// weights ~ N(0, 1/fan_in), A_log = log(1..d_state) (Mamba-2: log uniform(1, 16) per
// head, D = 1), dt in [1e-3, 1e-1] log-uniformly, norms ~ 1),
// so activations stay in a realistic range through many layers.
#pragma once

#include "base/progress.hpp"
#include "bundle/bundle_writer.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace mmb {

struct SyntheticOptions {
  uint64_t seed = 1;
  // Of every tensor; for q8 or q4, of the tensors packed_dtype.hpp makes so (the rest f32).
  DType dtype = DType::F32;
  // Progress in bytes of the tensors made (in their dtype), after each tensor: first 0,
  // last the total. Returning false cancels (MMB_ERR_CANCELLED).
  ProgressFn* progress = nullptr;
};

// Owns the tensor bytes that contents.tensors point into. Movable, not copyable.
struct SyntheticModel {
  BundleContents contents;
  std::vector<std::vector<std::byte>> storage;

  SyntheticModel() = default;
  SyntheticModel(SyntheticModel&&) = default;
  SyntheticModel& operator=(SyntheticModel&&) = default;
  SyntheticModel(const SyntheticModel&) = delete;
  SyntheticModel& operator=(const SyntheticModel&) = delete;

  // Values of a tensor as f32 (after dtype rounding), for references and checks.
  std::vector<float> values(const std::string& name) const;
};

SyntheticModel make_synthetic_model(const ModelConfig& config, const SyntheticOptions& options);

// Named shapes: "tiny" (every layer kind, byte vocab), "tiny-parallel-routed" (parallel
// layers and a Mamba layer with routed projections, byte vocab), "mamba-130m" (Hugging Face
// state-spaces/mamba-130m: d_model 768, 24 layers, vocab 50280), "moe-mamba-130m"
// (alternating Mamba / 8-expert top-1 MoE, similar active size), "mamba2-130m" and
// "mamba2-1.3b" (state-spaces/mamba2-*: d_model 768 / 2048, 24 / 48 Mamba-2 layers of
// 24 / 64 heads of 64 channels, d_state 128, one group, vocab 50288 rows, tied),
// "falcon-mamba-7b" (tiiuae/falcon-mamba-7b: d_model 4096, 64 Mamba layers, d_inner
// 8192, d_state 16, dt_rank 256, RMS-normed dt/B/C, vocab 65024, untied),
// "nemotron-h-4b" (nvidia/Nemotron-H-4B-Base-8K: d_model 3072, 52 blocks of Mamba-2,
// GQA attention without RoPE and ReLU^2 MLPs, vocab 131072, untied, 8K context),
// "granite-4.0-h-tiny" (ibm-granite: d_model 1536, 40 decoder layers, attention at 4 of
// them, 64 SwiGLU experts top 6 plus a shared MLP, Granite's multipliers, tied),
// "granite-4.0-h-micro" and "granite-4.0-h-1b" (the dense hybrids: d_model 2048 / 1536,
// a shared MLP instead of experts), and "small-hybrid" (a few of every hybrid part, for
// fast tests: Mamba-2, GQA attention with RoPE, MoE with a shared expert, MLP,
// multipliers, 2K context). Throws MMB_ERR_INVALID_ARGUMENT listing the names for an
// unknown one.
ModelConfig named_shape(const std::string& name);
std::vector<std::string> named_shapes();

// An attention layer: GQA with n_heads / n_kv_heads query heads per key/value head,
// RoPE on the first rotary_dim dimensions of each head (0: none), default theta and
// softmax scale, no biases.
LayerConfig attention_layer(uint32_t n_heads, uint32_t n_kv_heads, uint32_t head_dim, uint32_t rotary_dim = 0);

}  // namespace mmb
