// A safetensors checkpoint read as a native model: its ModelConfig and every tensor
// under its native name (DESIGN.md section 5), ready for the bundle writer.
//
// Input: a directory holding config.json and model.safetensors (or a sharded
// model.safetensors.index.json), a .safetensors file, or a .safetensors.index.json
// file; config.json is looked for beside it. The dialect follows from config.json:
//   "format": "moemamba"   the native dialect (native_config.hpp)
//   "model_type": "mamba"  Hugging Face MambaForCausalLM (hf_mamba_config.hpp)
//   "model_type": "mamba2" Hugging Face Mamba2ForCausalLM (hf_mamba2_config.hpp)
//   "model_type": "falcon_mamba"  Hugging Face FalconMambaForCausalLM (hf_falcon_mamba_config.hpp)
//   "model_type": "jamba"  Hugging Face JambaForCausalLM (hf_jamba_config.hpp)
//   "model_type": "granitemoehybrid"  Granite 4.0 H, GraniteMoeHybridForCausalLM (hf_granite_hybrid_config.hpp)
//   "model_type": "nemotron_h"  NVIDIA NemotronHForCausalLM (hf_nemotron_h_config.hpp)
//   "d_model" + "n_layer"  mamba_ssm's MambaLMHeadModel, Mamba1 or Mamba2 (hf_mamba_config.hpp)
// The checkpoint must hold exactly the tensors the config implies, with their shapes
// (embedding and head rows may exceed vocab_size: padded rows are kept). A tied model
// may also hold the head; its values must then equal the embedding's, and it is dropped.
//
// dtypes: packed_dtype.hpp's rule, for weights of CheckpointOptions::dtype or, without
// one, the checkpoint's own dtype when all of them (but the tensors keeps_f32 names: A_log,
// D, dt_proj.bias, dt_bias, router.sel_bias) share one of f32/f16/bf16, else f32 (F64 is
// narrowed to f32). Rounding is to nearest even; q8 quantizes (base/q8.hpp). Tensors whose
// dtype does not change point into the mapped files, the rest into buffers the Checkpoint
// owns.
#pragma once

#include "base/dtype.hpp"
#include "base/progress.hpp"
#include "model/model_config.hpp"
#include "safetensors_set.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace mmb {

struct CheckpointTensor {
  std::string name;    // native name
  std::string source;  // where the values came from, for messages: "dir/model.safetensors: backbone.norm_f.weight"
  DType dtype = DType::F32;
  std::vector<uint64_t> shape;
  std::span<const std::byte> data;
};

struct CheckpointOptions {
  std::optional<DType> dtype;  // dtype of the weights (see above); none: keep the checkpoint's
  // Progress in bytes of the checkpoint's tensors (as stored in its files), after each
  // tensor is mapped or converted: first 0, last the total. Returning false cancels
  // (MMB_ERR_CANCELLED).
  ProgressFn* progress = nullptr;
};

struct Checkpoint {
  std::string dialect;  // "moemamba", "hf-mamba", "hf-mamba2", "hf-falcon-mamba" or "mamba_ssm"
  ModelConfig config;
  std::vector<CheckpointTensor> tensors;  // exactly tensor_specs(config), in its order
  // tokenizer.json to pack: the native config's "tokenizer" file, else a tokenizer.json
  // beside config.json; empty when there is none (or the config says "bytes").
  std::string tokenizer_path;
  std::vector<std::pair<std::string, std::string>> metadata;  // the native config's "metadata"
  uint64_t input_bytes = 0;  // size of the safetensors files read

  // What the tensors point into.
  std::optional<SafetensorsSet> files;
  std::vector<std::vector<std::byte>> converted;
};

// Throws mmb::Error: MMB_ERR_IO for files that cannot be read, MMB_ERR_UNSUPPORTED for
// models or dtypes pack cannot represent (a NaN or Inf weight packed as q8 too), MMB_ERR_FORMAT for everything malformed or
// inconsistent; each message names the file, the tensor or the field.
Checkpoint load_checkpoint(const std::string& input, const CheckpointOptions& options = {});

}  // namespace mmb
