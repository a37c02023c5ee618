// Small safetensors checkpoints made inside the tests (in a test::TempDir): tensors
// with chosen values for every tensor a config implies (under native or Hugging Face
// names), and raw safetensors images for malformed-input tests.
#pragma once

#include "base/dtype.hpp"
#include "model/model_config.hpp"
#include "safetensors.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace mmb::test {

// Writes `bytes` (text or binary) to `path`, replacing the file.
void write_text(const std::string& path, const std::string& bytes);

// One tensor with its values kept as f32 (exactly what the encoded bytes hold).
struct FixtureTensor {
  std::string name;
  SafetensorsDType dtype = SafetensorsDType::F32;
  std::vector<uint64_t> shape;
  std::vector<float> values;
  std::vector<std::byte> bytes;
};

// Values k/64 for k in [-128, 128]: exact in f32, f16 and bf16 alike, so any dtype
// conversion must give them back unchanged. Each tensor gets its own sequence.
std::vector<float> exact_values(uint64_t count, uint64_t seed);
// Values with full f32 mantissas, which narrowing must round.
std::vector<float> rough_values(uint64_t count, uint64_t seed);
std::vector<std::byte> encode(const std::vector<float>& values, SafetensorsDType dtype);

struct FixtureOptions {
  SafetensorsDType dtype = SafetensorsDType::F32;
  uint64_t seed = 1;
  uint64_t padded_rows = 0;  // extra rows in embed.weight (and an untied lm_head.weight)
  bool rough = false;        // rough_values instead of exact_values
  // Native name -> name in the file.
  std::function<std::string(const std::string&)> rename = [](const std::string& n) { return n; };
};

// Every tensor tensor_specs(config) lists, in its order.
std::vector<FixtureTensor> fixture_tensors(const ModelConfig& config, const FixtureOptions& options = {});
const FixtureTensor& fixture_find(const std::vector<FixtureTensor>& tensors, const std::string& name);

// Writes the tensors as one safetensors file.
void write_fixture(const std::string& path, const std::vector<FixtureTensor>& tensors);

// Hugging Face MambaForCausalLM's names for a native tensor name.
std::string hf_name(const std::string& native);

// A safetensors image from raw parts: the 8-byte length (header_length, or else the
// header's size), the header text, then the data bytes.
std::string raw_safetensors(const std::string& header, const std::string& data,
                            std::optional<uint64_t> header_length = std::nullopt);

// The f32 values of `bytes` holding `dtype` elements.
std::vector<float> decode(const std::byte* bytes, size_t count, DType dtype);
// Rounds values as storing them in `dtype` would.
std::vector<float> round_to(const std::vector<float>& values, DType dtype);

}  // namespace mmb::test
