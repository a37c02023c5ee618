// C entry points of the sampler (moemamba.h section 6).
#include "api/api_guard.hpp"
#include "api/api_objects.hpp"

#include <cstring>

namespace {

mmb_sampler_params default_sampler_params() {
  mmb_sampler_params p;
  std::memset(&p, 0, sizeof p);
  p.struct_size = sizeof p;
  p.temperature = 0.8f;
  p.top_k = 40;
  p.top_p = 0.95f;
  p.min_p = 0.05f;
  p.repetition_penalty = 1.0f;
  p.presence_penalty = 0.0f;
  p.frequency_penalty = 0.0f;
  p.penalty_window = 64;
  p.seed = 0;
  return p;
}

}  // namespace

extern "C" {

MMB_API void mmb_sampler_params_init(mmb_sampler_params* params) {
  if (params) *params = default_sampler_params();
}

MMB_API mmb_status mmb_sampler_create(const mmb_sampler_params* params, mmb_sampler** out) {
  return mmb::api::guard([&] {
    mmb::api::require(out, "out");
    mmb_sampler_params p = default_sampler_params();
    if (params) {
      mmb::api::check_struct_size(params->struct_size, sizeof(mmb_sampler_params), sizeof(mmb_sampler_params),
                                  "params");
      // Fields an older, smaller struct lacks keep their defaults.
      std::memcpy(&p, params, params->struct_size);
      p.struct_size = sizeof p;
    }
    *out = new mmb_sampler{mmb::Sampler(p)};
  });
}

MMB_API void mmb_sampler_destroy(mmb_sampler* sampler) { delete sampler; }

MMB_API mmb_status mmb_sampler_reset(mmb_sampler* sampler) {
  return mmb::api::guard([&] {
    mmb::api::require(sampler, "sampler");
    sampler->impl.reset();
  });
}

MMB_API mmb_status mmb_sampler_accept(mmb_sampler* sampler, int32_t token) {
  return mmb::api::guard([&] {
    mmb::api::require(sampler, "sampler");
    sampler->impl.accept(token);
  });
}

MMB_API mmb_status mmb_sampler_sample(mmb_sampler* sampler, const float* logits, size_t n, int32_t* token) {
  return mmb::api::guard([&] {
    mmb::api::require(sampler, "sampler");
    mmb::api::require(logits, "logits");
    mmb::api::require(token, "token");
    *token = sampler->impl.sample(logits, n);
  });
}

}  // extern "C"
