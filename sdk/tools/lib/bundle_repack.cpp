#include "bundle_repack.hpp"

#include "packed_dtype.hpp"

#include "base/error.hpp"
#include "base/tensor_values.hpp"

#include <unordered_map>

namespace mmb {

RepackedBundle repack_bundle(const LoadedBundle& bundle, std::optional<DType> weights) {
  RepackedBundle r;
  r.contents.config = bundle.config();
  r.contents.tokenizer = bundle.tokenizer();
  r.contents.metadata = bundle.metadata();
  const std::vector<TensorSpec> specs = tensor_specs(bundle.config());
  std::unordered_map<std::string, const TensorSpec*> spec_of;
  for (const TensorSpec& s : specs) spec_of.emplace(s.name, &s);
  r.storage.reserve(bundle.tensors().size());
  for (const TensorView& t : bundle.tensors()) {
    const DType dtype = weights ? packed_dtype(*spec_of.at(t.name), *weights) : t.dtype;
    std::span<const std::byte> data(t.data, size_t(t.raw_size));
    if (dtype != t.dtype) {
      try {
        data = r.storage.emplace_back(encode_values(decode_values(data, t.dtype, t.shape), dtype, t.shape));
      } catch (const Error& e) {
        fail(MMB_ERR_UNSUPPORTED, "tensor '", t.name, "': ", e.what());
      }
    }
    r.contents.tensors.push_back({t.name, dtype, t.shape, data});
  }
  return r;
}

}  // namespace mmb
