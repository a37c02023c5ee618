// Running the authoring kit's checkpoint converter (`python3 -m moemamba_kit.convert`)
// from the CLI, for checkpoints only PyTorch can read (pickles).
//
// Python: $MMB_PYTHON, else /usr/bin/python3. The kit (the folder holding
// moemamba_kit/): $MMB_KIT_PATH, else sdk/python or share/moemamba/python found in the
// mmb executable's folder or one of its parents (a build tree or an install prefix).
#pragma once

#include <string>

namespace mmb::cli {

// Converts `input` (a checkpoint directory or file) into `out_dir` (model.safetensors +
// config.json). Returns the converter's one-line report. Throws mmb::Error:
// MMB_ERR_UNSUPPORTED when Python, PyTorch or the kit cannot be found (the message says
// which and how to fix it), MMB_ERR_FORMAT with the converter's message when the
// checkpoint cannot be converted, MMB_ERR_INTERNAL when the converter fails otherwise.
std::string run_kit_converter(const std::string& input, const std::string& out_dir);

}  // namespace mmb::cli
