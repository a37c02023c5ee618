// Rules every bundle's tensor table obeys, checked by the writer on its input
// (MMB_ERR_INVALID_ARGUMENT) and by the reader on a file (MMB_ERR_FORMAT): the
// status to throw is the caller's.
#pragma once

#include "base/dtype.hpp"
#include "bundle/tensor_view.hpp"
#include "model/model_config.hpp"

#include <moemamba/moemamba.h>

#include <cstdint>
#include <string>
#include <vector>

namespace mmb {

// tensor_bytes(dtype, shape), after checking the rank (at most kMaxTensorRank; exactly
// 2 for q8) and that neither the element count nor the byte count overflows 64 bits.
uint64_t tensor_raw_size(const std::string& name, DType dtype, const std::vector<uint64_t>& shape, mmb_status status);

// Names are unique, and the tensors are exactly those tensor_specs(config) lists, each
// with its shape (embed.weight and lm_head.weight may have more rows than the vocabulary)
// and q8 only where the spec is quantizable.
void check_tensor_set(const ModelConfig& config, const std::vector<TensorView>& tensors, mmb_status status);

}  // namespace mmb

namespace mmb {

// "[64, 1, 4]", for messages and tables.
std::string shape_string(const std::vector<uint64_t>& shape);

}  // namespace mmb
