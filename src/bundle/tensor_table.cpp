#include "bundle/tensor_table.hpp"

#include "base/error.hpp"
#include "bundle/bundle_format.hpp"

#include <string_view>
#include <unordered_map>
#include <unordered_set>

namespace mmb {

uint64_t TensorView::elements() const {
  uint64_t n = 1;
  for (uint64_t d : shape) n *= d;
  return n;
}

std::string shape_string(const std::vector<uint64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

uint64_t tensor_raw_size(const std::string& name, DType dtype, const std::vector<uint64_t>& shape, mmb_status status) {
  if (shape.size() > kMaxTensorRank)
    fail(status, "tensor '", name, "': rank ", shape.size(), " exceeds the maximum ", kMaxTensorRank);
  uint64_t n = 1;
  for (uint64_t d : shape)
    if (__builtin_mul_overflow(n, d, &n))
      fail(status, "tensor '", name, "': shape ", shape_string(shape), " has more elements than 64 bits can count");
  if (dtype_quantized(dtype) && shape.size() != 2)
    fail(status, "tensor '", name, "': ", dtype_name(dtype), " is for 2-D weight matrices, but the shape is ",
         shape_string(shape));
  const std::optional<uint64_t> bytes = tensor_bytes(dtype, shape);
  if (!bytes)
    fail(status, "tensor '", name, "': shape ", shape_string(shape), " in ", dtype_name(dtype),
         " has more bytes than 64 bits can count");
  return *bytes;
}

namespace {

// At least this many tensors for `config`, counted without naming them: a small
// manifest whose config asks for millions of experts is refused before tensor_specs
// builds millions of names.
uint64_t min_tensor_count(const ModelConfig& config) {
  uint64_t n = 1;  // embed.weight
  for (const LayerConfig& l : config.layers) {
    if (l.has_mamba()) {
      n += 8;  // in_proj, conv1d, x_proj, dt_proj (+bias), A_log, D, out_proj
      for (const auto* e : {&l.mamba.x_proj_experts, &l.mamba.z_proj_experts, &l.mamba.out_proj_experts})
        if (*e) n += (*e)->n_experts;  // one weight per expert
    }
    if (l.has_moe()) n += 1 + 2ull * (uint64_t(l.moe.n_experts) + l.moe.n_shared);  // router, w1, w2
    if (l.kind == LayerKind::MLP) n += 2;                                           // w1, w2
  }
  return n;
}

}  // namespace

void check_tensor_set(const ModelConfig& config, const std::vector<TensorView>& tensors, mmb_status status) {
  const uint64_t at_least = min_tensor_count(config);
  if (tensors.size() < at_least)
    fail(status, "the config requires at least ", at_least, " tensors, but there are ", tensors.size());
  std::unordered_map<std::string_view, size_t> by_name;
  by_name.reserve(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    auto [it, fresh] = by_name.emplace(tensors[i].name, i);
    if (!fresh) fail(status, "tensor '", tensors[i].name, "' appears twice (entries ", it->second, " and ", i, ")");
  }
  const std::vector<TensorSpec> specs = tensor_specs(config);
  std::unordered_set<std::string_view> required;
  required.reserve(specs.size());
  for (const TensorSpec& s : specs) required.insert(s.name);
  for (const TensorView& t : tensors)
    if (!required.count(t.name)) fail(status, "tensor '", t.name, "' is not part of this model's config");
  for (const TensorSpec& s : specs) {
    auto it = by_name.find(s.name);
    if (it == by_name.end())
      fail(status, "tensor '", s.name, "' is missing (the config requires shape ", shape_string(s.shape), ")");
    const TensorView& t = tensors[it->second];
    bool ok = t.shape.size() == s.shape.size();
    for (size_t d = 0; ok && d < s.shape.size(); ++d)
      ok = (d == 0 && s.min_rows) ? t.shape[d] >= s.shape[d] : t.shape[d] == s.shape[d];
    if (!ok)
      fail(status, "tensor '", s.name, "': shape ", shape_string(t.shape), " disagrees with the config, which implies ",
           shape_string(s.shape), s.min_rows ? " (or more rows)" : "");
    if (dtype_quantized(t.dtype) && !s.quantizable)
      fail(status, "tensor '", s.name, "': dtype ", dtype_name(t.dtype), " is only for weight matrices (projections, experts, routers, ",
           "embedding, head); this tensor must be f32, f16 or bf16");
  }
}

}  // namespace mmb
