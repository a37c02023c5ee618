#include "checkpoint.hpp"

#include "base/error.hpp"
#include "base/tensor_values.hpp"
#include "bundle/tensor_table.hpp"
#include "hf_falcon_mamba_config.hpp"
#include "hf_granite_hybrid_config.hpp"
#include "hf_jamba_config.hpp"
#include "hf_mamba2_config.hpp"
#include "hf_mamba_config.hpp"
#include "hf_nemotron_h_config.hpp"
#include "json_fields.hpp"
#include "native_config.hpp"
#include "packed_dtype.hpp"
#include "tensor_slice.hpp"

#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <set>

namespace mmb {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// "a, b, c and 5 more", for messages about many tensors.
std::string name_list(const std::vector<std::string>& names) {
  constexpr size_t kShown = 6;
  std::string s;
  for (size_t i = 0; i < names.size() && i < kShown; ++i) s += cat(i ? ", " : "", names[i]);
  if (names.size() > kShown) s += cat(" and ", names.size() - kShown, " more");
  return s;
}

struct Inputs {
  std::string config_path;
  std::string weights_path;
  bool sharded = false;
};

Inputs locate(const std::string& input) {
  std::error_code ec;
  const fs::path path(input);
  if (fs::is_directory(path, ec)) {
    const fs::path single = path / "model.safetensors", index = path / "model.safetensors.index.json";
    const bool has_single = fs::exists(single, ec), has_index = fs::exists(index, ec);
    if (has_single && has_index)
      fail(MMB_ERR_INVALID_ARGUMENT, input, ": holds both model.safetensors and model.safetensors.index.json; name the one to pack");
    if (!has_single && !has_index) fail(MMB_ERR_IO, input, ": holds neither model.safetensors nor model.safetensors.index.json");
    return {(path / "config.json").string(), (has_single ? single : index).string(), has_index};
  }
  if (!fs::exists(path, ec)) fail(MMB_ERR_IO, input, ": no such file or directory");
  const std::string config = (path.parent_path() / "config.json").string();
  if (ends_with(input, ".safetensors.index.json")) return {config, input, true};
  if (ends_with(input, ".safetensors")) return {config, input, false};
  fail(MMB_ERR_INVALID_ARGUMENT, input, ": expected a checkpoint directory, a .safetensors file or a .safetensors.index.json file");
}

// The names a native tensor may have in the checkpoint, preferred first; a name may denote
// part of a checkpoint tensor (tensor_slice.hpp).
using TensorNames = std::function<std::vector<std::string>(const std::string& native)>;

std::vector<std::string> native_tensor_names(const std::string& native) { return {native}; }

// What config.json says: the model, and how its tensors are named in this dialect.
struct Plan {
  std::string dialect;
  ModelConfig config;
  TensorNames names = native_tensor_names;
  std::string tokenizer;
  std::vector<std::pair<std::string, std::string>> metadata;
};

Plan plan_for(const json& config, const std::string& what) {
  if (!config.is_object()) fail(MMB_ERR_FORMAT, what, ": expected an object, got ", json_type_name(config));
  if (config.contains("format")) {
    NativeConfig native = parse_native_config(config, what);
    return {"moemamba", std::move(native.model), native_tensor_names, std::move(native.tokenizer), std::move(native.metadata)};
  }
  if (config.contains("model_type")) {
    const json& type = config.at("model_type");
    if (!type.is_string()) fail(MMB_ERR_FORMAT, what, ".model_type: expected a string, got ", json_type_name(type));
    const std::string model_type = type.get<std::string>();
    if (model_type == "mamba") return {"hf-mamba", parse_hf_mamba_config(config, what), hf_mamba_tensor_names, "", {}};
    if (model_type == "mamba2") return {"hf-mamba2", parse_hf_mamba2_config(config, what), hf_mamba_tensor_names, "", {}};
    if (model_type == "falcon_mamba")
      return {"hf-falcon-mamba", parse_hf_falcon_mamba_config(config, what), hf_mamba_tensor_names, "", {}};
    if (model_type == "jamba") return {"hf-jamba", parse_hf_jamba_config(config, what), hf_jamba_tensor_names, "", {}};
    if (model_type == "nemotron_h")
      return {"hf-nemotron-h", parse_hf_nemotron_h_config(config, what), hf_nemotron_h_tensor_names, "", {}};
    if (model_type == "granitemoehybrid") {
      ModelConfig c = parse_hf_granite_hybrid_config(config, what);
      TensorNames names = [c](const std::string& native) { return hf_granite_hybrid_tensor_names(native, c); };
      return {"hf-granite-hybrid", std::move(c), std::move(names), "", {}};
    }
    fail(MMB_ERR_UNSUPPORTED, what, ": model_type \"", model_type,
         "\" is not supported (pack reads \"mamba\", \"mamba2\", \"falcon_mamba\", \"granitemoehybrid\", \"jamba\", "
         "\"nemotron_h\", mamba_ssm's config and the native \"format\": \"moemamba\")");
  }
  if (config.contains("d_model") && config.contains("n_layer"))
    return {"mamba_ssm", parse_mamba_ssm_config(config, what), hf_mamba_tensor_names, "", {}};
  fail(MMB_ERR_FORMAT, what, ": cannot tell the checkpoint's dialect: expected \"format\": \"moemamba\", "
       "\"model_type\": \"mamba\" / \"mamba2\" / \"falcon_mamba\" / \"granitemoehybrid\" / \"jamba\" / \"nemotron_h\", "
       "or mamba_ssm's \"d_model\" and \"n_layer\"");
}

float read_element(const std::byte* p, SafetensorsDType t) {
  switch (t) {
    case SafetensorsDType::F32: { float f; std::memcpy(&f, p, 4); return f; }
    case SafetensorsDType::F64: { double d; std::memcpy(&d, p, 8); return float(d); }
    case SafetensorsDType::F16: { uint16_t h; std::memcpy(&h, p, 2); return f16_to_f32(h); }
    case SafetensorsDType::BF16: { uint16_t h; std::memcpy(&h, p, 2); return bf16_to_f32(h); }
  }
  return 0.0f;
}

std::optional<DType> same_dtype(SafetensorsDType t) {
  switch (t) {
    case SafetensorsDType::F32: return DType::F32;
    case SafetensorsDType::F16: return DType::F16;
    case SafetensorsDType::BF16: return DType::BF16;
    default: return std::nullopt;
  }
}

// Equal values, whatever the two dtypes (NaNs compare equal to NaNs).
bool same_values(const SafetensorsTensor& a, const SafetensorsTensor& b) {
  if (a.shape != b.shape) return false;
  if (a.dtype == b.dtype) return a.data.empty() || std::memcmp(a.data.data(), b.data.data(), a.data.size()) == 0;
  const size_t sa = safetensors_dtype_size(a.dtype), sb = safetensors_dtype_size(b.dtype);
  for (uint64_t i = 0, n = a.elements(); i < n; ++i) {
    const float x = read_element(a.data.data() + i * sa, a.dtype), y = read_element(b.data.data() + i * sb, b.dtype);
    if (x != y && !(x != x && y != y)) return false;
  }
  return true;
}

bool shape_fits(const TensorSpec& spec, const std::vector<uint64_t>& shape) {
  if (shape.size() != spec.shape.size()) return false;
  for (size_t i = 0; i < shape.size(); ++i) {
    const bool padded_rows = i == 0 && spec.min_rows;
    if (padded_rows ? shape[i] < spec.shape[i] : shape[i] != spec.shape[i]) return false;
  }
  return true;
}

std::string spec_shape(const TensorSpec& spec) {
  std::string s = shape_string(spec.shape);
  return spec.min_rows ? cat("[at least ", s.substr(1)) : s;
}

struct Match {
  const TensorSpec* spec;
  SafetensorsTensor tensor;  // a whole tensor of the files, or part of one
  const SafetensorsFile* file;
};

// The tensor a name denotes: a whole one, or part of one (tensor_slice.hpp).
struct Found {
  SafetensorsTensor tensor;
  const SafetensorsSet::Entry* source;
  bool part = false;
};

std::optional<Found> find_tensor(const SafetensorsSet& files, const std::string& name) {
  if (const SafetensorsSet::Entry* e = files.find(name)) return Found{*e->tensor, e};
  const std::optional<TensorSlice> slice = parse_sliced_name(name);
  if (!slice) return std::nullopt;
  const SafetensorsSet::Entry* e = files.find(slice->source);
  if (!e) return std::nullopt;
  return Found{slice_tensor(*e->tensor, *slice, e->file->path()), e, true};
}

// Pairs every tensor the config implies with one in the files; anything missing,
// misshapen or left over is an error.
std::vector<Match> match_tensors(const Plan& plan, const std::vector<TensorSpec>& specs, const SafetensorsSet& files,
                                 const std::string& config_what) {
  std::vector<Match> matches;
  std::vector<std::string> missing;
  std::set<std::string> used;
  std::map<const SafetensorsSet::Entry*, std::vector<std::span<const std::byte>>> parts;  // of each sliced source
  for (const TensorSpec& spec : specs) {
    const std::vector<std::string> names = plan.names(spec.name);
    std::optional<Found> found;
    for (const std::string& name : names) {
      std::optional<Found> f = find_tensor(files, name);
      if (!f) continue;
      if (found) fail(MMB_ERR_FORMAT, files.what(), ": holds both '", found->tensor.name, "' and '", name, "' for ", spec.name);
      found = std::move(f);
    }
    if (!found) {
      std::string alternatives;
      for (const std::string& name : names) alternatives += cat(alternatives.empty() ? "" : " or ", name);
      missing.push_back(alternatives);
      continue;
    }
    const SafetensorsTensor& t = found->tensor;
    const SafetensorsFile* file = found->source->file;
    if (!shape_fits(spec, t.shape))
      fail(MMB_ERR_FORMAT, file->path(), ": tensor '", t.name, "' has shape ", shape_string(t.shape), " but ",
           config_what, " implies ", spec_shape(spec), t.name == spec.name ? "" : cat(" (", spec.name, ")"));
    used.insert(found->source->tensor->name);
    if (found->part) parts[found->source].push_back(t.data);
    matches.push_back({&spec, std::move(found->tensor), file});
  }
  if (!missing.empty())
    fail(MMB_ERR_FORMAT, files.what(), ": missing ", missing.size(), " tensor(s) that ", config_what, " implies: ", name_list(missing));
  for (const auto& [source, spans] : parts) check_parts_tile(*source->tensor, spans, source->file->path());

  // A tied model saved with its head: harmless when the head is the embedding.
  if (plan.config.tie_embeddings) {
    const SafetensorsTensor& embed = matches.front().tensor;  // tensor_specs starts with embed.weight
    for (const std::string& name : plan.names("lm_head.weight")) {
      const SafetensorsSet::Entry* head = files.find(name);
      if (!head) continue;
      if (!same_values(*head->tensor, embed))
        fail(MMB_ERR_FORMAT, head->file->path(), ": tensor '", name, "' differs from the embedding '", embed.name, "' but ",
             config_what, " ties them (untie them there to keep both)");
      used.insert(name);
    }
  }

  std::vector<std::string> extra;
  for (const auto& [name, entry] : files.entries())
    if (!used.count(name)) extra.push_back(name);
  if (!extra.empty())
    fail(MMB_ERR_FORMAT, files.what(), ": ", extra.size(), " tensor(s) that ", config_what, " does not imply: ", name_list(extra));
  return matches;
}

std::string tokenizer_for(const Plan& plan, const fs::path& dir, const std::string& config_what) {
  if (plan.tokenizer == "bytes") return "";
  std::error_code ec;
  if (!plan.tokenizer.empty()) {
    const fs::path path = dir / plan.tokenizer;
    if (!fs::is_regular_file(path, ec)) fail(MMB_ERR_IO, config_what, ": tokenizer file ", path.string(), " does not exist");
    return path.string();
  }
  const fs::path beside = dir / "tokenizer.json";
  return fs::is_regular_file(beside, ec) ? beside.string() : "";
}

}  // namespace

