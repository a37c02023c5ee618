#include "support/hand_made_models.hpp"

#include <cmath>
#include <stdexcept>
#include <utility>

namespace mmb::testing {

reference::ReferenceModel reference_of(const ModelConfig& config, const Tensors& tensors) {
  return reference::ReferenceModel(config, [&tensors](const std::string& name) {
    auto it = tensors.find(name);
    if (it == tensors.end()) throw std::runtime_error("hand-made model has no tensor " + name);
    return it->second;
  });
}

ModelConfig two_by_two(std::vector<LayerConfig> layers) {
  ModelConfig c;
  c.d_model = 2;
  c.vocab_size = 2;
  c.norm = NormKind::None;
  c.final_norm = NormKind::None;
  c.tie_embeddings = true;
  c.layers = std::move(layers);
  return c;
}

double silu(double x) { return x / (1.0 + std::exp(-x)); }
double softplus(double x) { return std::log(1.0 + std::exp(x)); }

}  // namespace mmb::testing
