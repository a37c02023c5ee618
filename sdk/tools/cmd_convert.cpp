// mmb convert: a published checkpoint, as it is downloaded, into a .mmb bundle.
// Safetensors go straight to pack (lib/pack.cpp); PyTorch pickles are first turned into
// safetensors + config.json by the authoring kit's converter (kit_converter.hpp).
#include "command.hpp"

#include "base/error.hpp"
#include "kit_converter.hpp"
#include "pack_command_line.hpp"
#include "temp_folder.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

namespace {

namespace fs = std::filesystem;

constexpr const char* kUsage =
    "usage: mmb convert INPUT -o OUT.mmb [--keep-converted DIR] [pack options]\n"
    "\n"
    "INPUT is a checkpoint directory (config.json beside model.safetensors, pytorch_model.bin\n"
    "or a *.pt / *.pth / *.bin file) or the checkpoint file itself. Families: Hugging Face\n"
    "MambaForCausalLM, Mamba2ForCausalLM and FalconMambaForCausalLM, mamba_ssm (Mamba1 and\n"
    "Mamba2), Zyphra BlackMamba, llm-random MoE-Mamba, the native dialect, and, as\n"
    "safetensors only, JambaForCausalLM (\"jamba\"), GraniteMoeHybridForCausalLM (Granite\n"
    "4.0 H, \"granitemoehybrid\") and NemotronHForCausalLM (\"nemotron_h\")\n"
    "(docs/converting.md). Safetensors are packed directly; pickles are read by\n"
    "`python3 -m moemamba_kit.convert` (weights_only: no code in the pickle runs), which\n"
    "needs Python with PyTorch ($MMB_PYTHON, default /usr/bin/python3) and the kit\n"
    "($MMB_KIT_PATH, default: found beside mmb).\n"
    "  -o, --output PATH        the bundle to write\n"
    "  --keep-converted DIR     keep the converted safetensors + config.json in DIR\n"
    "  --dtype, --codec, --level, --threads, --tokenizer, --chat-template, --meta, --quiet\n"
    "                      as for `mmb pack`\n";

bool is_safetensors_input(const fs::path& input) {
  std::error_code ec;
  if (fs::is_directory(input, ec))
    return fs::is_regular_file(input / "model.safetensors", ec) || fs::is_regular_file(input / "model.safetensors.index.json", ec);
  const std::string name = input.filename().string();
  auto ends = [&](const std::string& s) { return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0; };
  return ends(".safetensors") || ends(".safetensors.index.json");
}

// A fresh folder under the system temp dir, removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "mmb-convert-XXXXXX").string();
    if (!mmb::cli::make_temp_folder(pattern.data())) mmb::fail(MMB_ERR_IO, "cannot create a temporary folder in ", fs::temp_directory_path().string());
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

int run_convert(const std::vector<std::string>& args) {
  std::string keep;
  const mmb::cli::PackCommandLine c =
      mmb::cli::parse_pack_command_line(args, "convert", {{"--keep-converted", [&](const std::string& v) { keep = v; }}});
  if (c.help) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  std::error_code ec;
  if (!fs::exists(c.input, ec)) mmb::fail(MMB_ERR_IO, c.input, ": no such file or directory");
  if (is_safetensors_input(c.input)) {
    const mmb::PackSummary s = mmb::cli::pack_with_progress(c, c.input, "convert");
    std::fputs(mmb::cli::pack_summary_line(c.output, s).c_str(), stdout);
    return 0;
  }
  std::optional<TempDir> temp;
  if (keep.empty()) temp.emplace();
  const std::string converted = keep.empty() ? temp->path() : keep;
  std::string report = mmb::cli::run_kit_converter(c.input, converted);
  if (temp && report.rfind(" -> ") != std::string::npos) report.resize(report.rfind(" -> "));  // a folder about to vanish
  std::printf("%s\n", report.c_str());
  const mmb::PackSummary s = mmb::cli::pack_with_progress(c, converted, "convert");
  std::fputs(mmb::cli::pack_summary_line(c.output, s).c_str(), stdout);
  return 0;
}

mmb::cli::RegisterCommand reg("convert", "convert a published checkpoint (HF Mamba families and hybrids, mamba_ssm, BlackMamba, llm-random) into a bundle",
                              run_convert);

}  // namespace
