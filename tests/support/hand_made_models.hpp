// What the tests of the float64 reference against hand-worked cases share: a reference
// over tensors written out by hand, the smallest model to work a layer through, and the
// activations of DESIGN.md section 5 in float64 for the expected values.
#pragma once

#include "reference/reference_model.hpp"

#include <map>
#include <string>
#include <vector>

namespace mmb::testing {

// Tensor values by native name, row-major.
using Tensors = std::map<std::string, std::vector<double>>;

// A reference model over `tensors`; asking for a tensor they lack throws, naming it.
reference::ReferenceModel reference_of(const ModelConfig& config, const Tensors& tensors);

// d_model 2, vocab 2, identity embedding, no norms: logits are the residual stream.
ModelConfig two_by_two(std::vector<LayerConfig> layers);

double silu(double x);
double softplus(double x);

}  // namespace mmb::testing
