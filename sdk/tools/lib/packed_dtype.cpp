#include "packed_dtype.hpp"

#include <string_view>

namespace mmb {

namespace {

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

bool keeps_f32(const std::string& native_name) {
  return ends_with(native_name, ".A_log") || ends_with(native_name, ".D") || ends_with(native_name, ".dt_proj.bias") ||
         ends_with(native_name, ".dt_bias") || ends_with(native_name, ".router.sel_bias");
}

DType packed_dtype(const TensorSpec& spec, DType weights) {
  if (keeps_f32(spec.name)) return DType::F32;
  if (!dtype_quantized(weights)) return weights;
  return spec.quantizable && !ends_with(spec.name, ".router.weight") ? weights : DType::F32;
}

}  // namespace mmb
