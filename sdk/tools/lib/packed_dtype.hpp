// Which dtype each tensor of a model is stored in when its weights are packed as one
// dtype (mmb pack --dtype, mmb synth, mmb bench decode). One rule for every tool:
//   - A_log, D, dt_proj.bias and Mamba-2's dt_bias are always f32: they are tiny, widening them is
//     lossless, and the scan's decay exp(dt * A) amplifies their rounding;
//   - so is a router's selection bias (router.sel_bias, Nemotron-H's e_score_correction_bias):
//     it is added to the router's scores for selection only, and rounding it to 16 bits can
//     reorder near-tied experts and so change which are picked;
//   - with q8 (or q4), the weight matrices (TensorSpec::quantizable) are q8 (q4) except the
//     routers, and every other tensor is f32. Routers stay f32 because expert
//     selection is discrete (a rounding that flips a near tie swaps a whole expert's
//     output) and they are a sliver of the bytes; norms, biases and the conv kernel
//     are read element by element and are tiny;
//   - otherwise the tensor takes the weights' dtype.
#pragma once

#include "base/dtype.hpp"
#include "model/model_config.hpp"

namespace mmb {

DType packed_dtype(const TensorSpec& spec, DType weights);

// Whether packed_dtype keeps the tensor f32 whatever the weights' dtype (the scan's parameters,
// the routers' selection bias). A checkpoint's own dtype is judged without these tensors.
bool keeps_f32(const std::string& native_name);

}  // namespace mmb
