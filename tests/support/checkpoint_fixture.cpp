#include "checkpoint_fixture.hpp"

#include "base/dtype.hpp"
#include "base/error.hpp"

#include <cstring>
#include <fstream>
#include <regex>
#include <stdexcept>

namespace mmb::test {

void write_text(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

namespace {

uint64_t next(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

std::vector<float> exact_values(uint64_t count, uint64_t seed) {
  std::vector<float> v(count);
  for (auto& x : v) x = float(int64_t(next(seed) % 257) - 128) / 64.0f;
  return v;
}

std::vector<float> rough_values(uint64_t count, uint64_t seed) {
  std::vector<float> v(count);
  for (auto& x : v) x = float(double(next(seed) >> 11) * 0x1.0p-53 * 8.0 - 4.0);
  return v;
}

std::vector<std::byte> encode(const std::vector<float>& values, SafetensorsDType dtype) {
  std::vector<std::byte> out(values.size() * safetensors_dtype_size(dtype));
  for (size_t i = 0; i < values.size(); ++i) {
    std::byte* p = out.data() + i * safetensors_dtype_size(dtype);
    switch (dtype) {
      case SafetensorsDType::F32: std::memcpy(p, &values[i], 4); break;
      case SafetensorsDType::F64: { double d = values[i]; std::memcpy(p, &d, 8); break; }
      case SafetensorsDType::F16: { uint16_t h = f32_to_f16(values[i]); std::memcpy(p, &h, 2); break; }
      case SafetensorsDType::BF16: { uint16_t h = f32_to_bf16(values[i]); std::memcpy(p, &h, 2); break; }
    }
  }
  return out;
}

std::vector<float> decode(const std::byte* bytes, size_t count, DType dtype) {
  std::vector<float> v(count);
  for (size_t i = 0; i < count; ++i) {
    if (dtype == DType::F32) {
      std::memcpy(&v[i], bytes + 4 * i, 4);
    } else {
      uint16_t h;
      std::memcpy(&h, bytes + 2 * i, 2);
      v[i] = dtype == DType::F16 ? f16_to_f32(h) : bf16_to_f32(h);
    }
  }
  return v;
}

std::vector<float> round_to(const std::vector<float>& values, DType dtype) {
  std::vector<float> v(values);
  for (auto& x : v) {
    if (dtype == DType::F16) x = f16_to_f32(f32_to_f16(x));
    if (dtype == DType::BF16) x = bf16_to_f32(f32_to_bf16(x));
  }
  return v;
}

std::vector<FixtureTensor> fixture_tensors(const ModelConfig& config, const FixtureOptions& options) {
  std::vector<FixtureTensor> out;
  uint64_t seed = options.seed;
  for (const TensorSpec& spec : tensor_specs(config)) {
    FixtureTensor t;
    t.name = options.rename(spec.name);
    t.dtype = options.dtype;
    t.shape = spec.shape;
    if (spec.min_rows) t.shape[0] += options.padded_rows;
    uint64_t n = 1;
    for (uint64_t d : t.shape) n *= d;
    t.values = options.rough ? rough_values(n, ++seed * 7919) : exact_values(n, ++seed * 7919);
    // What the file really holds, after rounding to its dtype.
    if (options.dtype == SafetensorsDType::F16) t.values = round_to(t.values, DType::F16);
    if (options.dtype == SafetensorsDType::BF16) t.values = round_to(t.values, DType::BF16);
    t.bytes = encode(t.values, options.dtype);
    out.push_back(std::move(t));
  }
  return out;
}

const FixtureTensor& fixture_find(const std::vector<FixtureTensor>& tensors, const std::string& name) {
  for (const auto& t : tensors)
    if (t.name == name) return t;
  throw std::runtime_error("fixture has no tensor " + name);
}

void write_fixture(const std::string& path, const std::vector<FixtureTensor>& tensors) {
  std::vector<SafetensorsTensor> files;
  for (const auto& t : tensors) files.push_back({t.name, t.dtype, t.shape, t.bytes});
  write_safetensors(path, files);
}

std::string hf_name(const std::string& native) {
  if (native == "embed.weight") return "backbone.embeddings.weight";
  if (native == "lm_head.weight") return native;
  static const std::regex mixer(R"(^layers\.(\d+)\.mamba\.)");
  std::string name = std::regex_replace(native, mixer, "layers.$1.mixer.");
  return "backbone." + name;
}

std::string raw_safetensors(const std::string& header, const std::string& data, std::optional<uint64_t> header_length) {
  const uint64_t n = header_length.value_or(header.size());
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = char((n >> (8 * i)) & 0xff);
  return out + header + data;
}

}  // namespace mmb::test
