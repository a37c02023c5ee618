// Values of the options the bundle commands (synth, verify, bench load) share. Each
// throws MMB_ERR_INVALID_ARGUMENT naming the option and what it accepts.
#pragma once

#include "base/dtype.hpp"
#include "base/error.hpp"
#include "bundle/tensor_codec.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace mmb::cli {

// The value after args[i] (advancing i), or an error naming the option.
inline const std::string& option_value(const std::vector<std::string>& args, size_t& i) {
  if (i + 1 >= args.size()) fail(MMB_ERR_INVALID_ARGUMENT, args[i], " needs a value");
  return args[++i];
}

inline int64_t parse_integer(const std::string& option, const std::string& value, int64_t min, int64_t max) {
  size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != value.size() || v < min || v > max)
    fail(MMB_ERR_INVALID_ARGUMENT, option, " takes an integer in [", min, ", ", max, "], not '", value, "'");
  return v;
}

inline DType parse_dtype(const std::string& value) {
  for (DType d : {DType::F32, DType::F16, DType::BF16, DType::Q8, DType::Q4})
    if (value == dtype_name(d)) return d;
  fail(MMB_ERR_INVALID_ARGUMENT, "--dtype takes f32, f16, bf16, q8 or q4, not '", value, "'");
}

inline Codec parse_codec(const std::string& value) {
  for (Codec c : {Codec::None, Codec::Zstd, Codec::ShuffleZstd})
    if (value == codec_name(c)) return c;
  fail(MMB_ERR_INVALID_ARGUMENT, "--codec takes none, zstd or shuffle-zstd, not '", value, "'");
}

}  // namespace mmb::cli
