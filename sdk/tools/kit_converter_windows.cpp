#ifdef _WIN32
#include "kit_converter.hpp"

#include "base/error.hpp"

namespace mmb::cli {

// The authoring kit is a PyTorch program run on Linux: a Windows mmb packs bundles and
// native checkpoints, and converts from other formats only where the kit runs.
std::string run_kit_converter(const std::string&, const std::string&) {
  fail(MMB_ERR_UNSUPPORTED, "converting with the authoring kit (moemamba_kit) is not available in the Windows mmb: "
       "convert on Linux, or pack a native checkpoint");
}

}  // namespace mmb::cli
#endif