Checkpoint load_checkpoint(const std::string& input, const CheckpointOptions& options) {
  const Inputs inputs = locate(input);
  // Python's json writes bare Infinity (transformers' Mamba-2 time_step_limit).
  const json config_json =
      parse_json_strict(with_python_floats_spelled_out(read_text_file(inputs.config_path)), inputs.config_path);
  Plan plan = plan_for(config_json, inputs.config_path);

  Checkpoint ck;
  ck.dialect = plan.dialect;
  ck.config = plan.config;
  ck.metadata = plan.metadata;
  ck.tokenizer_path = tokenizer_for(plan, fs::path(inputs.config_path).parent_path(), inputs.config_path);
  ck.files.emplace(inputs.sharded ? SafetensorsSet::open_index(inputs.weights_path) : SafetensorsSet::open_file(inputs.weights_path));
  ck.input_bytes = ck.files->total_bytes();

  const std::vector<TensorSpec> specs = tensor_specs(ck.config);
  const std::vector<Match> matches = match_tensors(plan, specs, *ck.files, inputs.config_path);

  DType weights = DType::F32;
  if (options.dtype) {
    weights = *options.dtype;
  } else {
    // The checkpoint's own dtype, judged on the tensors that follow it (not those kept f32,
    // which checkpoints often ship f32 beside 16-bit weights).
    std::set<SafetensorsDType> seen;
    for (const Match& m : matches)
      if (!keeps_f32(m.spec->name)) seen.insert(m.tensor.dtype);
    if (seen.size() == 1 && same_dtype(*seen.begin())) weights = *same_dtype(*seen.begin());
  }

  uint64_t progress_done = 0, progress_total = 0;
  for (const Match& m : matches) progress_total += m.tensor.data.size();
  report_progress(options.progress, 0, progress_total, "reading the checkpoint");
  for (const Match& m : matches) {
    const SafetensorsTensor& t = m.tensor;
    CheckpointTensor out;
    out.name = m.spec->name;
    out.source = cat(m.file->path(), ": ", t.name);
    out.dtype = packed_dtype(*m.spec, weights);
    out.shape = t.shape;
    if (same_dtype(t.dtype) == out.dtype) {
      out.data = t.data;
    } else {
      std::vector<float> values(t.elements());
      const size_t from = safetensors_dtype_size(t.dtype);
      for (uint64_t i = 0; i < values.size(); ++i) values[i] = read_element(t.data.data() + i * from, t.dtype);
      try {
        out.data = ck.converted.emplace_back(encode_values(values, out.dtype, out.shape));
      } catch (const Error& e) {
        fail(MMB_ERR_UNSUPPORTED, out.source, ": ", e.what());
      }
    }
    ck.tensors.push_back(std::move(out));
    progress_done += t.data.size();
    report_progress(options.progress, progress_done, progress_total, "reading the checkpoint");
  }
  return ck;
}

}  // namespace mmb
