#include "hf_falcon_mamba_config.hpp"

#include "hf_mamba_config.hpp"
#include "json_fields.hpp"

namespace mmb {

ModelConfig parse_hf_falcon_mamba_config(const nlohmann::json& config, const std::string& what) {
  HfMambaDefaults defaults;
  defaults.use_bias = false;
  ModelConfig c = parse_hf_mamba_family_config(config, what, defaults);
  JsonFields f(config, what);
  // rms_forward(B / C / time_step, variance_epsilon=config.mixer_rms_eps) in FalconMambaMixer.
  const float eps = float(f.number("mixer_rms_eps", 0.0, 1.0, 1e-6));
  for (LayerConfig& l : c.layers) {
    l.mamba.dt_bc_norm = InnerNorm::RMS;
    l.mamba.dt_bc_norm_eps = eps;
  }
  return validated_config(std::move(c), what);
}

}  // namespace mmb
