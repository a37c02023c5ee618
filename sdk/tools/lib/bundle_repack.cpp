#include "bundle_repack.hpp"

#include "packed_dtype.hpp"

#include "base/error.hpp"
#include "base/tensor_values.hpp"

#include <unordered_map>

namespace mmb {

RepackedBundle repack_bundle(const LoadedBundle& bundle, std::optional<DType> weights, ProgressFn* progress) {
  RepackedBundle r;
  r.contents.config = bundle.config();
  r.contents.tokenizer = bundle.tokenizer();
  r.contents.metadata = bundle.metadata();
  const std::vector<TensorSpec> specs = tensor_specs(bundle.config());
  std::unordered_map<std::string, const TensorSpec*> spec_of;
  for (const TensorSpec& s : specs) spec_of.emplace(s.name, &s);
  r.storage.reserve(bundle.tensors().size());
  uint64_t progress_done = 0, progress_total = 0;
  for (const TensorView& t : bundle.tensors()) progress_total += t.raw_size;
  report_progress(progress, 0, progress_total, "converting the bundle");
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
    progress_done += t.raw_size;
    report_progress(progress, progress_done, progress_total, "converting the bundle");
  }
  return r;
}

}  // namespace mmb
