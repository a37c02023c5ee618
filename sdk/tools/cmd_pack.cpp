// mmb pack: a safetensors checkpoint (native, Hugging Face or mamba_ssm) into a
// .mmb bundle. The work is in lib/pack.cpp; this file reads the command line.
#include "command.hpp"

#include "pack_command_line.hpp"

#include <cstdio>

namespace {

constexpr const char* kUsage =
    "usage: mmb pack INPUT -o OUT.mmb [--dtype f32|f16|bf16|q8|q4] [--codec none|zstd|shuffle-zstd]\n"
    "                [--level N] [--threads N] [--tokenizer tokenizer.json] [--chat-template [NAME=]FILE]...\n"
    "                [--meta key=value]... [--quiet]\n"
    "\n"
    "INPUT is a directory with config.json and model.safetensors (or a sharded\n"
    "model.safetensors.index.json), or one of those files with config.json beside it.\n"
    "config.json is the native format (\"format\": \"moemamba\"), Hugging Face's\n"
    "MambaForCausalLM, Mamba2ForCausalLM, FalconMambaForCausalLM, JambaForCausalLM,\n"
    "GraniteMoeHybridForCausalLM or NemotronHForCausalLM (\"model_type\": \"mamba\",\n"
    "\"mamba2\", \"falcon_mamba\", \"jamba\", \"granitemoehybrid\", \"nemotron_h\") or\n"
    "mamba_ssm's. INPUT may also be a bundle (*.mmb), written again with these options\n"
    "(its tokenizer and metadata kept).\n"
    "  -o, --output PATH   the bundle to write\n"
    "  --dtype T           dtype of the weights; default: the checkpoint's own if all tensors\n"
    "                      share f32, f16 or bf16, else f32. A_log, D, dt_proj.bias, dt_bias and\n"
    "                      routers' sel_bias stay f32.\n"
    "                      q8: int8 matrices with a scale per 32 values; routers, norms,\n"
    "                      biases and the conv kernel f32 (docs/packing.md).\n"
    "                      q4: 4-bit matrices with a scale per 32 values; the same tensors\n"
    "                      stay f32 as with q8.\n"
    "  --codec C           tensor codec (default none: tensors are used in place from the map)\n"
    "  --level N           zstd level, 1 to 22 (default 3)\n"
    "  --threads N         compression threads (default: all cores; same bytes for any N)\n"
    "  --tokenizer PATH    tokenizer.json (with special_tokens_map.json, tokenizer_config.json and\n"
    "                      generation_config.json beside it, when present); default: one beside\n"
    "                      config.json, else bytes\n"
    "  --chat-template [NAME=]FILE  a Jinja chat template to store as NAME (default: \"default\",\n"
    "                      the main one), replacing the tokenizer_config.json's of that name;\n"
    "                      repeatable. Every template is checked at pack time.\n"
    "  --meta key=value    metadata stored in the bundle (repeatable)\n"
    "  --quiet             no progress on stderr (by default a bar on a terminal, else a\n"
    "                      line every 10% of a long step)\n";

int run_pack(const std::vector<std::string>& args) {
  const mmb::cli::PackCommandLine c = mmb::cli::parse_pack_command_line(args, "pack");
  if (c.help) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  const mmb::PackSummary s = mmb::cli::pack_with_progress(c, c.input, "pack");
  std::fputs(mmb::cli::pack_summary_line(c.output, s).c_str(), stdout);
  return 0;
}

mmb::cli::RegisterCommand reg("pack", "pack a safetensors checkpoint (native, Hugging Face, mamba_ssm) or a bundle into a bundle", run_pack);

}  // namespace
