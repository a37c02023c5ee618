// What the parity and session tests share: models of every layer kind as configs,
// synthetic weights turned into bundles loaded through the public C API, RAII handles
// for the C objects, and the float64 reference fed with the same (rounded) weights.
#pragma once

#include "reference/reference_model.hpp"
#include "synthetic_model.hpp"

#include <moemamba/moemamba.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <vector>

namespace mmb::testing {

struct RuntimeDeleter { void operator()(mmb_runtime* p) const { mmb_runtime_destroy(p); } };
struct ModelDeleter { void operator()(mmb_model* p) const { mmb_model_destroy(p); } };
struct SessionDeleter { void operator()(mmb_session* p) const { mmb_session_destroy(p); } };
struct SamplerDeleter { void operator()(mmb_sampler* p) const { mmb_sampler_destroy(p); } };
using RuntimePtr = std::unique_ptr<mmb_runtime, RuntimeDeleter>;
using ModelPtr = std::unique_ptr<mmb_model, ModelDeleter>;
using SessionPtr = std::unique_ptr<mmb_session, SessionDeleter>;
using SamplerPtr = std::unique_ptr<mmb_sampler, SamplerDeleter>;

// A model for a test: its config, how its weights are stored, and what to change in
// the synthetic weights before packing.
struct ModelCase {
  std::string name;
  ModelConfig config;
  DType dtype = DType::F32;
  uint64_t seed = 1;
  uint32_t pad_rows = 0;  // extra rows in embed.weight (and lm_head.weight when untied)
  // Tensor values (f32, before dtype rounding) replacing the synthetic ones.
  std::vector<std::pair<std::string, std::vector<float>>> overrides;
};

// Short builders of test configs, so that a case reads as its layer plan. Each sets
// what its arguments name; every other field keeps its default.
namespace builders {
LayerConfig mamba(uint32_t d_inner, uint32_t d_state, uint32_t d_conv, uint32_t dt_rank, bool in_bias = false,
                  bool conv_bias = true, bool out_bias = false);
FeedForwardConfig ff(uint32_t d_ff, ExpertAct act, bool bias = false);
LayerConfig mlp(FeedForwardConfig f);
LayerConfig moe(uint32_t n_experts, uint32_t top_k, FeedForwardConfig expert, RouterAct router);
// The Mamba part of one layer and the MoE part of another, side by side in one block.
LayerConfig parallel(const LayerConfig& mamba_part, const LayerConfig& moe_part, bool shared_norm);
ModelConfig model(uint32_t d_model, uint32_t vocab, NormKind norm, NormKind final_norm, bool tied,
                  std::vector<LayerConfig> layers);
ModelCase named(std::string name, ModelConfig config, uint64_t seed);
// The divisors of n, ascending: the head and group counts a size allows.
std::vector<uint32_t> divisors(uint32_t n);
// The case of that name among `cases` (REQUIREs that it exists).
ModelCase case_named(const std::vector<ModelCase>& cases, const std::string& name);
}  // namespace builders

// Every layer kind and option of DESIGN.md section 5, at small sizes: hand-made cases
// named after the published models they imitate, plus seeded random combinations.
std::vector<ModelCase> parity_cases();

// The synthetic weights of a case, with its padding and overrides applied.
SyntheticModel build_weights(const ModelCase& c);
// A reference model over exactly the values the library will see (after rounding).
reference::ReferenceModel build_reference(const SyntheticModel& weights);
// The bundle bytes for the weights (uncompressed tensors).
std::vector<std::byte> bundle_bytes(const SyntheticModel& weights);

// n_threads: compute threads of the runtime (the caller's included); backend: MMB_BACKEND_*.
RuntimePtr make_runtime(int32_t n_threads = 2, int32_t backend = MMB_BACKEND_CPU);
// A CPU runtime of two compute threads with what `configure` sets on top (job mode,
// session memory budget, allocator or page-store hooks).
RuntimePtr make_runtime(const std::function<void(mmb_runtime_options&)>& configure);
// Loads the weights through mmb_model_load_memory (the bytes are copied).
ModelPtr load_model(mmb_runtime* runtime, const SyntheticModel& weights);
SessionPtr make_session(mmb_model* model);
// A session with its KV cache's element type (MMB_KV_F16 or MMB_KV_F32) and context
// limit (0: the model's).
SessionPtr make_session(mmb_model* model, int32_t kv_type, uint64_t max_context = 0);

// One mmb_session_step that must succeed; returns the logits (vocab floats).
std::vector<float> step(mmb_session* session, int32_t token);
std::vector<uint8_t> save_state(const mmb_session* session);
uint64_t position(const mmb_session* session);
mmb_model_info model_info(const mmb_model* model);
int32_t vocab_size(const mmb_model* model);

// Seeded, portable token ids in [0, vocab).
std::vector<int32_t> random_tokens(uint64_t seed, size_t n, uint32_t vocab);

// The library's logits against the float64 reference (build_reference(weights)) over
// n_steps random tokens seeded from c.seed, one mmb_session_step at a time; every fifth
// step asks for no logits (the head is skipped) to show that skipping it leaves the
// state right. The session keeps keys and values as kv_type. A step beyond
// kv_logit_tolerance stops the test (REQUIRE); the smallest expert-selection margin and
// the final position are CHECKed. Returns the worst error as a fraction of the tolerance.
double check_parity(const ModelCase& c, const SyntheticModel& weights, size_t n_steps, int32_t kv_type = MMB_KV_F32);
// check_parity on each of `cases` named in `chosen`, once stored in each of `dtypes`,
// with the weights `build` gives (build_weights, build_mamba2_weights). Returns how
// many runs there were, for the caller to check that every chosen name is a case.
size_t check_parity_in_dtypes(const std::vector<ModelCase>& cases, const std::set<std::string>& chosen,
                              std::initializer_list<DType> dtypes, SyntheticModel (*build)(const ModelCase&),
                              size_t n_steps, int32_t kv_type = MMB_KV_F32);

// How far a quantized twin's logits drift from the f32 model's: a random "tiny" model
// of four Mamba layers and an MLP (no MoE: a routed layer's near ties would flip whole
// experts), stored as f32 and as `dtype`, stepped through the C API on the same 64
// random tokens.
struct QuantizedDrift {
  int32_t weight_dtype = -1;     // what the quantized model reports
  double bytes_ratio = 0;        // f32 weight bytes over the quantized model's
  double overall = 0, worst = 0; // relative RMS logit difference: all steps, the worst step
  size_t same_top = 0, steps = 0;
};
QuantizedDrift quantized_drift(DType dtype);

// Sessions of one model at mixed positions, for the batch tests: for each i, a session
// to step in batches, a twin to step alone and a reference, all three fed the same
// advance[i] random tokens (seed 50 + i).
struct MixedPositions {
  std::vector<SessionPtr> batch, single;
  std::vector<reference::ReferenceModel> refs;
  std::vector<mmb_session*> handles;  // batch's sessions, for mmb_step_batch
};
MixedPositions sessions_at_mixed_positions(mmb_model* model, const SyntheticModel& weights,
                                           std::span<const size_t> advance);

// Tolerance of the library's float32 logits against the float64 reference; see the
// comment at its definition for why this figure.
double logit_tolerance(const std::vector<double>& reference_logits);
// The tolerance for a session of `config` that keeps keys and values as kv_type:
// logit_tolerance, widened for f16 keys and values of a model with attention layers
// (see the comment at its definition).
double kv_logit_tolerance(const std::vector<double>& reference_logits, const ModelConfig& config, int32_t kv_type);
// Below this gap between the score of a chosen and of a rejected expert, a float32
// implementation may rightly choose differently from the float64 reference: its router
// scores carry errors around 1e-6 (rounding in the layers before and in the router's
// own dot product). Comparisons against the reference require a larger gap.
constexpr double kMinSelectionMargin = 1e-5;

// Largest |a - b| over the entries.
double max_abs_diff(const std::vector<float>& a, const std::vector<double>& b);
double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b);
std::vector<double> widen(const std::vector<float>& v);

}  // namespace mmb::testing
