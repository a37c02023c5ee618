// What the parity and session tests share: models of every layer kind as configs,
// synthetic weights turned into bundles loaded through the public C API, RAII handles
// for the C objects, and the float64 reference fed with the same (rounded) weights.
#pragma once

#include "reference/reference_model.hpp"
#include "synthetic_model.hpp"

#include <moemamba/moemamba.h>

#include <cstdint>
#include <memory>
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
// Loads the weights through mmb_model_load_memory (the bytes are copied).
ModelPtr load_model(mmb_runtime* runtime, const SyntheticModel& weights);
SessionPtr make_session(mmb_model* model);

// One mmb_session_step that must succeed; returns the logits (vocab floats).
std::vector<float> step(mmb_session* session, int32_t token);
std::vector<uint8_t> save_state(const mmb_session* session);
uint64_t position(const mmb_session* session);
mmb_model_info model_info(const mmb_model* model);
int32_t vocab_size(const mmb_model* model);

// Seeded, portable token ids in [0, vocab).
std::vector<int32_t> random_tokens(uint64_t seed, size_t n, uint32_t vocab);

// Tolerance of the library's float32 logits against the float64 reference; see the
// comment at its definition for why this figure.
double logit_tolerance(const std::vector<double>& reference_logits);
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
